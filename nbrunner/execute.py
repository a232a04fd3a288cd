"""Execute a notebook with nbconvert's ExecutePreprocessor in a kernel nbrunner started, and say what happened.

nbclient's errors are translated here, and only here, into nbrunner's: CellExecutionError -> CellFailed (or a
clean stop for ``sys.exit(0)``), CellTimeoutError -> RunTimeout, DeadKernelError -> KernelDied.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

from nbrunner.errors import CellFailed, GatewayError, KernelDied, NbrunnerError, RunTimeout

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def first_line(source: str, width: int = 80) -> str:
    """The first line of code (comments skipped when there is code), shortened to ``width``."""
    lines = [text.strip() for text in source.splitlines() if text.strip()]
    line = next((text for text in lines if not text.startswith("#")), lines[0] if lines else "")
    return line if len(line) <= width else line[: width - 1] + "…"


@dataclass
class Settings:
    cell_timeout: float | None = None
    deadline: float | None = None  # time.monotonic() value at which the whole run times out
    run_timeout: float | None = None
    start_timeout: float = 60.0
    log_output: bool = False
    progress: IO[str] | None = None  # where per-cell lines and streamed outputs go (stderr)
    stop_requested: Callable[[], NbrunnerError | None] | None = None  # why the run must stop, once it must
    startup_code: str | None = None  # run silently in the kernel before the first cell (Spark set-up)
    on_change: Callable[[], None] | None = None  # the notebook changed (a cell started or ended, an output came)


@dataclass
class Progress:
    """What the engine knows at any moment: the cell it is in and the cells it has done."""

    current: int | None = None  # the last code cell started
    running: bool = False  # whether that cell is still running
    started_at: float = 0.0
    done: int = 0
    stopped_early: bool = False  # sys.exit(0) in a cell
    timings: dict[int, float] = field(default_factory=dict)


def _make_executor(settings: Settings, progress: Progress, total: int) -> Any:
    from nbconvert.preprocessors import ExecutePreprocessor

    out = settings.progress
    pending: dict[tuple[int, str], str] = {}

    class Executor(ExecutePreprocessor):
        """ExecutePreprocessor that streams outputs, cell-prefixed, when --log-output is on."""

        def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
            result = super().output(outs, msg, display_id, cell_index)
            if settings.log_output and out is not None:
                _log_message(out, pending, cell_index, msg)
            if settings.on_change is not None:
                settings.on_change()
            return result

    executor = Executor(  # type: ignore[no-untyped-call]
        timeout_func=lambda cell: _cell_timeout(settings),
        interrupt_on_timeout=False,
        startup_timeout=int(max(1, settings.start_timeout)),
        shutdown_kernel="immediate",
        record_timing=True,
        store_widget_state=True,
        on_cell_execute=lambda cell, cell_index: _cell_start(settings, progress, cell, cell_index),
        on_cell_executed=lambda cell, cell_index, execute_reply: _cell_end(
            settings, progress, cell, cell_index, execute_reply, total
        ),
    )
    return executor


def _cell_timeout(settings: Settings) -> float | None:
    limits = []
    if settings.cell_timeout:
        limits.append(settings.cell_timeout)
    if settings.deadline is not None:
        # nbclient treats 0 as "no timeout": a run already past its deadline gets a tiny one instead
        limits.append(max(0.001, settings.deadline - time.monotonic()))
    return min(limits) if limits else None


def _cell_start(settings: Settings, progress: Progress, cell: Any, index: int) -> None:
    reason = settings.stop_requested() if settings.stop_requested is not None else None
    if reason is not None:
        raise reason  # a stop came between cells: start no more
    progress.current = index
    progress.running = True
    progress.started_at = time.monotonic()
    cell.metadata["nbrunner"] = {"status": "running", "start": utc_now()}
    if settings.on_change is not None:
        settings.on_change()


def _cell_end(settings: Settings, progress: Progress, cell: Any, index: int, reply: Any, total: int) -> None:
    seconds = time.monotonic() - progress.started_at
    content = (reply or {}).get("content", {})
    status = "ok" if content.get("status") == "ok" else "failed"
    if status == "failed" and content.get("ename") == "SystemExit" and content.get("evalue") in ("", "0", "None"):
        status = "exited"
    finish_cell(cell, status, seconds)
    progress.timings[index] = seconds
    progress.done += 1
    progress.running = False
    if settings.on_change is not None:
        settings.on_change()
    if settings.progress is not None:
        count = cell.get("execution_count")
        label = f"In [{count}]" if count is not None else ""
        print(
            f"[nbrunner] cell {index}/{total - 1} {status} {seconds:.2f}s {label} {first_line(cell.source, 50)}",
            file=settings.progress,
            flush=True,
        )


def finish_cell(cell: Any, status: str, seconds: float | None = None) -> None:
    meta = cell.metadata.setdefault("nbrunner", {})
    meta["status"] = status
    meta["end"] = utc_now()
    if seconds is not None:
        meta["duration"] = round(seconds, 6)


def _log_message(out: IO[str], pending: dict[tuple[int, str], str], index: int, msg: dict[str, Any]) -> None:
    """Write a cell's output to the log, line by line, prefixed with the cell index; tqdm's \\r runs collapsed."""
    kind = msg.get("msg_type")
    content = msg.get("content", {})
    if kind == "stream":
        key = (index, str(content.get("name", "stdout")))
        text = pending.pop(key, "") + str(content.get("text", ""))
        *lines, rest = text.split("\n")
        if rest:
            pending[key] = rest
        for line in lines:
            print(f"[cell {index}] {line.rsplit(chr(13), 1)[-1]}", file=out, flush=True)
    elif kind in ("execute_result", "display_data"):
        data = content.get("data", {})
        text = data.get("text/plain")
        if text:
            for line in str(text).splitlines():
                print(f"[cell {index}] {line}", file=out, flush=True)
    elif kind == "error":
        for line in _ANSI.sub("", "\n".join(content.get("traceback", []))).splitlines():
            print(f"[cell {index}] {line}", file=out, flush=True)


def execute(nb: Any, km: Any, settings: Settings, resources: dict[str, Any], progress: Progress) -> None:
    """Run every cell of ``nb`` in place in the started kernel ``km``. Raises NbrunnerError on any failure.

    ``nb`` holds all outputs up to the point of failure, whatever happens.
    """
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    total = len(nb.cells)
    executor = _make_executor(settings, progress, total)
    if settings.startup_code is not None:
        executor.on_notebook_start = _startup(executor, settings.startup_code, settings.progress)
    try:
        executor.preprocess(nb, resources, km=km)
    except CellExecutionError as e:
        index = progress.current
        if index is None:
            raise
        ename, evalue = str(e.ename), str(e.evalue)
        if ename == "SystemExit" and evalue in ("", "0", "None"):
            progress.stopped_early = True
            return
        code = _exit_status(evalue) if ename == "SystemExit" else None
        what = f"sys.exit({evalue})" if ename == "SystemExit" else f"{ename}: {_first(evalue)}"
        raise CellFailed(
            f"cell {index} failed: {what}", cell_index=index, ename=ename, evalue=evalue, sys_exit_code=code
        ) from e
    except CellTimeoutError as e:
        index = progress.current
        seconds = time.monotonic() - progress.started_at
        if index is not None:
            finish_cell(nb.cells[index], "timeout", seconds)
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
            finish_cell(nb.cells[index], "kernel-died", time.monotonic() - progress.started_at)
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


def _startup(executor: Any, code: str, out: IO[str] | None) -> Callable[..., Any]:
    """An nbclient on_notebook_start hook that runs ``code`` silently; its failure is a GatewayError (exit 7)."""

    def show(msg: dict[str, Any]) -> None:
        if out is not None and msg.get("msg_type") == "stream":
            for line in str(msg["content"].get("text", "")).splitlines():
                print(f"[spark] {line}", file=out, flush=True)

    async def hook(notebook: Any) -> None:
        started = time.monotonic()
        reply = await executor.kc.execute_interactive(
            code, silent=True, store_history=False, allow_stdin=False, output_hook=show
        )
        content = reply.get("content", {})
        if content.get("status") != "ok":
            what = f"{content.get('ename')}: {_first(str(content.get('evalue', '')))}"
            raise GatewayError(f"could not set up Spark in the kernel: {what}")
        if out is not None:
            print(f"[nbrunner] spark ready {time.monotonic() - started:.2f}s", file=out, flush=True)

    return hook


def _first(text: str) -> str:
    return (text.splitlines() or [""])[0][:200]


def _exit_status(evalue: str) -> int:
    try:
        return int(evalue)
    except ValueError:
        return 1  # sys.exit("message") exits 1, as Python does
