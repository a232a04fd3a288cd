"""SIGTERM / SIGINT while a run is under way: stop the kernel's work, keep what was done, exit 143 / 130.

The handler never does slow work itself: it interrupts the kernel (the running cell gets KeyboardInterrupt and its
traceback lands in the notebook) and arms a timer that kills the kernel if it has not stopped within ``grace``
seconds. nbclient then returns or raises, and the run writes the partial notebook as for any other failure.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from nbrunner.errors import Stopped

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalGuard:
    """Install with ``with SignalGuard(...) as guard``; move through phases with :meth:`running` / :meth:`finishing`."""

    def __init__(self, *, grace: float = 3.0) -> None:
        self.grace = grace
        self.received: int | None = None
        self.phase = "prepare"  # prepare -> run -> finish
        self.kernel_signal: Callable[[int], None] | None = None  # sends a signal to the kernel's process group
        self.on_stop: list[Callable[[], None]] = []  # quick callbacks: cancel Spark jobs
        self._timer: threading.Timer | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
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
        first = self.received is None
        if first:
            self.received = signum
        if self.phase == "prepare" or (self.phase == "run" and self.kernel_signal is None):
            raise Stopped(signum)
        if self.phase == "finish":
            return  # the run is over; what it made is being written, then the process exits
        for callback in self.on_stop:
            threading.Thread(target=callback, name="nbrunner-stop", daemon=True).start()
        assert self.kernel_signal is not None  # noqa: S101 - checked above
        if first:
            self.kernel_signal(signal.SIGINT)
            self._timer = threading.Timer(self.grace, self.kernel_signal, args=(signal.SIGKILL,))
            self._timer.daemon = True
            self._timer.start()
        else:
            self.kernel_signal(signal.SIGKILL)
