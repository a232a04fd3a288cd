"""Flink during a run, as engine hooks: the kernel's ``t_env`` / ``env`` and job listener, each cell's job name and
job ids, cancelling this run's jobs (on a cell timeout, a stop, a failure), and the facts for the record.

The JVM side is :class:`~nbrunner.engines.flink.jvm.FlinkJvm`'s; this module decides when."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from nbrunner.core.node import Cell, Notebook
from nbrunner.core.signals import StopGuard
from nbrunner.engines.base import EngineRun
from nbrunner.engines.flink.jvm import FINAL, FlinkJvm, Job
from nbrunner.engines.parent import watch_parent_jvm
from nbrunner.errors import CellFailed, GatewayError, NbrunnerError
from nbrunner.notebook.document import runs
from nbrunner.status import Status

#: seconds the jobs nbrunner cancelled get to be over, and those a successful run left running get to end, before
#: the record takes their states
CANCEL_WAIT = 10.0
END_WAIT = 5.0


def job_name(run_id: str, app_name: str, index: int) -> str:
    """``pipeline.name`` of a cell's jobs: the run, the notebook and the cell, as Flink's UI and REST list them."""
    return f"nbrunner {app_name} cell {index} [{run_id}]"


def cell_of(name: str) -> int:
    """The cell a job name of :func:`job_name` gives (-1 where it gives none)."""
    found = re.search(r" cell (\d+) \[[^\]]*\]$", name)
    return int(found.group(1)) if found else -1


class FlinkRun(EngineRun):
    """One run's Flink: start-up code, per-cell job names and ids, cancellation, facts."""

    cancel_before_interrupt = True  # a blocked wait() returns once its job is cancelled; the interrupt alone would
    # leave the job running

    def __init__(self, jvm: FlinkJvm, *, run_id: str, app_name: str, nb: Notebook, mode: str = "batch"):
        self.jvm = jvm
        self.mode = mode
        self.names = {i: job_name(run_id, app_name, i) for i, cell in enumerate(nb.cells) if runs(cell)}
        self.run_id = run_id
        try:
            self.board, self.board_id = jvm.new_board()
        except Exception as e:  # the JVM went between the check and the run (killed: no signal reached nbrunner)
            raise GatewayError(f"the flink run JVM stopped answering before the run ({type(e).__name__})") from e
        self.known: dict[str, Job] = {}
        self.clients: dict[str, Any] = {}  # job id -> its JobClient (a Py4J proxy)
        self.left_running: set[str] = set()  # jobs still running when the cell that started them ended
        self.cancelled: list[str] | None = None
        self._lock = threading.RLock()  # the stop thread cancels while the run's thread reads the board

    def startup(self, guard: StopGuard) -> list[str | Callable[[], None]]:
        """What the kernel runs before the first cell: ``env``, ``t_env``, the job listener, the per-cell names."""
        names = json.dumps([[i, name] for i, name in self.names.items()], ensure_ascii=False)
        module = "nbrunner.engines.flink.in_kernel"
        return [f"__import__({module!r}).engines.flink.in_kernel.start({self.board_id!r}, {names}, {self.mode!r})\n"]

    def watch(self, guard: StopGuard) -> None:
        """flink run's JVM gone (EOF on the stdin pipe it holds): the run is stopped (exit 7)."""
        watch_parent_jvm(guard, "the flink run JVM exited during the run (flink run was killed?)")

    def cell_finished(self, index: int, cell: Cell, status: str, seconds: float) -> None:
        if status == Status.TIMEOUT:
            self.cancel()  # now, before the kernel is interrupted: a job outlives its cell
        with self._lock:
            self.record_jobs(index, cell)
            self.left_running.update(job.id for job in self.known.values() if job.cell == index and
                                     job.state not in FINAL)  # fmt: skip

    def refresh(self) -> None:
        """The jobs the kernel's listener put on the board since the last look, and the states of those not over
        yet (a job's final state is asked once, whatever the number of cells)."""
        with self._lock:
            for job_id, (cell, client, own_name) in self.jvm.jobs(self.board, known=self.clients).items():
                self.clients[job_id] = client
                self.known[job_id] = Job(job_id, cell, None if own_name else self.names.get(cell))
            for job in self.known.values():
                if job.state not in FINAL:
                    job.state = self.jvm.state(self.clients[job.id], job.id) or job.state

    def record_jobs(self, index: int, cell: Cell, *, refresh: bool = True) -> None:
        with self._lock:
            if refresh:
                self.refresh()
            mine = {job.id: job.state for job in self.known.values() if job.cell == index}
        meta = cell.metadata.get("nbrunner")
        if mine and meta is not None:
            meta["flink_jobs"] = mine

    def cancel(self) -> None:
        """Cancel every job of this run that still runs (never another's: they are on this run's board only), or
        whose state nobody can tell; from the stop thread, on a cell timeout, and after a failure, each time with
        the board read again: a cell can start a job after a first cancel (a loop that goes on past a cancelled
        query), and the last look, once the kernel is gone, finds it."""
        with self._lock:
            if self.cancelled is None:
                self.cancelled = []
            self.refresh()
            for job in self.known.values():
                if not job.cancelled and job.state not in FINAL and self.jvm.cancel(self.clients[job.id], job.id):
                    job.cancelled = True
                    self.cancelled.append(job.id)
            if self.jvm.answering:
                return
            # -t remote, the client JVM going: what the board could not say, the cluster can (by the run's name)
            for job_id, name in self.jvm.running_named(f"[{self.run_id}]").items():
                if job_id not in self.known and self.jvm.cancel_by_id(job_id):
                    self.known[job_id] = Job(job_id, cell_of(name), name, cancelled=True)
                    self.clients[job_id] = None
                    self.cancelled.append(job_id)

    def settle(self, jobs: Collection[str], wait: float) -> None:
        """Until these jobs are over (at most ``wait`` seconds, asked every 0.1 s): their final states for the
        record."""
        deadline = time.monotonic() + wait
        while jobs and time.monotonic() < deadline:
            self.refresh()
            with self._lock:
                if all(self.known[job].state in FINAL for job in jobs if job in self.known):
                    return
            time.sleep(0.1)

    def after_run(self, nb: Notebook, *, failed: bool) -> dict[str, Any]:
        """Once the cells are done: cancel what a failure left running; every job's final state for the record.
        A job whose results the last cell collected finishes a moment after the cell: jobs still running get
        :data:`END_WAIT` seconds to end; one that outlives it (a streaming job the notebook left running) is
        recorded as it is then."""
        if failed:
            self.cancel()  # the board and the states read afresh
            self.settle(list(self.cancelled or []), CANCEL_WAIT)
        else:
            self.refresh()
            with self._lock:
                running = [job.id for job in self.known.values() if job.state not in FINAL]
            self.settle(running, END_WAIT)
        with self._lock:
            for cell in {job.cell for job in self.known.values()}:
                if 0 <= cell < len(nb.cells):
                    self.record_jobs(cell, nb.cells[cell], refresh=False)
            jobs = [job.as_json() for job in self.known.values()]
        facts: dict[str, Any] = {
            "version": self.jvm.version,
            "target": self.jvm.target,
            "mode": self.mode,
            "gateway_port": self.jvm.port,
            "jobs": jobs,
        }
        cluster = self.jvm.cluster()
        if cluster:
            facts["cluster"] = cluster
        if self.cancelled:
            facts["cancelled_jobs"] = list(self.cancelled)
        return facts

    def failure(self) -> NbrunnerError | None:
        """A job a cell left running (an ``INSERT`` without ``.wait()``) that failed before the run ended: the run
        failed, in that cell (exit 4), though every cell returned. A job that failed within its cell is the cell's
        business (it raised, or chose to go on)."""
        with self._lock:
            failed = [job for job in self.known.values() if job.id in self.left_running and job.state == "FAILED"]
        if not failed:
            return None
        job = failed[0]
        cause = self.jvm.failure_cause(self.clients[job.id])
        what = f"its Flink job {job.id} failed after the cell returned" + (f": {cause}" if cause else "")
        return CellFailed(f"cell {job.cell}: {what}", cell_index=job.cell, ename="FlinkJobFailed", evalue=what)
