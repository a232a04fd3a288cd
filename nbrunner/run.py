"""One run, start to end: options -> parameters -> kernel -> executed notebook -> written and stored -> record.

Data flows one way through here. Whatever happens after the notebook is read, the notebook (with everything done
up to the failure), its HTML rendering and the run record are written, then stored.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from nbrunner import gateway, location, notebook, params
from nbrunner.config import RunConfig
from nbrunner.errors import GatewayError, NbrunnerError, Stopped, StorageError, UsageError
from nbrunner.execute import Progress, Settings, execute, finish_cell, first_line, utc_now
from nbrunner.gateway import Driver
from nbrunner.kernel import SAME_INTERPRETER, Kernel, KernelChoice, kernel_choice
from nbrunner.location import Artifacts, Location, S3Uri
from nbrunner.record import Record, banner, count_cells, outcome, versions
from nbrunner.render import Renderer
from nbrunner.signals import StopGuard


@dataclass
class Prepared:
    """A notebook with its parameters injected, and where its results go."""

    data: bytes  # the notebook as read; parsed with nbformat while the kernel starts (see notebook_of)
    injected: str | None  # the injected-parameters cell's source, if any
    source: Location
    sha256: str
    values: dict[str, Any]
    targets: Artifacts  # where the results are stored
    local: Artifacts  # where they are written first (the same as targets for local outputs)
    cwd: Path
    kernel_spec: KernelChoice
    kernel_env: dict[str, str]  # what nbrunner sets on purpose in the kernel's environment
    driver: Driver | None  # the Spark driver JVM, under spark-submit


def warn(stderr: IO[str], message: str) -> None:
    print(f"nbrunner: warning: {message}", file=stderr, flush=True)


def read_source(source: Location, config: RunConfig) -> bytes:
    if isinstance(source, Path):
        return notebook.read_local(source)
    from nbrunner import storage

    return storage.read_bytes(source, config.storage)


def load_param_files(config: RunConfig) -> list[params.Given]:
    given: list[params.Given] = []
    for name in config.param_files:
        where = location.parse(name, what="parameters file")
        if isinstance(where, Path):
            try:
                text = where.read_text(encoding="utf-8")
            except OSError as e:
                raise UsageError(f"-f {name}: cannot read the parameters file: {e.strerror or e}") from e
            except UnicodeDecodeError as e:
                raise UsageError(f"-f {name}: the parameters file is not UTF-8 text") from e
        else:
            from nbrunner import storage

            text = storage.read_bytes(where, config.storage).decode("utf-8", errors="replace")
        given.extend(params.from_mapping(params.parse_yaml(text, source=f"-f {name}"), source=f"-f {name}"))
    return given


def prepare(config: RunConfig, run_id: str, started: datetime, stderr: IO[str]) -> Prepared:
    """Everything that can be checked before a kernel starts: exit 2 or 3 here, nothing run."""
    source = location.parse(config.notebook, what="notebook")
    data = read_source(source, config)
    raw = notebook.parse_json(data, source=str(source))
    declared = params.declaration(notebook.raw_parameters_source(raw))
    for message in declared.skipped:
        warn(stderr, f"parameters cell: {message}")
    given = params.merge(load_param_files(config), params.from_command_line(config.cli_params))
    values = params.resolve(given, declared, allow_undeclared=config.allow_undeclared)
    injected = None
    if given:
        if not declared.found:
            warn(stderr, "the notebook has no cell tagged 'parameters'; parameters are injected at the top")
        injected = params.render(values)
    fields: dict[str, Any] = dict(values)
    fields.update(notebook=location.stem(source), run_id=run_id, started=started.strftime("%Y%m%dT%H%M%SZ"))
    template = config.output or os.environ.get("NBRUNNER_OUTPUT") or None
    targets = location.artifacts(location.output_location(template, source, fields))
    local = targets
    if not isinstance(targets.notebook, Path):
        from nbrunner import storage

        if not config.prepare_only:
            storage.preflight(targets.notebook, config.storage)
        local = storage.spool_artifacts(targets, run_id, config.storage)
    if config.cwd is not None:
        cwd = Path(config.cwd)
        if not cwd.is_dir():
            raise UsageError(f"--cwd {config.cwd}: not a directory; create it or pick another")
    else:
        cwd = source.parent if isinstance(source, Path) else Path.cwd()
    spec = kernel_choice(config.kernel)
    env: dict[str, str] = {}
    driver = None
    if gateway.under_spark_submit(os.environ):
        env = gateway.kernel_env(os.environ)
        driver = gateway.Driver(os.environ)
        driver.connect()
        same = spec.name == SAME_INTERPRETER
        gateway.check_kernel_pyspark(driver, spec.spec, {**os.environ, **env}, same_interpreter=same)
    sha = hashlib.sha256(data).hexdigest()
    return Prepared(data, injected, source, sha, values, targets, local, cwd.resolve(), spec, env, driver)


def notebook_of(prepared: Prepared) -> Any:
    """The NotebookNode to run, parameters injected. nbformat is slow to import: this runs while the kernel starts."""
    nb = notebook.reads(prepared.data, source=str(prepared.source))  # prepare() checked the JSON already
    if prepared.injected is not None:
        notebook.inject(nb, prepared.injected)
    return nb


def run(config: RunConfig, *, stdout: IO[str] = sys.stdout, stderr: IO[str] = sys.stderr) -> Record:
    """Do one run. Returns its record; raises NbrunnerError only for what happens before anything ran."""
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    run_id = f"{started.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"
    with StopGuard() as guard:
        prepared = prepare(config, run_id, started, stderr)
        record = Record(
            run_id=run_id,
            input=str(prepared.source),
            input_sha256=prepared.sha256,
            output=str(prepared.targets.notebook),
            html=str(prepared.targets.html) if config.html else None,
            record=str(prepared.targets.record),
            started=utc_now(),
            parameters=prepared.values,
        )
        error: BaseException | None = None
        progress = Progress()
        renderer = None
        kernel: Kernel | None = None
        try:
            if config.prepare_only:
                nb = notebook_of(prepared)
                record.status, record.exit_code = "prepared", 0
            else:
                kernel = Kernel(prepared.kernel_spec, env=prepared.kernel_env, cwd=prepared.cwd)
                guard.running(kernel.signal)
                try:
                    kernel.start()  # the kernel boots while nbrunner builds the notebook
                except Exception as e:
                    error = e
                    kernel.stop(now=True)
                nb = notebook_of(prepared)
            if config.html:
                renderer = Renderer()  # warms up on a thread while the kernel runs
            if kernel is not None and error is None:
                try:
                    execute_in_kernel(kernel, nb, config, prepared, record, progress, guard, stderr, clock)
                except Exception as e:  # every failure still writes the notebook below
                    error = e
            guard.finishing()
            try:
                if guard.reason is not None and error is not None:
                    error = guard.reason
                if error is guard.reason and error is not None:
                    mark_stopped_cell(nb, progress, error)
                if kernel is not None:
                    record.versions = versions(nb, kernel.name)
                    outcome(record, nb, error, stopped_early=progress.stopped_early)
                if guard.signum is not None:
                    record.signal = signal.Signals(guard.signum).name
                record.cells = count_cells(nb)
            except Exception as e:  # a bug in nbrunner: say so, and still write what the run made
                error = e
                record.status, record.exit_code, record.message = "internal-error", 1, f"internal error: {e!r}"
            record.ended = utc_now()
            record.duration_s = round(time.monotonic() - clock, 3)
            finish(config, prepared, nb, record, renderer, stdout, stderr, error)
        finally:
            if prepared.driver is not None:
                prepared.driver.close()
            if kernel is not None:
                kernel.stop(now=False)  # asked to shut down already: it has exited while we wrote
    return record


def mark_stopped_cell(nb: Any, progress: Progress, error: NbrunnerError) -> None:
    """The cell a stop cut short: the one running, or the one that failed with the KeyboardInterrupt it caused."""
    index = progress.current
    if index is None:
        return
    status = nb.cells[index].metadata.get("nbrunner", {}).get("status")
    if progress.running or status in ("failed", "kernel-died"):
        finish_cell(nb.cells[index], error.status, time.monotonic() - progress.started_at)
        if isinstance(error, Stopped | GatewayError):
            error.cell_index = index


def execute_in_kernel(
    kernel: Kernel,
    nb: Any,
    config: RunConfig,
    prepared: Prepared,
    record: Record,
    progress: Progress,
    guard: StopGuard,
    stderr: IO[str],
    clock: float,
) -> None:
    driver = prepared.driver
    settings = Settings(
        cell_timeout=config.cell_timeout,
        deadline=clock + config.timeout if config.timeout else None,
        run_timeout=config.timeout,
        start_timeout=config.start_timeout,
        log_output=config.log_output,
        progress=stderr if config.progress else None,
        stop_requested=lambda: guard.reason,
    )
    cell_labels: dict[int, gateway.CellLabel] = {}
    cancelled: dict[str, Any] = {}
    cancel_once = threading.Lock()
    jvm_gone: threading.Event | None = None
    if driver is not None:
        code_cells = [(i, first_line(c.source)) for i, c in enumerate(nb.cells) if runs(c)]
        cell_labels = {label.index: label for label in gateway.labels(record.run_id, record.input, code_cells)}
        settings.startup_code = gateway.startup_code(
            list(cell_labels.values()), define_session=config.spark.define_session
        )

        def cancel_running_jobs() -> None:
            with cancel_once:  # the stop thread and the failure path may both get here
                if cancelled:
                    return
                label = cell_labels.get(progress.current) if progress.current is not None else None
                group = label.group if label else None
                cancelled["jobs"] = driver.cancel(group, reason=f"nbrunner {record.run_id} stopped")

        guard.on_stop.append(cancel_running_jobs)
        jvm_gone = watch_driver_jvm(guard)
    checkpointer = None
    if isinstance(prepared.targets.notebook, S3Uri) and config.storage.checkpoint_every > 0:
        from nbrunner.storage import Checkpointer

        partial = prepared.local.notebook.with_name(".checkpoint.ipynb")
        assert isinstance(partial, Path)  # noqa: S101 - the spool is local

        def snapshot() -> Path:
            notebook.write(partial, nb)
            return partial

        checkpointer = Checkpointer(prepared.targets.notebook, config.storage, snapshot, stderr)
        settings.on_change = checkpointer.maybe
    failed = True
    try:
        execute(nb, kernel.manager, settings, {"metadata": {"path": str(prepared.cwd)}}, progress)
        failed = False
    finally:
        if failed and driver is not None:
            cancel_running_jobs()  # a cell's Spark jobs do not stop with its kernel
            if jvm_gone is not None and driver.context_gone():
                # the SparkContext went away under the cell: if the JVM is going too, that is the real cause
                jvm_gone.wait(3.0)
        if failed:
            kernel.stop(now=True)
        else:
            kernel.request_stop()  # it exits while the results are written; run() waits for it
        if driver is not None:
            record.spark = driver.facts()
            if cancelled:
                record.spark["cancelled_jobs"] = cancelled["jobs"]
            for index, label in cell_labels.items():
                ids = driver.job_ids(label.group) if "nbrunner" in nb.cells[index].metadata else None
                if ids:
                    nb.cells[index].metadata["nbrunner"]["spark_job_ids"] = ids
        if checkpointer is not None:
            checkpointer.wait()
            record.storage = {"checkpoints": checkpointer.uploads}


def runs(cell: Any) -> bool:
    """Whether nbclient will execute ``cell``: code, not empty, not tagged skip-execution."""
    return bool(
        cell.cell_type == "code" and cell.source.strip() and "skip-execution" not in cell.metadata.get("tags", [])
    )


def watch_driver_jvm(guard: StopGuard) -> threading.Event | None:
    """spark-submit's JVM holds a pipe on our stdin that nothing writes to: EOF there means the JVM is gone.

    Returns an event set once it is gone (None when stdin is not such a pipe); the run is then stopped (exit 7).
    """
    try:
        if not stat.S_ISFIFO(os.fstat(0).st_mode):
            return None
    except OSError:
        return None
    gone = threading.Event()

    def wait_for_eof() -> None:
        try:
            while os.read(0, 65536):
                pass
        except OSError:
            pass
        guard.stop(GatewayError("the Spark driver JVM exited during the run (spark-submit was killed?)"), kill=True)
        gone.set()

    threading.Thread(target=wait_for_eof, name="nbrunner-driver-watch", daemon=True).start()
    return gone


def finish(
    config: RunConfig,
    prepared: Prepared,
    nb: Any,
    record: Record,
    renderer: Renderer | None,
    stdout: IO[str],
    stderr: IO[str],
    error: BaseException | None,
) -> None:
    """Write the notebook, its HTML and the record (last); store them; print the record on stdout."""
    notebook.remove_banners(nb)
    if record.exit_code not in (0, None):
        notebook.add_banner(nb, banner(record))
    if error is not None and not isinstance(error, NbrunnerError):
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__, file=stderr)
    html = None
    if renderer is not None:
        try:
            html = renderer.render(nb)
        except Exception as e:  # a rendering problem must not hide the run's own outcome
            warn(stderr, f"could not render HTML: {e}")
            record.html = None
    try:
        write_local(prepared.local, nb, html, record)
    except OSError as e:
        rescue = rescue_artifacts(prepared.local)
        storage_failed(record, f"could not write {prepared.local.notebook}: {e.strerror or e}", rescue, stderr)
        write_local(rescue, nb, html, record)
    else:
        if prepared.local != prepared.targets:
            from nbrunner import storage

            record.storage = {**(record.storage or {}), "endpoint": storage.endpoint(config.storage)}
            try:
                storage.store(prepared.local, prepared.targets, record, config.storage, stderr=stderr)
            except StorageError as e:
                storage_failed(record, str(e), prepared.local, stderr)
                write_local(prepared.local, nb, html, record)
    if record.exit_code:
        print(f"nbrunner: error: {record.message} (notebook: {record.output})", file=stderr, flush=True)
    try:
        # last, so it stays the last line even where stderr is merged into stdout (spark-submit does that)
        print(json.dumps(record.as_json(), ensure_ascii=False, separators=(",", ":")), file=stdout, flush=True)
    except BrokenPipeError:
        pass  # nobody reads stdout any more (the driver JVM is gone); the record is in the files


def write_local(local: Artifacts, nb: Any, html: str | None, record: Record) -> None:
    """The notebook, then its HTML, then the record: the record's presence means the set is complete."""
    assert isinstance(local.notebook, Path) and isinstance(local.html, Path) and isinstance(local.record, Path)  # noqa: S101
    nb.metadata["nbrunner"] = record.as_json()
    notebook.write(local.notebook, nb)
    if html is not None:
        notebook.write_atomic(local.html, html)
    notebook.write_atomic(local.record, json.dumps(record.as_json(), indent=2, ensure_ascii=False) + "\n")


def rescue_artifacts(local: Artifacts) -> Artifacts:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="nbrunner-rescue-"))
    return location.artifacts(folder / local.notebook.name)


def storage_failed(record: Record, message: str, kept: Artifacts, stderr: IO[str]) -> None:
    """Storing failed: never report success; say where the complete local copy is."""
    record.storage = {**(record.storage or {}), "error": message, "local_copy": str(kept.notebook)}
    if record.exit_code == 0:
        record.status, record.exit_code = StorageError.status, int(StorageError.exit_code)
        record.message = message
    print(f"nbrunner: error: {message}; the local copy is kept at {kept.notebook}", file=stderr, flush=True)
