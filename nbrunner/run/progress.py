"""What the scheduler's log shows while a notebook runs: one line per cell, and (``--log-output``) its outputs.

Both are engine hooks writing through the caller's :class:`~nbrunner.core.report.Reporter`.
"""

from __future__ import annotations

from typing import Any

from nbrunner.core.hooks import CellHooks
from nbrunner.core.node import Cell
from nbrunner.core.record import first_line
from nbrunner.core.report import Reporter
from nbrunner.core.secret_values import Redactor
from nbrunner.notebook.document import INJECTED_TAG, tags
from nbrunner.status import Status


def cell_label(cell: Cell, width: int = 50) -> str:
    """How a progress line names a cell: its first line of code, never a parameter value."""
    if INJECTED_TAG in tags(cell):
        names = [line.split("=", 1)[0].strip() for line in cell.source.splitlines() if "=" in line]
        return f"(injected parameters: {', '.join(names)})"[:width]
    return first_line(cell.source, width)


class ProgressLines(CellHooks):
    """``[nbrunner] cell 3/12 ok 0.42s In [3] df = ...`` as each code cell ends; and for a terminal's updating line
    (:meth:`Reporter.live`) ``cell 3/12 running 0:04 df = ...`` as it starts and ends (the reporter adds the time)."""

    def __init__(self, reporter: Reporter, total: int):
        self.reporter = reporter
        self.total = total

    def _live(self, index: int, cell: Cell, state: str) -> None:
        self.reporter.live(f"[nbrunner] cell {index}/{self.total - 1} {state} {cell_label(cell)}", state)

    def cell_started(self, index: int, cell: Cell) -> None:
        self._live(index, cell, Status.RUNNING)

    def cell_finished(self, index: int, cell: Cell, status: str, seconds: float) -> None:
        count = cell.get("execution_count")
        label = f"In [{count}]" if count is not None else ""
        self.reporter.progress(
            f"[nbrunner] cell {index}/{self.total - 1} {status} {seconds:.2f}s {label} {cell_label(cell)}"
        )
        self._live(index, cell, status)


class OutputLog(CellHooks):
    """Each line of a cell's outputs as it comes, prefixed with the cell index.

    A stream's text is cut into lines; a carriage-return run (a progress bar) shows only its final state; a last
    line without a newline is held until more text comes or the cell ends, then written, so nothing is lost.
    """

    def __init__(self, reporter: Reporter, redactor: Redactor | None = None):
        self.reporter = reporter
        self.redactor = redactor or Redactor(())
        self.pending: dict[tuple[int, str], str] = {}

    def _line(self, index: int, text: str) -> None:
        from nbconvert.filters.ansi import strip_ansi  # a run has nbconvert imported already (the HTML)

        # redacted whole: a value written in pieces is joined in the line first; colours and cursor codes dropped
        self.reporter.cell_output(index, self.redactor.text(strip_ansi(text.rsplit("\r", 1)[-1])))

    def cell_output(self, index: int, msg: dict[str, Any]) -> None:
        kind = msg.get("msg_type")
        content = msg.get("content", {})
        if kind == "stream":
            key = (index, str(content.get("name", "stdout")))
            text = self.pending.pop(key, "") + str(content.get("text", ""))
            *lines, rest = text.split("\n")
            if rest:
                self.pending[key] = rest
            for line in lines:
                self._line(index, line)
        elif kind in ("execute_result", "display_data"):
            text = content.get("data", {}).get("text/plain")
            for line in str(text or "").splitlines():
                self._line(index, line)
        elif kind == "error":
            for line in "\n".join(content.get("traceback", [])).splitlines():
                self._line(index, line)

    def cell_finished(self, index: int, cell: Cell, status: str, seconds: float) -> None:
        self.flush(index)

    def flush(self, index: int | None = None) -> None:
        """Write the held partial lines (of cell ``index``, or all)."""
        for key in [key for key in self.pending if index is None or key[0] == index]:
            rest = self.pending.pop(key)
            if rest.rsplit("\r", 1)[-1]:
                self._line(key[0], rest)
