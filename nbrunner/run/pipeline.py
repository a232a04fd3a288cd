"""One run, start to end: plan -> engine checked -> kernel -> cells executed with hooks -> outcome -> outputs.

Data flows one way through here. Whatever happens once the plan is made, the notebook (with everything done up to
the failure), its HTML rendering and the run record are written, then stored.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from nbrunner.config import RunConfig
from nbrunner.core import location
from nbrunner.core.hooks import CellHooks
from nbrunner.core.node import Notebook
from nbrunner.core.record import RunRecord, banner, count_cells, outcome, redact_record, utc_now, versions
from nbrunner.core.report import Reporter
from nbrunner.core.signals import StopGuard, StopSignal
from nbrunner.engines.base import Engine, EngineRun
from nbrunner.errors import GatewayError, InternalError, NbrunnerError, Skipped, Stopped, message_of
from nbrunner.notebook import document
from nbrunner.plan.build import Plan, plan_runs
from nbrunner.plan.resume import Resume
from nbrunner.run import outputs
from nbrunner.run.execute import IOPUB_DRAIN, Progress, Settings, execute, finish_cell
from nbrunner.run.kernel import Kernel
from nbrunner.run.progress import OutputLog, ProgressLines
from nbrunner.run.scraps import MAX_OUTPUTS, Scraps, scheduler_context
from nbrunner.status import Status


def run(config: RunConfig, reporter: Reporter, plan: Plan | None = None) -> tuple[RunRecord, BaseException | None]:
    """Do one run (``plan``: as planned already, with the rest of a chain). Returns its record and the error that
    ended it (None: success).

    Raises NbrunnerError only for what stops the run before anything ran (exit 2, 3, 7, 8, or a signal).
    """
    clock = time.monotonic()
    if plan is None:
        plan = plan_runs([config], reporter)[0]
    with StopGuard() as guard, ExitStack() as serial:
        engine = plan.engine if not config.prepare_only else None
        try:
            serial.enter_context(one_at_a_time(engine, reporter, guard))
            if engine is not None:
                engine.check()  # before any kernel starts: the engine answers and fits the kernel (else exit 7)
        except StopSignal as stop:
            raise guard.error(stop) from None
        try:
            return Run(plan, guard, reporter, clock).go(engine)
        except StopSignal as stop:  # in the instant between the plan and the kernel's start
            raise guard.error(stop) from None
        finally:
            if engine is not None:
                engine.end_run(in_chain=plan.chain is not None or plan.for_each is not None)


#: a lock per engine (its key) that takes one run at a time (``Engine.concurrent`` false: a Flink JVM sends its
#: callbacks to one Python process): runs the Python API starts in threads of one process wait for each other
_SERIAL: dict[object, threading.Lock] = {}
_SERIAL_LOCK = threading.Lock()


@contextmanager
def one_at_a_time(engine: Engine | None, reporter: Reporter, guard: StopGuard | None = None) -> Iterator[None]:
    """Hold the engine's lock for the run, where it takes one run at a time; a stop that comes while the run waits
    for it ends the wait (the run is stopped before anything ran)."""
    if engine is None or engine.concurrent:
        yield
        return
    with _SERIAL_LOCK:
        lock = _SERIAL.setdefault(engine.key, threading.Lock())
    held = lock.acquire(blocking=False)
    try:
        if not held:
            reporter.warning(
                f"another run is going on on this {engine.kind} engine, which takes one at a time: waiting"
            )
        while not held:
            if guard is not None and guard.reason is not None:
                raise guard.reason
            held = lock.acquire(timeout=0.25)
        yield
    finally:
        if held:
            lock.release()


def run_or_raise(config: RunConfig, reporter: Reporter, plan: Plan | None = None) -> RunRecord:
    """:func:`run`, for callers that want the record of a success or an error for anything else: the error that ended
    the run, carrying its record (``error.record``); a bug in nbrunner as an InternalError."""
    record, error = run(config, reporter, plan)
    if error is None:
        return record
    if not isinstance(error, NbrunnerError):
        wrapped = InternalError(message_of(error))
        wrapped.__cause__ = error
        error = wrapped
    error.record = record
    raise error


def notebook_of(plan: Plan) -> Any:
    """The NotebookNode to run: read, cleared of an earlier run, parameters injected, valid nbformat 4.5."""
    nb = document.reads(plan.data, source=str(plan.source))  # the plan checked the JSON already
    if plan.injected is not None:
        document.inject(nb, plan.injected)
    document.prepare(nb)
    return nb


class Run:
    def __init__(self, plan: Plan, guard: StopGuard, reporter: Reporter, clock: float):
        self.plan = plan
        self.guard = guard
        self.reporter = reporter
        self.clock = clock
        self.progress = Progress()
        self.record = RunRecord(
            run_id=plan.run_id,
            input=str(plan.source),
            input_sha256=plan.sha256,
            output=str(plan.targets.notebook),
            html=str(plan.targets.html) if plan.config.html else None,
            record=str(plan.targets.record),
            started=utc_now(),
            parameters=plan.values,
            context=scheduler_context(plan.config.env),
            secrets=plan.secret_refs,
            resumed_from=plan.resume.run_id if plan.resume is not None else None,
            chain=plan.chain,
            for_each=plan.for_each,
        )
        self.kept: list[str] = []  # the cells a resume did not run again
        self.scraps = Scraps()

    def go(self, engine: Engine | None) -> tuple[RunRecord, BaseException | None]:
        config, record = self.plan.config, self.record
        error: BaseException | None = None
        renderer = None
        kernel: Kernel | None = None
        try:
            if config.prepare_only:
                nb = notebook_of(self.plan)
            else:
                outputs.mark_started(self.plan)  # removed by outputs.finish once a record is written
                secrets, kernel_env = dict(self.plan.secrets), {}
                if engine is not None:
                    engine.prepare(location.stem(self.plan.source), config)  # overlaps the kernel's start
                    secrets.update(engine.kernel_secrets())  # never in the kernel's environment
                    kernel_env = engine.kernel_env()
                kernel = Kernel(
                    self.plan.kernel, env={**kernel_env, **self.run_env()}, cwd=self.plan.cwd,
                    secrets=secrets, hide=self.plan.secret_variables, relay=self.kernel_line, base=self.plan.config.env,
                    redactor=self.plan.redactor,
                )  # fmt: skip
                self.guard.running(kernel.signal)
                try:
                    kernel.start()  # the kernel boots while nbrunner builds the notebook
                except NbrunnerError as e:
                    error = e
                    kernel.stop(now=True)
                nb = notebook_of(self.plan)
                if self.plan.resume is not None:
                    self.kept = self.plan.resume.apply(nb)
                    self.scraps.keep(nb, self.kept)  # the kept cells' outputs are this run's outputs too
            if config.html:
                from nbrunner.notebook.render import Renderer

                renderer = Renderer()  # warms up on a thread while the kernel runs
            if kernel is not None and error is None:
                try:
                    self.execute(kernel, nb, engine)
                except Exception as e:  # every failure still writes the notebook below
                    error = e
            self.guard.finishing()
            try:
                error = self.conclude(nb, error, kernel)
            except Exception as e:  # a bug in nbrunner: say so, and still write what the run made
                error = e
                outcome(record, nb, e, stopped_early=False)
            record.ended = utc_now()
            record.duration_s = round(time.monotonic() - self.clock, 3)
            if record.exit_code and not isinstance(error, Skipped):
                document.add_banner(nb, banner(record))
            self.plan.redactor.notebook(nb)  # before anything is written or rendered from it
            for problem in document.repair(nb):
                self.reporter.warning(f"the notebook was not valid nbformat, repaired: {problem}")
            html = self.render(renderer, nb)
            error = outputs.finish(self.plan, nb, record, html, self.reporter, self.guard) or error
        finally:
            if kernel is not None:
                # asked to shut down already, it has exited while we wrote; after a stop signal it is not waited for
                late = kernel.stop(now=self.guard.signum is not None)
                if late:
                    self.reporter.warning(late)
        return record, error

    def kernel_line(self, stream: str, line: str) -> None:
        """A line the kernel process wrote to its own stdout/stderr (already redacted), to the reporter."""
        self.reporter.kernel_output(self.progress.current if self.progress.running else None, line)

    def run_env(self) -> dict[str, str]:
        """What the notebook can read of its run (papermill's --inject-paths idea)."""
        return {"NBRUNNER_RUN_ID": self.record.run_id, "NBRUNNER_INPUT": self.record.input,
                "NBRUNNER_OUTPUT": self.record.output}  # fmt: skip

    def execute(self, kernel: Kernel, nb: Notebook, engine: Engine | None) -> None:
        config = self.plan.config
        settings = Settings(
            cell_timeout=config.cell_timeout,
            deadline=self.clock + config.timeout if config.timeout else None,
            run_timeout=config.timeout,
            start_timeout=config.start_timeout,
            stop_requested=lambda: self.guard.reason,
            redactor=self.plan.redactor,
        )
        hooks: list[CellHooks] = [ProgressLines(self.reporter, len(nb.cells)), self.scraps]
        if self.reporter.wants_outputs:
            hooks.append(OutputLog(self.reporter, self.plan.redactor))
        enginerun: EngineRun | None = None
        if engine is not None:
            enginerun = engine.start_run(
                run_id=self.record.run_id, notebook=self.record.input, app_name=location.stem(self.plan.source), nb=nb,
                config=config,
            )  # fmt: skip
            settings.startup = enginerun.startup(self.guard)
            settings.on_startup = enginerun.ready
            stops = self.guard.before_interrupt if enginerun.cancel_before_interrupt else self.guard.on_stop
            stops.append(enginerun.cancel)  # this run's work only
            enginerun.watch(self.guard)
            hooks.append(enginerun)
        checkpointer = None
        if self.plan.stores_remotely and config.storage.checkpoint_every > 0:
            checkpointer = outputs.Checkpointer(self.plan, nb, self.reporter)
            hooks.append(checkpointer)
        failed = True
        try:
            execute(nb, kernel.manager, settings, self.progress, hooks, cwd=self.plan.cwd)
            failed = False
        finally:
            if failed:
                kernel.stop(now=True)
            else:
                kernel.request_stop()  # it exits while the results are written; go() waits for it
            if engine is not None and enginerun is not None:
                facts = enginerun.after_run(nb, failed=failed)
                self.record.engine = {"kind": engine.kind, **facts}
                self.record.spark = facts  # deprecated: the same facts, for readers of the last release
            if checkpointer is not None:
                checkpointer.wait()
                self.record.storage = {"checkpoints": checkpointer.uploads}
        late = enginerun.failure() if enginerun is not None else None
        if late is not None:  # every cell returned, but work one of them left running failed
            raise late

    def conclude(self, nb: Notebook, error: BaseException | None, kernel: Kernel | None) -> BaseException | None:
        """The run's outcome in the record and the cells: a stop wins over the error it caused."""
        record, guard = self.record, self.guard
        if guard.reason is not None and error is not None:
            error = guard.reason
            self.mark_stopped_cell(nb, guard.reason)
        if error is None and self.scraps.skip_reason is not None and self.progress.stopped_early:
            error = Skipped(f"skipped by the notebook: {self.scraps.skip_reason}", cell_index=self.scraps.skip_cell)
        record.outputs_lost = list(self.progress.outputs_lost)
        if record.outputs_lost:
            self.reporter.warning(
                f"cells {record.outputs_lost}: some outputs never arrived (the kernel was still sending them "
                f"{IOPUB_DRAIN} s after the cell ended); the notebook lacks them"
            )
        record.replies_lost = list(self.progress.replies_lost)
        if record.replies_lost:
            self.reporter.warning(
                f"cells {record.replies_lost}: the kernel finished them but their reply never came; each was taken "
                "as finished from its own outputs (the record says replies_lost)"
            )
        record.background_outputs = self.progress.background_outputs
        record.outputs, record.outputs_truncated = self.scraps.capped()
        if record.outputs_truncated:
            self.reporter.warning(
                self.plan.redactor.text(
                    f"outputs over the {MAX_OUTPUTS // 1024} KiB cap were dropped from the record and the scheduler's "
                    f"outputs: {', '.join(map(repr, record.outputs_truncated))} (the notebook keeps them)"
                )
            )
        if kernel is None:
            record.settle(Status.PREPARED, 0, None)
        else:
            record.versions = versions(nb, kernel.name)
            outcome(record, nb, error, stopped_early=self.progress.stopped_early)
            Resume.untag(nb, self.kept)
            document.mark_not_run(nb)
        if guard.signum is not None:
            record.signal = signal.Signals(guard.signum).name
        record.cells = count_cells(nb)
        redact_record(record, self.plan.redactor)
        if isinstance(error, NbrunnerError) and self.plan.redactor:
            error.args = tuple(self.plan.redactor.text(arg) if isinstance(arg, str) else arg for arg in error.args)
        return error

    def mark_stopped_cell(self, nb: Notebook, error: NbrunnerError) -> None:
        """The cell a stop cut short: the one running, or the one that failed with the KeyboardInterrupt it caused."""
        index = self.progress.current
        if index is None:
            return
        status = nb.cells[index].metadata.get("nbrunner", {}).get("status")
        if self.progress.running or status in (Status.FAILED, Status.KERNEL_DIED, error.status):
            finish_cell(nb.cells[index], error.status, time.monotonic() - self.progress.started_at)
            if isinstance(error, Stopped | GatewayError):
                error.cell_index = index

    def render(self, renderer: Any, nb: Notebook) -> str | None:
        if renderer is None:
            return None
        try:
            return str(renderer.render(nb, title=self.plan.source.name))
        except Exception as e:  # a rendering problem must not hide the run's own outcome
            self.reporter.warning(f"could not render HTML: {e}")
            self.record.html = None
            return None
