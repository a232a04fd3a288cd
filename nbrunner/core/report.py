"""What a run tells its caller while it runs: progress lines, streamed cell outputs, warnings, notices.

The run never prints: it calls a :class:`Reporter` its caller gave it. The command line gives a
:class:`StreamReporter` on stderr; the Python API, unless told otherwise, a :class:`LogReporter` on the
``nbrunner`` logger (Airflow and friends capture logging).
"""

from __future__ import annotations

import logging
import threading
from typing import IO


class Reporter:
    """Says nothing. Subclasses write somewhere; every method is safe to call from any thread."""

    def progress(self, line: str) -> None:
        """One line per cell as it ends (``[nbrunner] cell 3/12 ok 0.42s ...``)."""

    @property
    def wants_outputs(self) -> bool:
        """Whether :meth:`cell_output` is worth calling (cutting outputs into lines costs time on every message)."""
        return False

    def cell_output(self, index: int, line: str) -> None:
        """One line of a cell's output, as it comes (``--log-output``)."""

    def kernel_output(self, index: int | None, line: str) -> None:
        """One line the kernel process wrote to its own stdout or stderr (not through Jupyter's messages: ``!cmd``,
        a C library, a child process), redacted; ``index`` is the cell running then, if any."""

    def warning(self, message: str) -> None:
        """Something the user should know that does not stop the run."""

    def notice(self, message: str) -> None:
        """A fact about the run's outcome: where results were stored, where a local copy is kept, the error."""


class StreamReporter(Reporter):
    """Writes to a text stream (stderr), each line flushed at once; a closed or broken stream is ignored."""

    def __init__(self, stream: IO[str] | None, *, progress: bool = True, log_output: bool = False):
        self.stream = stream
        self.show_progress = progress
        self.log_output = log_output
        self._lock = threading.Lock()

    def _write(self, line: str) -> None:
        if self.stream is None:
            return
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # closed stderr, or a reader gone: the run goes on, the files tell
                self.stream = None

    def progress(self, line: str) -> None:
        if self.show_progress:
            self._write(line)

    @property
    def wants_outputs(self) -> bool:
        return self.log_output

    def cell_output(self, index: int, line: str) -> None:
        if self.log_output:
            self._write(f"[cell {index}] {line}")

    def kernel_output(self, index: int | None, line: str) -> None:
        self._write(f"[cell {index}] {line}" if index is not None else f"[kernel] {line}")

    def warning(self, message: str) -> None:
        self._write(f"nbrunner: warning: {message}")

    def notice(self, message: str) -> None:
        self._write(f"nbrunner: {message}")


class LogReporter(Reporter):
    """Sends everything to a logger: progress and notices at INFO, cell outputs at DEBUG unless asked for."""

    def __init__(self, logger: logging.Logger | None = None, *, log_output: bool = False):
        self.logger = logger or logging.getLogger("nbrunner")
        self.log_output = log_output

    def progress(self, line: str) -> None:
        self.logger.info("%s", line)

    @property
    def wants_outputs(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO if self.log_output else logging.DEBUG)

    def cell_output(self, index: int, line: str) -> None:
        self.logger.log(logging.INFO if self.log_output else logging.DEBUG, "[cell %d] %s", index, line)

    def kernel_output(self, index: int | None, line: str) -> None:
        self.logger.info("[cell %d] %s", index, line) if index is not None else self.logger.info("[kernel] %s", line)

    def warning(self, message: str) -> None:
        self.logger.warning("%s", message)

    def notice(self, message: str) -> None:
        self.logger.info("%s", message)
