"""Stopping a run from outside: SIGTERM / SIGINT, or the Spark driver JVM going away.

Nothing slow happens in the signal handler: it records why the run must stop, starts the quick callbacks (cancel
the Spark jobs) on a thread, interrupts the kernel (the running cell gets KeyboardInterrupt and its traceback lands
in the notebook) and arms a timer that kills the kernel if it has not stopped within ``grace`` seconds. nbclient then
returns or raises, and the run writes the partial notebook as for any other failure, with the stop's exit code.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from nbrunner.errors import NbrunnerError, Stopped

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopGuard:
    """Install with ``with StopGuard() as guard``; move through phases with :meth:`running` / :meth:`finishing`."""

    def __init__(self, *, grace: float = 3.0) -> None:
        self.grace = grace
        self.reason: NbrunnerError | None = None  # why the run must stop, once it must
        self.signum: int | None = None  # the first signal received
        self.phase = "prepare"  # prepare -> run -> finish
        self.kernel_signal: Callable[[int], None] | None = None  # sends a signal to the kernel's process group
        self.on_stop: list[Callable[[], None]] = []  # quick callbacks, e.g. cancel Spark jobs
        self._timer: threading.Timer | None = None
        self._lock = threading.RLock()  # a second signal can arrive while the handler holds it
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopGuard:
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def running(self, kernel_signal: Callable[[int], None]) -> None:
        self.kernel_signal = kernel_signal
        self.phase = "run"

    def finishing(self) -> None:
        self.phase = "finish"
        if self._timer is not None:
            self._timer.cancel()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        if self.phase == "prepare" or (self.phase == "run" and self.kernel_signal is None):
            raise Stopped(signum)
        self.stop(Stopped(signum), kill=False)

    def stop(self, reason: NbrunnerError, *, kill: bool) -> None:
        """Stop the run for ``reason``; safe from a signal handler or any thread. A second call kills the kernel."""
        with self._lock:
            first = self.reason is None
            if first:
                self.reason = reason
            if self.phase != "run" or self.kernel_signal is None:
                return  # the run is over; what it made is being written, then the process exits
            if first:
                for callback in self.on_stop:
                    threading.Thread(target=callback, name="nbrunner-stop", daemon=True).start()
            if first and not kill:
                self.kernel_signal(signal.SIGINT)
                self._timer = threading.Timer(self.grace, self.kernel_signal, args=(signal.SIGKILL,))
                self._timer.daemon = True
                self._timer.start()
            else:
                self.kernel_signal(signal.SIGKILL)
