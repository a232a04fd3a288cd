"""The one error hierarchy of nbrunner, and the one table of exit codes.

Every failure nbrunner reports is an :class:`NbrunnerError` subclass; each class carries its exit code.
Only :mod:`nbrunner.cli` turns them into a message and a process exit status.
"""

from __future__ import annotations

from enum import IntEnum


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
    INTERRUPTED = 130
    TERMINATED = 143


#: One line per exit code, used by ``--help`` and checked against the README by the tests.
EXIT_CODE_HELP: dict[ExitCode, str] = {
    ExitCode.OK: "success; also sys.exit(0) / bare SystemExit in the notebook (stops there)",
    ExitCode.INTERNAL: "internal error (a bug in nbrunner)",
    ExitCode.USAGE: "usage: bad option, missing or unreadable notebook, invalid notebook JSON",
    ExitCode.PARAMETERS: "bad parameters: bad name, undeclared name, or a value of the wrong type",
    ExitCode.CELL_FAILED: "a cell failed (any exception, including sys.exit(n) with n != 0)",
    ExitCode.TIMEOUT: "timeout: a cell (--cell-timeout) or the whole run (--timeout)",
    ExitCode.KERNEL_DIED: "the kernel died or could not start",
    ExitCode.SPARK_GATEWAY: "Spark gateway problem (unreachable, refused, version mismatch, driver JVM gone)",
    ExitCode.STORAGE: "results could not be stored; the local copy is kept and its path printed",
    ExitCode.INTERRUPTED: "interrupted by SIGINT",
    ExitCode.TERMINATED: "terminated by SIGTERM",
}


class NbrunnerError(Exception):
    """Root of every error nbrunner reports. ``str(error)`` is the one-line message for the user."""

    exit_code: ExitCode = ExitCode.INTERNAL
    #: the status word written to the run record and the notebook metadata
    status: str = "error"


class UsageError(NbrunnerError):
    exit_code = ExitCode.USAGE
    status = "usage-error"


class ParameterError(NbrunnerError):
    exit_code = ExitCode.PARAMETERS
    status = "parameter-error"


class CellFailed(NbrunnerError):
    """A cell raised. ``cell_index`` is the notebook index of the failing cell."""

    exit_code = ExitCode.CELL_FAILED
    status = "failed"

    def __init__(self, message: str, *, cell_index: int, ename: str, evalue: str, sys_exit_code: int | None = None):
        super().__init__(message)
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.sys_exit_code = sys_exit_code


class RunTimeout(NbrunnerError):
    """A cell ran past ``--cell-timeout`` or the run past ``--timeout``; ``scope`` says which."""

    exit_code = ExitCode.TIMEOUT
    status = "timeout"

    def __init__(self, message: str, *, scope: str, seconds: float, cell_index: int | None = None):
        super().__init__(message)
        self.scope = scope
        self.seconds = seconds
        self.cell_index = cell_index


class KernelDied(NbrunnerError):
    exit_code = ExitCode.KERNEL_DIED
    status = "kernel-died"

    def __init__(self, message: str, *, cell_index: int | None = None):
        super().__init__(message)
        self.cell_index = cell_index


class GatewayError(NbrunnerError):
    exit_code = ExitCode.SPARK_GATEWAY
    status = "spark-gateway-error"

    def __init__(self, message: str, *, cell_index: int | None = None):
        super().__init__(message)
        self.cell_index = cell_index


class StorageError(NbrunnerError):
    exit_code = ExitCode.STORAGE
    status = "storage-error"


class Stopped(NbrunnerError):
    """The run was stopped by a signal. ``exit_code`` depends on the signal."""

    status = "interrupted"

    def __init__(self, signum: int, *, cell_index: int | None = None):
        import signal

        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}")
        self.signum = signum
        self.cell_index = cell_index
        self.exit_code = ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED
        self.status = "terminated" if signum == signal.SIGTERM else "interrupted"


def failing_cell(error: BaseException) -> int | None:
    """The index of the cell an error happened in, if it names one."""
    index = getattr(error, "cell_index", None)
    return index if isinstance(index, int) else None
