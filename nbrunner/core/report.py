"""What a run tells its caller while it runs: progress lines, streamed cell outputs, warnings, notices.

The run never prints: it calls a :class:`Reporter` its caller gave it. The command line gives a
:class:`StreamReporter` on stderr; the Python API, unless told otherwise, a :class:`LogReporter` on the
``nbrunner`` logger (Airflow and friends capture logging).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import IO

from nbrunner.status import Status


class Reporter:
    """Says nothing. Subclasses write somewhere; every method is safe to call from any thread."""

    def progress(self, line: str) -> None:
        """One line per cell as it ends (``[nbrunner] cell 3/12 ok 0.42s ...``)."""

    def live(self, text: str, state: str = "") -> None:
        """The run's state for a terminal's one updating line, as a cell starts and ends: ``text`` holds ``state``
        (running, ok, failed...), which picks its colour and is followed by the time since the first cell started,
        updated each second while a cell runs (``cell 3/12 running 0:04 df = ...``). Says nothing by default: logs
        keep :meth:`progress`."""

    def finish(self) -> None:
        """The run is over: end the updating line, if one is shown."""

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


#: the colour of the updating line's state on a terminal (SGR codes): running, a success, anything else
_COLOURS = {Status.RUNNING.value: "36", Status.OK.value: "32", Status.KEPT.value: "32", Status.SKIPPED.value: "33"}
_FAILED_COLOUR = "31"


def on_terminal(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, OSError, ValueError):
        return False


class StreamReporter(Reporter):
    """Writes to a text stream (stderr), each line flushed at once; a closed or broken stream is ignored.

    On a terminal (``live``: by default when the stream is a TTY) the per-cell lines give way to one line updated in
    place (``\r``), as papermill's progress bar, its state coloured unless ``NO_COLOR`` is set; any other line ends
    it first, so its last state stays above. Anywhere else (a pipe, a file, a scheduler's log) the lines are today's.
    """

    def __init__(self, stream: IO[str] | None, *, progress: bool = True, log_output: bool = False,
                 live: bool | None = None, colour: bool | None = None):  # fmt: skip
        self.stream = stream
        self.show_progress = progress
        self.log_output = log_output
        self.live_line = progress and (on_terminal(stream) if live is None else live)
        self.colour = self.live_line and (not os.environ.get("NO_COLOR") if colour is None else colour)
        self._open = False  # the updating line is shown and not ended
        self._shown = 0  # its length without colour codes
        self._running: str | None = None  # the line of the cell running, redrawn each second
        self._began: float | None = None  # when the first cell started (monotonic)
        self._live_used = False  # live() was called: the per-cell lines give way to the updating line
        self._ticker: threading.Event | None = None  # set: the redrawing thread ends
        self._lock = threading.Lock()

    def _put(self, text: str) -> None:
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # closed stderr, or a reader gone: the run goes on, the files tell
            self.stream = None

    def _write(self, line: str) -> None:
        with self._lock:
            self._put(("\n" if self._open else "") + line + "\n")
            self._open = False

    def progress(self, line: str) -> None:
        if self.show_progress and not (self.live_line and self._live_used):
            self._write(line)  # (a caller that never shows the updating line, several runs at once, keeps these)

    def live(self, text: str, state: str = "") -> None:
        if not self.live_line:
            return
        with self._lock:
            self._live_used = True
            self._began = time.monotonic() if self._began is None else self._began
            self._running = text if state == Status.RUNNING else None
            self._draw(text, state)
            if self._running is not None and self._ticker is None:
                self._ticker = threading.Event()
                threading.Thread(target=self._tick, args=(self._ticker,), name="nbrunner-progress", daemon=True).start()

    def _draw(self, text: str, state: str) -> None:
        """The updating line (the lock held), with the elapsed time after the state."""
        elapsed = int(time.monotonic() - (self._began or time.monotonic()))
        hours, minutes, seconds = elapsed // 3600, elapsed // 60 % 60, elapsed % 60
        clock = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
        if state:
            text = text.replace(f" {state} ", f" {state} {clock} ", 1)
        text = text[: self._columns() - 1]  # a wrapped line could not be updated in place
        shown = len(text)
        if state and self.colour:
            text = text.replace(f" {state} ", f" \x1b[{_COLOURS.get(state, _FAILED_COLOUR)}m{state}\x1b[0m ", 1)
        # without colour no escape code at all: spaces cover what the previous state left
        self._put(f"\r{text}\x1b[K" if self.colour else f"\r{text}{' ' * max(0, self._shown - shown)}")
        self._open, self._shown = True, shown

    def _tick(self, stop: threading.Event) -> None:
        """Each second, the running cell's line again (its elapsed time), while it is the last thing shown."""
        while not stop.wait(1.0):
            with self._lock:
                if self._running is not None and self._open:
                    self._draw(self._running, Status.RUNNING)

    def _columns(self) -> int:
        try:
            return max(20, os.get_terminal_size(self.stream.fileno()).columns)  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            return 80

    def finish(self) -> None:
        with self._lock:
            if self._ticker is not None:
                self._ticker.set()
            self._ticker, self._running, self._began, self._live_used = None, None, None, False
            if self._open:
                self._put("\n")
            self._open = False

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
