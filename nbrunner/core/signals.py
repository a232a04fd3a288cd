"""Stopping a run from outside: SIGTERM / SIGINT, or the Spark driver JVM going away. A stop wins in every phase.

Signals are the process's: the main thread's guard holds the handlers and hands every signal to the guards of runs
going on in other threads (:meth:`StopGuard.deliver`); a guard that only oversees such runs is ``orchestrate``.

- ``prepare`` (reading inputs, checking the output bucket, starting the kernel) and ``store`` (uploading): the
  handler raises :class:`StopSignal`, a BaseException, so no library's ``except Exception`` can swallow it; the run
  turns it into :class:`~nbrunner.errors.Stopped` (exit 130 / 143). During ``store`` the local copy is kept.
- ``run``: nothing slow happens in the handler. It records why the run must stop, starts the quick callbacks (cancel
  the Spark jobs) on a thread, interrupts the kernel (the running cell gets KeyboardInterrupt and its traceback lands
  in the notebook) and arms a timer that kills the kernel if it has not stopped within ``grace`` seconds.
- ``finish`` (writing the local files): the stop is recorded and takes effect once the files are whole.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from nbrunner.errors import NbrunnerError, Stopped, stopped_by

SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
BEFORE_INTERRUPT_WAIT = 2.0  # seconds


class StopSignal(BaseException):  # noqa: N818 - a control-flow signal like KeyboardInterrupt, not an error
    """Raised by the handler where the run can simply be abandoned; see :meth:`StopGuard.error`."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def stop_early() -> None:
    """The process's first step (the console script, ``python -m nbrunner``, the spark-submit launcher): until a
    :class:`StopGuard` takes over, SIGTERM and SIGHUP end nbrunner at once as a stop (exit 143 / 129; nothing has
    started), as SIGINT does (KeyboardInterrupt, 130). A signal the caller ignores (``nohup``) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _stop_now)


def settle_exit() -> None:
    """The outcome is decided and printed: a signal now would only make the exit status disagree with the record."""
    if threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


def _stop_now(signum: int, frame: FrameType | None) -> None:
    raise StopSignal(signum)


#: the guards of the runs going on in this process (several, when runs go on in threads): a signal is the process's,
#: so the guard that holds the handlers (the main thread's) hands it to every other one
_ACTIVE: set[StopGuard] = set()
_ACTIVE_LOCK = threading.Lock()


class StopGuard:
    """Install with ``with StopGuard() as guard``; move through phases with :meth:`running`, :meth:`finishing` and
    :meth:`storing`. On the main thread it installs the handlers; a guard entered on another thread (a run in a
    worker thread, the Python API called from one) installs none, and is handed every signal the main thread's guard
    receives (:meth:`deliver`), so each of several runs in one process stops its own kernel and work."""

    def __init__(self, *, grace: float = 3.0) -> None:
        self.grace = grace
        self.reason: NbrunnerError | None = None  # why the run must stop, once it must
        self.signum: int | None = None  # the first signal received
        self.late_signum: int | None = None  # the first one received once the cells were done
        self.phase = "prepare"  # prepare -> run -> finish -> store
        self.kernel_signal: Callable[[int], None] | None = None  # sends a signal to the kernel's process group
        self.on_stop: list[Callable[[], None]] = []  # quick callbacks, e.g. cancel Spark jobs
        # callbacks the kernel's interrupt waits for (at most BEFORE_INTERRUPT_WAIT s): a Spark Connect client
        # interrupted mid-query leaves the operation open on the server, so the server interrupts it first
        self.before_interrupt: list[Callable[[], None]] = []
        self._timer: threading.Timer | None = None
        self._lock = threading.RLock()  # a second signal can arrive while the handler holds it
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                if signal.getsignal(signum) is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
                    self._previous[signum] = signal.signal(signum, self._handle)
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def deliver(self, signum: int) -> None:
        """A signal the main thread's guard received, for a run on another thread: recorded, and the run stopped as
        the handler would (its thread sees the reason at the next cell boundary, or when it stores)."""
        if self.signum is None:
            self.signum = signum
        if self.phase in ("finish", "store") and self.late_signum is None:
            self.late_signum = signum
        self.stop(stopped_by(signum), kill=False)

    def orchestrating(self) -> None:
        """This guard runs no kernel itself: it holds the handlers for runs going on in other threads (many runs of
        one process), hands each signal to them and records it; it never raises."""
        self.phase = "orchestrate"

    def running(self, kernel_signal: Callable[[int], None]) -> None:
        """The kernel is up: from now on a stop interrupts it instead of unwinding the run."""
        self.kernel_signal = kernel_signal
        self.phase = "run"

    def finishing(self) -> None:
        self.phase = "finish"
        if self._timer is not None:
            self._timer.cancel()

    def storing(self) -> None:
        """The local files are whole: a stop may now abandon the upload (raise StopSignal), as one that came while
        they were written does. A stop during the run does not: its partial notebook is stored as any other."""
        self.phase = "store"
        if self.late_signum is not None:
            raise StopSignal(self.late_signum)

    @staticmethod
    def error(stop: StopSignal) -> Stopped:
        return stopped_by(stop.signum)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        with _ACTIVE_LOCK:
            others = [guard for guard in _ACTIVE if guard is not self and not guard._previous]
        for guard in others:  # the runs going on in other threads stop too
            guard.deliver(signum)
        if self.signum is None:
            self.signum = signum
        if self.phase in ("finish", "store") and self.late_signum is None:
            self.late_signum = signum
        if self.phase in ("prepare", "store"):
            raise StopSignal(signum)
        self.stop(stopped_by(signum), kill=False)

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
                waits = [threading.Thread(target=callback, name="nbrunner-stop", daemon=True)
                         for callback in self.before_interrupt]  # fmt: skip
                for thread in waits:
                    thread.start()
                for thread in waits:
                    thread.join(BEFORE_INTERRUPT_WAIT)
            if first and not kill:
                self.kernel_signal(signal.SIGINT)
                self._timer = threading.Timer(self.grace, self.kernel_signal, args=(signal.SIGKILL,))
                self._timer.daemon = True
                self._timer.start()
            else:
                self.kernel_signal(signal.SIGKILL)
