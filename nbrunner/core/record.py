"""The run record: the facts of one run, written into the notebook's metadata, beside it as JSON, and on stdout."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from nbrunner import __version__
from nbrunner.core.node import Notebook
from nbrunner.core.record_schema import CHAIN, FOR_EACH, NOT_RUN, REFUSED, RUN, stamp
from nbrunner.core.secret_values import Redactor
from nbrunner.errors import CellFailed, NbrunnerError, RunTimeout, error_line, exit_code_of, message_of, status_of
from nbrunner.status import PAPERMILL, Status


def utc_now() -> str:
    """Now, as the record and the cells' metadata write times (ISO 8601, UTC, milliseconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def first_line(source: str, width: int = 80) -> str:
    """The first line of code (comments skipped when there is code), shortened to ``width``."""
    lines = [text.strip() for text in source.splitlines() if text.strip()]
    line = next((text for text in lines if not text.startswith("#")), lines[0] if lines else "")
    return line if len(line) <= width else line[: width - 1] + "…"


def versions(nb: Notebook, kernel_name: str) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, Any] = {"nbrunner": __version__, "python": platform.python_version()}
    for package in ("nbconvert", "nbclient", "ipykernel"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    language = nb.metadata.get("language_info", {})
    found["kernel"] = {"name": kernel_name, "language": language.get("name"), "version": language.get("version")}
    return found


class Outcome:
    """The one owner of an outcome (a run's record, a chain's summary): every change of status, exit code and message
    goes through these, so "success" is never reported for a failure."""

    status: str
    exit_code: int | None
    message: str | None

    def settle(self, status: str, exit_code: int, message: str | None) -> None:
        """The run's outcome: its status word, the process's exit code, the one-line message."""
        self.status, self.exit_code, self.message = status, int(exit_code), message

    def failed_after(self, error: NbrunnerError, message: str) -> None:
        """Something after the run failed (storing the results, the outputs file): a success is reported as that
        failure (never as a success); any other outcome keeps its own."""
        if self.exit_code == 0:
            self.settle(error.status, int(error.exit_code), message)

    def stopped(self, error: NbrunnerError, while_doing: str) -> None:
        """A stop (a signal) ended what came after the cells: it decides the outcome; an earlier message stays."""
        self.settle(error.status, int(error.exit_code), self.message or f"{error} while {while_doing}")


@dataclass
class RunRecord(Outcome):
    """What one run did. ``exit_code`` is the process's exit status under the command line. As JSON it starts with
    ``kind`` (``run``) and ``schema`` (:mod:`nbrunner.core.record_schema`, which every reader checks it against)."""

    run_id: str
    input: str
    input_sha256: str
    output: str
    started: str
    parameters: dict[str, Any]
    html: str | None = None
    record: str | None = None
    ended: str | None = None
    duration_s: float | None = None
    status: str = Status.RUNNING
    exit_code: int | None = None
    message: str | None = None
    failed_cell: dict[str, Any] | None = None
    cells: dict[str, int] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] | None = None  # {kind: spark-submit | spark-connect, ...its facts}
    spark: dict[str, Any] | None = None  # deprecated: engine's facts without its kind (kept for readers of 0.1)
    storage: dict[str, Any] | None = None
    signal: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)  # nbrunner.output() / scrapbook glue values
    outputs_lost: list[int] = field(default_factory=list)  # cells some of whose outputs never arrived
    replies_lost: list[int] = field(default_factory=list)  # cells the kernel finished whose reply never came
    background_outputs: int = 0  # output messages of the notebook's background threads, kept in a running cell
    outputs_truncated: list[str] = field(default_factory=list)  # the names of outputs over the cap, dropped
    context: dict[str, str] = field(default_factory=dict)  # the scheduler's identifiers
    secrets: dict[str, str] = field(default_factory=dict)  # name -> reference (env:VAR, file:PATH), never a value
    resumed_from: str | None = None  # the run id this run resumed
    chain: dict[str, Any] | None = None  # in a chain: {"id": the chain's, "index": this notebook's, "size"}
    for_each: dict[str, Any] | None = None  # an iteration: {"id", "index", "size", "values", "attempt"}

    def as_json(self) -> dict[str, Any]:
        return {**stamp(RUN), **asdict(self)}

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0


#: the characters of a failing cell's exception value the record keeps (a JVM error can bring kilobytes of trace)
EVALUE_KEPT = 1000


def shortened(evalue: str, limit: int = EVALUE_KEPT) -> str:
    """``evalue`` as the record keeps it: whole up to ``limit`` characters, else its start (a JVM error's class and
    message come first) cut at the last line end in the limit's second half, or at the limit when there is none,
    how many characters more the notebook's output has, and the line that says what went wrong
    (:func:`~nbrunner.errors.error_line`) when it was cut off (a Python worker's exception ends its traceback)."""
    if len(evalue) <= limit:
        return evalue
    end = evalue.rfind("\n", limit // 2, limit + 1)
    kept = evalue[: end if end > 0 else limit].rstrip()
    line = error_line(evalue)
    said = "" if line in kept else f"\n{line}"
    return f"{kept}\n… ({len(evalue) - len(kept)} more characters in the notebook){said}"


def outcome(record: RunRecord, nb: Notebook, error: BaseException | None, *, stopped_early: bool) -> None:
    """Fill status, exit code, message and failing cell from how the run ended."""
    if error is None:
        record.settle(status_of(None), exit_code_of(None), "stopped early by sys.exit(0)" if stopped_early else None)
        return
    record.settle(status_of(error), exit_code_of(error), message_of(error))
    index = getattr(error, "cell_index", None)
    if isinstance(index, int) and 0 <= index < len(nb.cells):
        cell = nb.cells[index]
        record.failed_cell = {
            "index": index,
            "id": cell.get("id"),
            "execution_count": cell.get("execution_count"),
            "first_line": first_line(cell.source),
        }
        if isinstance(error, CellFailed):
            record.failed_cell.update(ename=error.ename, evalue=shortened(error.evalue),
                                      sys_exit_code=error.sys_exit_code)  # fmt: skip
        if isinstance(error, RunTimeout):
            record.failed_cell.update(timeout_scope=error.scope, timeout_s=error.seconds)


def refused(error: NbrunnerError, notebook: str | None = None) -> dict[str, Any]:
    """The record of a run refused before anything ran (exit 2, 3, 7, 8, a signal): printed by the command line,
    and a chain's entry for such a notebook. Every record shape is built here: :class:`RunRecord` (a run),
    this, :func:`not_run`, and the chain summary (:func:`chain_summary`) made of them. Each says its ``kind`` and
    ``schema`` first (:mod:`nbrunner.core.record_schema`)."""
    found: dict[str, Any] = {"input": notebook} if notebook is not None else {}
    return {**stamp(REFUSED), **found, "status": status_of(error), "exit_code": int(error.exit_code),
            "message": str(error)}  # fmt: skip


def not_run(notebook: str) -> dict[str, Any]:
    """A chain's entry for a notebook the chain never started (it stopped before)."""
    return {**stamp(NOT_RUN), "input": notebook, "status": Status.NOT_RUN, "exit_code": None}


def chain_summary(status: str, exit_code: int, message: str | None, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A chain's summary (:class:`nbrunner.run.chain.ChainRecord`): its outcome, and each notebook's record."""
    return {**stamp(CHAIN), "chain": True, "status": status, "exit_code": exit_code, "message": message,
            "runs": runs}  # fmt: skip


def for_each_summary(
    group: str, status: str, exit_code: int, message: str | None, iterations: list[dict[str, Any]]
) -> dict[str, Any]:
    """A for-each's summary (:class:`nbrunner.run.foreach.ForEachRecord`): its id (every iteration's record's
    ``for_each.id``), its outcome, and each iteration's entry: index, values, attempt, status, exit code, record."""
    return {**stamp(FOR_EACH), "id": group, "status": status, "exit_code": exit_code, "message": message,
            "iterations": iterations}  # fmt: skip


def redact_record(record: RunRecord, redactor: Redactor) -> None:
    """Every field that can hold what the kernel sent (message, failing cell, outputs and their names, Spark facts)
    redacted in place; the secrets' references are kept as they are (resume reads them)."""
    if not redactor:
        return
    for item in fields(record):
        if item.name != "secrets":
            setattr(record, item.name, redactor.deep(getattr(record, item.name), keys=item.name == "outputs"))


def count_cells(nb: Notebook) -> dict[str, int]:
    counts: dict[str, int] = {"total": len(nb.cells)}
    for cell in nb.cells:
        status = cell.metadata.get("nbrunner", {}).get("status")
        if status:
            counts[status] = counts.get(status, 0) + 1
    return counts


#: How the banner says each status: "nbrunner: this run <phrase>"
_PHRASES: dict[str, str] = {
    Status.FAILED: "failed",
    Status.TIMEOUT: "timed out",
    Status.KERNEL_DIED: "stopped: the kernel died",
    Status.SPARK_GATEWAY_ERROR: "stopped: Spark gateway problem",
    Status.STORAGE_ERROR: "could not store its results",
    Status.INTERRUPTED: "was interrupted (SIGINT)",
    Status.TERMINATED: "was terminated (SIGTERM)",
    Status.HUNG_UP: "was stopped by SIGHUP",
    Status.INTERNAL_ERROR: "hit an internal error in nbrunner",
    Status.SKIPPED: "was skipped by the notebook",
}


def banner(record: RunRecord) -> str:
    """The markdown of the banner cell put at the top of a failed run's notebook."""
    phrase = _PHRASES.get(record.status, record.status)
    lines = [f"## nbrunner: this run {phrase} (exit code {record.exit_code})", ""]
    failed = record.failed_cell
    if failed is not None:
        count = failed.get("execution_count")
        label = f" (`In [{count}]`)" if count is not None else ""
        cell = f"cell {failed['index']}"
        if isinstance(failed.get("id"), str) and failed["id"]:
            cell = f"[{cell}](#cell-id={failed['id']})"  # the HTML's anchor of that cell (nbconvert's cell_id_anchor)
        lines.append(f"**Failing cell:** {cell}{label}: `{failed['first_line']}`")
        lines.append("")
    lines.append(f"**Error:** {record.message}")
    lines.append("")
    lines.append(f"Run `{record.run_id}`, started {record.started}, ended {record.ended}.")
    return "\n".join(lines)


# papermill's conventions, so that tools reading papermill outputs (scrapbook, papermill's readers, commuter) find
# what they look for: metadata.papermill on the notebook and on each executed cell, in papermill's words
_PAPERMILL_STATUS: dict[str, str] = PAPERMILL


def papermill_notebook(record: RunRecord, default_parameters: dict[str, Any]) -> dict[str, Any]:
    """The notebook's papermill metadata, with every key papermill writes. ``default_parameters``: the parameters
    cell's literal defaults; ``version``: nbrunner's (papermill writes its own there), ``runner`` saying whose;
    ``exception``: the run failed (a skip, like papermill's ``sys.exit(0)``, did not)."""
    return {
        "default_parameters": default_parameters,
        "parameters": record.parameters,
        "environment_variables": {},
        "version": __version__,
        "runner": "nbrunner",
        "input_path": record.input,
        "output_path": record.output,
        "start_time": record.started,
        "end_time": record.ended,
        "duration": record.duration_s,
        "exception": record.exit_code not in (0, None) and record.status != Status.SKIPPED,
    }


def papermill_cell(meta: dict[str, Any]) -> dict[str, Any]:
    """A cell's papermill metadata from its nbrunner metadata: failed, timed out, killed... are all "failed"."""
    status = _PAPERMILL_STATUS.get(str(meta.get("status")), "failed")
    return {
        "status": status,
        "start_time": meta.get("start"),
        "end_time": meta.get("end"),
        "duration": meta.get("duration"),
        "exception": status == "failed",
    }
