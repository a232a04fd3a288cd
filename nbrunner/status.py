"""Every status word nbrunner writes, spelled once: a cell's (``metadata.nbrunner.status``) and a run's (the record's
``status``), with papermill's word for a cell's status beside it (``metadata.papermill.status``)."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """A status word. A ``str``: it compares equal to its text, and JSON writes it as that text."""

    # a cell's
    RUNNING = "running"
    OK = "ok"  # also a cell tagged raises-exception that raised
    EXITED = "exited"  # sys.exit(0) and friends: the run stopped there, as a success
    FAILED = "failed"
    TIMEOUT = "timeout"
    KERNEL_DIED = "kernel-died"
    NOT_RUN = "not-run"  # the run never reached it (a chain member that never started, too)
    KEPT = "kept"  # not run again by a resume: its earlier outputs kept
    # a run's (and, for a stop, the cell it cut short)
    SUCCEEDED = "succeeded"
    PREPARED = "prepared"  # --prepare-only
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    TERMINATED = "terminated"
    HUNG_UP = "hung-up"
    USAGE_ERROR = "usage-error"
    PARAMETER_ERROR = "parameter-error"
    SPARK_GATEWAY_ERROR = "spark-gateway-error"
    STORAGE_ERROR = "storage-error"
    INTERNAL_ERROR = "internal-error"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    def __hash__(self) -> int:  # as its text's (Enum hashes the member's name): "ok" and Status.OK are one key
        return str.__hash__(self)


#: papermill's word for a cell's status; every other status (failed, timed out, killed, stopped) is "failed"
PAPERMILL: dict[str, str] = {Status.OK: "completed", Status.EXITED: "completed", Status.KEPT: "completed",
             Status.RUNNING: "running", Status.NOT_RUN: "pending"}  # fmt: skip
