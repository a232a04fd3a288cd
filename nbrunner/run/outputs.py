"""What a run leaves: the executed notebook, its HTML rendering and the run record, written locally (atomically,
the record last) and then stored; a complete copy is always left somewhere and named, whatever fails.

Where a write fails the set goes, in order, to: the output folder, the spool, TMPDIR, the current directory.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from nbrunner.core import location
from nbrunner.core.files import write_atomic
from nbrunner.core.hooks import CellHooks
from nbrunner.core.location import Artifacts, Uri
from nbrunner.core.node import Cell, Notebook
from nbrunner.core.record import RunRecord, papermill_cell, papermill_notebook
from nbrunner.core.report import Reporter
from nbrunner.core.signals import StopGuard, StopSignal
from nbrunner.errors import NbrunnerError, StorageError
from nbrunner.notebook import document
from nbrunner.plan.build import Plan
from nbrunner.status import Status
from nbrunner.storage import Store

#: beside a local record's target while its run has no record: ``.NAME.run.started`` for ``NAME.run.json``
STARTED_MARKER = ".{name}.run.started"


def started_marker(record: Path) -> Path:
    return record.with_name(STARTED_MARKER.format(name=record.name.removesuffix(".run.json")))


def mark_started(plan: Plan) -> None:
    """A small marker beside a local record's target (run id, notebook, start, host, pid), removed once a record is
    written (:func:`finish`): a run killed before that (SIGKILL, a lost machine) is shown by ``nbrunner runs`` as lost.
    Cheap: one small write and one unlink, no fsync; none for a store's target (a PUT and a DELETE per run)."""
    target = plan.targets.record
    if not isinstance(target, Path):
        return
    marker = {"run_id": plan.run_id, "input": str(plan.source), "started": plan.started.isoformat(),
              "host": socket.gethostname(), "pid": os.getpid(), "record": str(target)}  # fmt: skip
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        started_marker(target).write_text(json.dumps(marker), encoding="utf-8")
    except OSError:
        pass  # no marker: the run goes on, it only cannot be shown as lost


def unmark(plan: Plan) -> None:
    if isinstance(plan.targets.record, Path):
        started_marker(plan.targets.record).unlink(missing_ok=True)


def write_local(local: Artifacts[Path], nb: Notebook, html: str | None, record: RunRecord) -> None:
    """The notebook, then its HTML, then the record: the record's presence means the set is complete."""
    nb.metadata["nbrunner"] = record.as_json()
    nb.metadata["papermill"] = papermill_notebook(record, default_parameters(nb))
    for cell in nb.cells:
        if "nbrunner" in cell.metadata:
            cell.metadata["papermill"] = papermill_cell(cell.metadata["nbrunner"])
    document.write(local.notebook, nb)
    if html is not None:
        write_atomic(local.html, html, errors="xmlcharrefreplace")
    text = json.dumps(record.as_json(), indent=2, ensure_ascii=False) + "\n"
    write_atomic(local.record, text)


def default_parameters(nb: Notebook) -> dict[str, Any]:
    """The parameters cell's literal defaults that are JSON values (a tuple as a list; a set, bytes or NaN left
    out), read from the notebook as written (its secrets redacted already)."""
    declared, _ = document.declared_parameters(nb)
    found: dict[str, Any] = {}
    for parameter in declared.parameters:
        if parameter.default_is_literal:
            try:
                found[parameter.name] = json.loads(json.dumps(parameter.default, allow_nan=False))
            except (TypeError, ValueError, RecursionError):
                continue
    return found


def rescue_places(plan: Plan) -> list[Artifacts[Path]]:
    """Where to write the set when its own place fails: the spool, TMPDIR, the current directory."""
    name = plan.local.notebook.name
    if len(name.encode("utf-8", "surrogateescape")) > 120:
        name = f"{plan.run_id}.ipynb"  # a name the file system refused, or might
    spool = plan.config.storage.spool
    folders = [Path(spool) / plan.run_id] if spool else []
    folders.append(Path(tempfile.gettempdir()) / f"nbrunner-rescue-{plan.run_id}")
    if plan.launch_dir is not None:  # resolved at start: the caller's folder may be gone by now (Airflow deletes it)
        folders.append(plan.launch_dir / f"nbrunner-{plan.run_id}")
    here = plan.local.notebook.parent
    return [location.artifacts(folder / name) for folder in folders if folder != here]


def write_somewhere(plan: Plan, nb: Notebook, html: str | None, record: RunRecord) -> Artifacts[Path]:
    """Write the set to its local place, else to the first rescue place that takes it; return where it went."""
    places = [plan.local, *rescue_places(plan)]
    failures: list[str] = []
    for place in places:
        if place is not plan.local:
            failed(record, f"could not write {plan.local.notebook}: {'; '.join(failures)}", place)
        try:
            write_local(place, nb, html, record)
            return place
        except (OSError, UnicodeError) as e:
            failures.append(f"{place.notebook}: {getattr(e, 'strerror', None) or e}")
    raise StorageError(f"could not write the notebook anywhere ({'; '.join(failures)})")


def failed(record: RunRecord, message: str, kept: Artifacts[Path]) -> None:
    """Storing failed: never report success; say where the complete local copy is."""
    record.storage = {**(record.storage or {}), "error": message, "local_copy": str(kept.notebook)}
    record.failed_after(StorageError(message), message)


def finish(
    plan: Plan, nb: Notebook, record: RunRecord, html: str | None, reporter: Reporter, guard: StopGuard
) -> NbrunnerError | None:
    """Write the set locally, then store it; a stop during the upload abandons it and keeps the local copy.

    Returns the error that now decides the outcome (storing failed after a success, or a stop), else None.
    """
    before = record.exit_code
    written = write_somewhere(plan, nb, html, record)
    try:
        unmark(plan)  # a record is written (or a rescue copy named): the run is not lost
    except OSError:
        pass
    remote = plan.remote
    if written is not plan.local:
        reporter.notice(f"error: {(record.storage or {}).get('error')}; the local copy is kept at {written.notebook}")
    elif remote is not None:
        kept_in = plan.stores.of(remote.notebook)  # built by the plan, which checked the target
        record.storage = {**(record.storage or {}), "endpoint": kept_in.where}
        try:
            guard.storing()
            store(kept_in, plan.local, remote, record)
            reporter.notice(f"stored {plan.targets.notebook}")
        except StorageError as e:
            keep(plan, nb, html, record, reporter, str(e))
        except StopSignal as stop:
            error = guard.error(stop)
            record.stopped(error, "storing the results")
            record.signal = signal.Signals(stop.signum).name
            keep(plan, nb, html, record, reporter, f"storing was abandoned: {error}")
            return error
    if before == 0 and record.exit_code != 0:
        return StorageError(record.message or "the results could not be stored")
    return None


def keep(plan: Plan, nb: Notebook, html: str | None, record: RunRecord, reporter: Reporter, message: str) -> None:
    failed(record, message, plan.local)
    write_local(plan.local, nb, html, record)
    reporter.notice(f"error: {message}; the local copy is kept at {plan.local.notebook}")


def store(into: Store, local: Artifacts[Path], targets: Artifacts[Uri], record: RunRecord) -> None:
    """Upload the notebook, its HTML and the run record, the record last; then remove the local copy."""
    metadata = {"nbrunner-run-id": str(record.run_id), "nbrunner-status": str(record.status)}
    deadline = time.monotonic() + into.timeout  # for all three, retries included
    for path, uri in ((local.notebook, targets.notebook), (local.html, targets.html), (local.record, targets.record)):
        if path.exists():
            into.put_file(path, uri, metadata, timeout=max(0.1, deadline - time.monotonic()))
    shutil.rmtree(local.notebook.parent, ignore_errors=True)


class Checkpointer(CellHooks):
    """Uploads the partial notebook of a long run at most every ``every`` seconds, off the main thread.

    Called on cell boundaries and outputs, it takes a snapshot there (where the notebook is consistent) and hands it
    to one uploader thread. A failed checkpoint only warns: the final store decides the exit code.
    """

    def __init__(self, plan: Plan, nb: Notebook, reporter: Reporter):
        if plan.remote is None:
            raise ValueError("checkpoints are for results that go to a store")
        self.target = plan.remote.notebook
        self.store = plan.stores.of(self.target)
        self.partial = plan.local.notebook.with_name(".checkpoint.ipynb")
        self.nb = nb
        self.redactor = plan.redactor
        self.every = plan.config.storage.checkpoint_every
        self.reporter = reporter
        self.last = time.monotonic()
        self.uploads = 0
        self._busy = threading.Lock()

    def cell_started(self, index: int, cell: Cell) -> None:
        self.maybe()

    def cell_output(self, index: int, msg: dict[str, Any]) -> None:
        self.maybe()

    def cell_finished(self, index: int, cell: Cell, status: str, seconds: float) -> None:
        self.maybe()

    def maybe(self) -> None:
        if self.every <= 0 or time.monotonic() - self.last < self.every:
            return
        if not self._busy.acquire(blocking=False):
            return  # the previous checkpoint is still uploading
        self.last = time.monotonic()
        try:
            partial = self.nb
            if self.redactor:  # a copy: the engine is still appending to the live notebook's outputs
                partial = copy.deepcopy(self.nb)
                self.redactor.notebook(partial)
            document.write(self.partial, partial)
        except (OSError, UnicodeError) as e:
            self._busy.release()
            self.reporter.warning(f"checkpoint: could not write the partial notebook: {e}")
            return
        threading.Thread(target=self._upload, name="nbrunner-checkpoint", daemon=True).start()

    def _upload(self) -> None:
        try:
            self.store.put_file(
                self.partial, self.target, {"nbrunner-status": str(Status.RUNNING)}, timeout=self.store.timeout
            )
            self.uploads += 1
        except StorageError as e:
            self.reporter.warning(f"checkpoint: {e}")
        finally:
            self._busy.release()

    def wait(self, timeout: float = 30.0) -> None:
        """Let an upload in flight finish, so it cannot land after the final one."""
        if self._busy.acquire(timeout=timeout):
            self._busy.release()
