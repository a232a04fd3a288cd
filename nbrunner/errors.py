"""The one error hierarchy of nbrunner, and the one map from an outcome to an exit code.

Every failure nbrunner reports is an :class:`NbrunnerError` subclass, and each class names its exit code.
:func:`exit_code_of` is the only place an exception becomes a code: the run record and ``cli.main`` both use it.
"""

from __future__ import annotations

import signal
from enum import IntEnum
from typing import Any, ClassVar

from nbrunner.status import Status


class ExitCode(IntEnum):
    """Exit statuses a scheduler can act on. Documented in the README and in ``nbrunner --help``."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    PARAMETERS = 3
    CELL_FAILED = 4
    TIMEOUT = 5
    KERNEL_DIED = 6
    SPARK_GATEWAY = 7
    STORAGE = 8
    SKIPPED = 99
    HANGUP = 129
    INTERRUPTED = 130
    TERMINATED = 143


#: One line per exit code, used by ``--help`` and checked against the README by the tests.
EXIT_CODE_HELP: dict[ExitCode, str] = {
    ExitCode.OK: "success; also sys.exit(0) / sys.exit(False) / bare SystemExit in the notebook (stops there)",
    ExitCode.INTERNAL: "internal error (a bug in nbrunner)",
    ExitCode.USAGE: "usage: bad option, missing or unreadable notebook, invalid notebook JSON",
    ExitCode.PARAMETERS: "bad parameters: bad name, undeclared name, or a value of the wrong type",
    ExitCode.CELL_FAILED: "a cell failed (any exception, including sys.exit(n) with n != 0)",
    ExitCode.TIMEOUT: "timeout: a cell (--cell-timeout) or the whole run (--timeout)",
    ExitCode.KERNEL_DIED: "the kernel died or could not start",
    ExitCode.SPARK_GATEWAY: (
        "engine problem: the Spark driver's gateway, the Spark Connect server or the flink run JVM unreachable or "
        "refusing, a TLS or version mismatch, the JVM gone"
    ),
    ExitCode.STORAGE: "results could not be stored; the local copy is kept and its path printed",
    ExitCode.SKIPPED: "skipped: the notebook called nbrunner.skip(reason) (Airflow's default skip code)",
    ExitCode.HANGUP: "hung up: SIGHUP (the terminal or session went away); stopped as for SIGTERM",
    ExitCode.INTERRUPTED: "interrupted by SIGINT",
    ExitCode.TERMINATED: "terminated by SIGTERM",
}


class NbrunnerError(Exception):
    """Root of every error nbrunner reports. ``str(error)`` is the one-line message for the user.

    ``cell_index`` names the notebook cell the error happened in, when there is one. ``record`` is the run's
    :class:`~nbrunner.core.record.RunRecord` when the error ends a run (set by :func:`nbrunner.run_notebook`).
    """

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL
    #: the status word written to the run record and the notebook metadata
    status: ClassVar[Status] = Status.ERROR

    def __init__(self, message: str, *, cell_index: int | None = None):
        super().__init__(message)
        self.cell_index = cell_index
        self.record: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by state, not by re-calling ``__init__`` (whose keyword-only fields ``Exception`` would not
        pass back): a run's error crosses process pools (Airflow, Dagster, concurrent.futures) with its code,
        message, fields and record."""
        return (_restore, (type(self), self.args, self.__dict__.copy()))


def _restore(cls: type[NbrunnerError], args: tuple[Any, ...], state: dict[str, Any]) -> NbrunnerError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class UsageError(NbrunnerError):
    exit_code = ExitCode.USAGE
    status = Status.USAGE_ERROR


class ParameterError(NbrunnerError):
    exit_code = ExitCode.PARAMETERS
    status = Status.PARAMETER_ERROR


class CellFailed(NbrunnerError):
    """A cell raised: ``ename``/``evalue`` as the kernel reported them; ``sys_exit_code`` for ``sys.exit(n)``."""

    exit_code = ExitCode.CELL_FAILED
    status = Status.FAILED

    def __init__(self, message: str, *, cell_index: int, ename: str, evalue: str, sys_exit_code: int | None = None):
        super().__init__(message, cell_index=cell_index)
        self.ename = ename
        self.evalue = evalue
        self.sys_exit_code = sys_exit_code


class RunTimeout(NbrunnerError):
    """A cell ran past ``--cell-timeout`` or the run past ``--timeout``; ``scope`` says which."""

    exit_code = ExitCode.TIMEOUT
    status = Status.TIMEOUT

    def __init__(self, message: str, *, scope: str, seconds: float, cell_index: int | None = None):
        super().__init__(message, cell_index=cell_index)
        self.scope = scope
        self.seconds = seconds


class KernelDied(NbrunnerError):
    exit_code = ExitCode.KERNEL_DIED
    status = Status.KERNEL_DIED


class GatewayError(NbrunnerError):
    exit_code = ExitCode.SPARK_GATEWAY
    status = Status.SPARK_GATEWAY_ERROR


class StorageError(NbrunnerError):
    exit_code = ExitCode.STORAGE
    status = Status.STORAGE_ERROR


class Skipped(NbrunnerError):
    """The notebook asked to be skipped (``nbrunner.skip(reason)``): not a failure, but not a success either."""

    exit_code = ExitCode.SKIPPED
    status = Status.SKIPPED


class InternalError(NbrunnerError):
    """A bug in nbrunner, wrapped so that callers catch one tree; ``__cause__`` is the original exception."""

    exit_code = ExitCode.INTERNAL
    status = Status.INTERNAL_ERROR


class Stopped(NbrunnerError):
    """The run was stopped by a signal; see :func:`stopped_by` for the class of each signal."""

    def __init__(self, signum: int, *, cell_index: int | None = None):
        super().__init__(f"stopped by {signal.Signals(signum).name}", cell_index=cell_index)
        self.signum = signum


class Interrupted(Stopped):
    exit_code = ExitCode.INTERRUPTED
    status = Status.INTERRUPTED


class Terminated(Stopped):
    exit_code = ExitCode.TERMINATED
    status = Status.TERMINATED


class HungUp(Stopped):
    exit_code = ExitCode.HANGUP
    status = Status.HUNG_UP


def stopped_by(signum: int) -> Stopped:
    """The error for a stop by ``signum``: SIGTERM terminates (143), SIGHUP hangs up (129), anything else
    interrupts (130)."""
    if signum == signal.SIGTERM:
        return Terminated(signum)
    if signum == getattr(signal, "SIGHUP", None):
        return HungUp(signum)
    return Interrupted(signum)


def exit_code_of(error: BaseException | None) -> ExitCode:
    """The exit code of an outcome: ``None`` is success; an unknown exception is a bug in nbrunner."""
    if error is None:
        return ExitCode.OK
    if isinstance(error, NbrunnerError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.INTERNAL


def status_of(error: BaseException | None) -> Status:
    """The status word of an outcome, as the record and the notebook metadata keep it."""
    if error is None:
        return Status.SUCCEEDED
    if isinstance(error, NbrunnerError):
        return error.status
    if isinstance(error, KeyboardInterrupt):
        return Interrupted.status
    return Status.INTERNAL_ERROR


def error_line(evalue: str) -> str:
    """The line of an exception's value that says what went wrong.

    A PySpark error raised in a Python worker reads "An exception was thrown from the Python worker..." and then
    the worker's traceback: its last line (``ZeroDivisionError: division by zero``) is the message that matters.
    A Java exception through Py4J reads "An error occurred while calling o42.collect." and then ": " and the Java
    exception (``java.lang.IllegalArgumentException: System memory ...``): that line is the one, unless it ends in
    a Python worker's traceback (pyspark 3.5 raises a job's failure so): then the worker's exception is.
    """
    lines = [line.strip() for line in evalue.splitlines() if line.strip()]
    if not lines:
        return ""
    if "exception was thrown from the Python worker" in lines[0] and len(lines) > 1:
        return f"{lines[0].rstrip('.:')}: {lines[-1]}"[:300]
    if lines[0].startswith("An error occurred while calling") and len(lines) > 1 and lines[1].startswith(":"):
        worker = _python_worker_exception(evalue)
        if worker is not None:
            return f"An exception was thrown from the Python worker: {worker}"[:300]
        return lines[1].lstrip(": ")[:300]
    return lines[0][:300]


_CHAINING = ("Traceback (most recent call last):", "During handling of the above exception",
             "The above exception was the direct cause")  # fmt: skip


def _python_worker_exception(evalue: str) -> str | None:
    """The exception line of the first Python traceback a Java exception carries (``PythonException: Traceback
    ...``): the last unindented line before the Java frames (traceback entries are indented, frames are ``\tat``)."""
    raw = evalue.splitlines()
    start = next((i for i, line in enumerate(raw) if line.rstrip().endswith("PythonException: " + _CHAINING[0])), None)
    if start is None:
        return None
    found = None
    for line in raw[start + 1 :]:
        if line.lstrip().startswith("at ") and line[:1].isspace():
            break  # the Java stack trace
        if line.strip() and not line[:1].isspace() and not line.startswith(_CHAINING):
            found = line.strip()
    return found


def message_of(error: BaseException) -> str:
    """The one-line message of an outcome."""
    if isinstance(error, NbrunnerError):
        return str(error)
    return f"internal error: {error!r}"
