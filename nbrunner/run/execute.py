"""Execute a notebook with nbconvert's ExecutePreprocessor in a kernel nbrunner started, and say what happened.

Whatever watches the run (progress lines, streamed outputs, checkpoints, Spark) is a :class:`CellHooks`, called on
cell start, each output and cell end, the way nbclient's ``on_cell_*`` hooks are. nbclient's errors are translated
here, and only here, into nbrunner's: CellExecutionError -> CellFailed (or a clean stop for ``sys.exit(0)``),
CellTimeoutError -> RunTimeout, DeadKernelError -> KernelDied.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbrunner.core.hooks import CellHooks
from nbrunner.core.node import Cell, Notebook
from nbrunner.core.record import utc_now
from nbrunner.core.secret_values import Redactor
from nbrunner.errors import CellFailed, GatewayError, KernelDied, NbrunnerError, RunTimeout, error_line
from nbrunner.status import Status

#: ``sys.exit(value)`` with these values ends the process with status 0: the run stops there, as a success
SUCCESS_EXITS = ("", "0", "None", "False")
#: seconds nbclient reads a cell's IOPub backlog after its reply before it gives up (its default, 4 s, dropped the
#: tail of output floods); a loss past this is said, never silent
IOPUB_DRAIN = 300
_IOPUB_GAVE_UP = "Timeout waiting for IOPub output"


@dataclass
class Settings:
    cell_timeout: float | None = None
    deadline: float | None = None  # time.monotonic() value at which the whole run times out
    run_timeout: float | None = None
    start_timeout: float = 60.0
    stop_requested: Callable[[], NbrunnerError | None] | None = None  # why the run must stop, once it must
    # before the first cell, in order: code run silently in the kernel (Spark set-up), or a call to wait for something
    startup: Sequence[str | Callable[[], None]] = ()
    on_startup: Callable[[], None] | None = None  # the start-up steps are done
    redactor: Redactor | None = None  # secrets' values out of every output and message


@dataclass
class Progress:
    """What the engine knows at any moment: the cell it is in and the cells it has done."""

    current: int | None = None  # the last code cell started
    running: bool = False  # whether that cell is still running
    started_at: float = 0.0
    done: int = 0
    stopped_early: bool = False  # sys.exit(0) in a cell
    outputs_lost: list[int] = field(default_factory=list)  # cells whose outputs were not all read
    replies_lost: list[int] = field(default_factory=list)  # cells the kernel finished whose reply never came
    background_outputs: int = 0  # output messages of background threads, kept in the cell then running


def finish_cell(cell: Cell, status: str, seconds: float | None = None) -> None:
    meta = cell.metadata.setdefault("nbrunner", {})
    meta["status"] = status
    meta["end"] = utc_now()
    if seconds is not None:
        meta["duration"] = round(seconds, 6)


def reply_lost(cell: Cell, reply: dict[str, Any]) -> None:
    """The kernel finished ``cell`` but its reply never came (:mod:`nbrunner.run.channels`): the cell failed if it
    showed an error of its own (one an Output widget captured is not), else it is taken as finished."""
    cell.metadata.setdefault("nbrunner", {})["reply_lost"] = True
    error = next((out for out in cell.get("outputs", []) if out.get("output_type") == "error"), None)
    if error is not None:
        reply["content"].update(status="error", ename=error.get("ename", ""), evalue=error.get("evalue", ""),
                                traceback=list(error.get("traceback", [])))  # fmt: skip


def cell_status(cell: Cell, reply: Any) -> str:
    content = (reply or {}).get("content", {})
    if content.get("status") == "ok":
        return Status.OK
    if content.get("ename") == "SystemExit" and content.get("evalue") in SUCCESS_EXITS:
        return Status.EXITED
    if "raises-exception" in cell.metadata.get("tags", []):
        cell.metadata.setdefault("nbrunner", {})["expected_error"] = content.get("ename")
        return Status.OK  # the notebook says this cell raises: it did, as expected (nbclient goes on too)
    return Status.FAILED


class _Engine:
    def __init__(self, settings: Settings, progress: Progress, hooks: Sequence[CellHooks]):
        self.settings = settings
        self.progress = progress
        self.hooks = hooks
        self.lost = False  # the running cell's outputs were not all read (see gave_up_reading)

    def timeout(self, cell: Cell) -> float | None:
        limits = []
        if self.settings.cell_timeout:
            limits.append(self.settings.cell_timeout)
        if self.settings.deadline is not None:
            # nbclient treats 0 as "no timeout": a run already past its deadline gets a tiny one instead
            limits.append(max(0.001, self.settings.deadline - time.monotonic()))
        return min(limits) if limits else None

    def gave_up_reading(self) -> None:
        """nbclient stopped reading the running cell's outputs before the kernel was idle: some are lost."""
        self.lost = True

    def started(self, cell: Cell, cell_index: int, **_: Any) -> None:
        reason = self.settings.stop_requested() if self.settings.stop_requested is not None else None
        if reason is not None:
            raise reason  # a stop came between cells: start no more
        if self.settings.deadline is not None and time.monotonic() >= self.settings.deadline:
            # the deadline passed while a reply was already queued: no cell starts after it
            raise RunTimeout(
                f"the run exceeded --timeout {self.settings.run_timeout or 0:g}s before cell {cell_index}",
                scope="run", seconds=self.settings.run_timeout or 0.0,
            )  # fmt: skip
        self.progress.current = cell_index
        self.progress.running = True
        self.progress.started_at = time.monotonic()
        cell.metadata["nbrunner"] = {"status": Status.RUNNING, "start": utc_now()}
        for hook in self.hooks:
            hook.cell_started(cell_index, cell)

    def finished(self, cell: Cell, cell_index: int, execute_reply: Any, **_: Any) -> None:
        seconds = time.monotonic() - self.progress.started_at
        if (execute_reply or {}).get("metadata", {}).get("nbrunner", {}).get("reply_lost"):
            reply_lost(cell, execute_reply)
            self.progress.replies_lost.append(cell_index)
        status = cell_status(cell, execute_reply)
        reason = self.settings.stop_requested() if self.settings.stop_requested is not None else None
        if reason is not None and status == Status.FAILED:
            status = reason.status  # the KeyboardInterrupt a stop caused: the cell was stopped, not failed
        if self.lost:
            self.lost = False
            cell.metadata.setdefault("nbrunner", {})["outputs_lost"] = True
            self.progress.outputs_lost.append(cell_index)
        self.end(index=cell_index, cell=cell, status=status, seconds=seconds)

    def end(self, *, index: int, cell: Cell, status: str, seconds: float) -> None:
        """A cell is done, however it ended: its status, then every hook (progress lines included)."""
        finish_cell(cell, status, seconds)
        self.progress.done += 1
        self.progress.running = False
        for hook in self.hooks:
            hook.cell_finished(index, cell, status, seconds)

    def output(self, index: int, cell: Cell, msg: dict[str, Any]) -> None:
        if msg.get("metadata", {}).get("nbrunner", {}).get("background"):
            self.progress.background_outputs += 1
            cell.metadata.setdefault("nbrunner", {})["background_output"] = True
        for hook in self.hooks:
            hook.cell_output(index, msg)


def _make_executor(engine: _Engine) -> Any:
    from nbrunner.notebook.loading import load_nbconvert

    load_nbconvert()
    from nbconvert.preprocessors import ExecutePreprocessor

    class Executor(ExecutePreprocessor):
        def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
            if engine.settings.redactor:
                msg = engine.settings.redactor.message(msg)
            result = super().output(outs, msg, display_id, cell_index)
            engine.output(cell_index, self.nb.cells[cell_index], msg)
            return result

    import logging

    class GaveUp(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if _IOPUB_GAVE_UP in record.getMessage():
                engine.gave_up_reading()

    # this run's own logger for nbclient's messages (its warning is the only sign that outputs were lost), under the
    # nbrunner logger but not registered globally: it goes with the executor
    class Redacted(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if engine.settings.redactor:  # nbclient's messages can quote what the kernel sent
                record.msg, record.args = engine.settings.redactor.text(record.getMessage()), ()
            return True

    log = logging.Logger("nbrunner.nbclient", logging.WARNING)  # its debug lines dump whole kernel messages
    log.parent = logging.getLogger("nbrunner")
    log.addFilter(Redacted())
    log.addHandler(GaveUp())
    return Executor(  # type: ignore[no-untyped-call]
        log=log,
        iopub_timeout=IOPUB_DRAIN,
        timeout_func=engine.timeout,
        interrupt_on_timeout=False,
        startup_timeout=int(max(1, engine.settings.start_timeout)),
        shutdown_kernel="immediate",
        record_timing=True,
        store_widget_state=True,
        on_cell_execute=engine.started,
        on_cell_executed=engine.finished,
    )


def execute(
    nb: Notebook, km: Any, settings: Settings, progress: Progress, hooks: Sequence[CellHooks], *, cwd: Path
) -> None:
    """Run every cell of ``nb`` in place in the started kernel ``km``. Raises NbrunnerError on any failure.

    ``nb`` holds all outputs up to the point of failure, whatever happens.
    """
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    from nbrunner.run.channels import client_class

    engine = _Engine(settings, progress, hooks)
    executor = _make_executor(engine)
    km.client_factory = client_class()  # a lost reply never hangs the run; background threads' output kept
    if settings.startup:
        executor.on_notebook_start = _startup(executor, settings.startup, settings.on_startup)
    try:
        executor.preprocess(nb, {"metadata": {"path": str(cwd)}}, km=km)
    except CellExecutionError as e:
        index = progress.current
        if index is None:
            raise
        ename, evalue = str(e.ename), str(e.evalue)
        if settings.redactor:
            evalue = settings.redactor.text(evalue)
        if ename == "SystemExit" and evalue in SUCCESS_EXITS:
            progress.stopped_early = True
            return
        code = _exit_status(evalue) if ename == "SystemExit" else None
        what = f"sys.exit({evalue})" if ename == "SystemExit" else f"{ename}: {error_line(evalue)}"
        raise CellFailed(
            f"cell {index} failed: {what}", cell_index=index, ename=ename, evalue=evalue, sys_exit_code=code
        ) from e
    except CellTimeoutError as e:
        index = progress.current
        if index is not None:
            seconds = time.monotonic() - progress.started_at
            engine.end(index=index, cell=nb.cells[index], status=Status.TIMEOUT, seconds=seconds)
        run_deadline_hit = settings.deadline is not None and time.monotonic() >= settings.deadline - 0.05
        if run_deadline_hit and settings.run_timeout is not None:
            raise RunTimeout(
                f"the run exceeded --timeout {settings.run_timeout:g}s in cell {index}",
                scope="run",
                seconds=settings.run_timeout,
                cell_index=index,
            ) from e
        limit = settings.cell_timeout or 0.0
        raise RunTimeout(
            f"cell {index} exceeded --cell-timeout {limit:g}s", scope="cell", seconds=limit, cell_index=index
        ) from e
    except DeadKernelError as e:
        index = progress.current
        if index is not None:
            engine.end(index=index, cell=nb.cells[index], status=Status.KERNEL_DIED,
                       seconds=time.monotonic() - progress.started_at)  # fmt: skip
        where = f" in cell {index}" if index is not None else ""
        raise KernelDied(f"the kernel died{where}", cell_index=index) from e
    except NbrunnerError:
        raise
    except RuntimeError as e:
        if progress.current is None:  # raised while waiting for the kernel to be ready
            raise KernelDied(
                f"the kernel did not become ready (--start-timeout {settings.start_timeout:g}s): {e}"
            ) from e
        raise
    finally:
        # what the widgets showed, for every outcome (nbclient writes it only after the last cell succeeded)
        if getattr(executor, "widget_state", None):
            executor.set_widgets_metadata()


def _startup(
    executor: Any, steps: Sequence[str | Callable[[], None]], done: Callable[[], None] | None
) -> Callable[..., Any]:
    """An nbclient on_notebook_start hook that takes the steps in order: code is run silently (its failure is a
    GatewayError, exit 7), a callable is called (what it raises ends the run)."""

    async def hook(notebook: Any) -> None:
        for step in steps:
            if callable(step):
                step()
                continue
            reply = await executor.kc.execute_interactive(
                step, silent=True, store_history=False, allow_stdin=False, output_hook=lambda msg: None
            )
            content = reply.get("content", {})
            if content.get("status") != "ok":
                what = f"{content.get('ename')}: {error_line(str(content.get('evalue', '')))}"
                raise GatewayError(f"could not set up the engine in the kernel: {what}")
        if done is not None:
            done()

    return hook


def _exit_status(evalue: str) -> int:
    try:
        return int(evalue)
    except ValueError:
        return 1  # sys.exit("message") exits 1, as Python does
