"""Spark Connect during a run, as engine hooks: the kernel's session, each cell's tag, interrupts, the server's facts.

The protocol side is :class:`nbrunner.engines.connect.session.Session`'s; this module decides when.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from nbrunner.core.node import Cell, Notebook
from nbrunner.core.signals import StopGuard
from nbrunner.engines.base import EngineRun
from nbrunner.engines.connect.session import URL_NAME, Session, tag_of
from nbrunner.notebook.document import runs
from nbrunner.status import Status

#: seconds a stopped or failed run waits for the server to end the operations it interrupted, so that the record
#: says how they ended: usually well under a second; a loaded server (CI's shared cores) took over 5
SETTLE_WAIT = 15.0


class ConnectRun(EngineRun):
    """One run's Spark Connect session: start-up code, per-cell tags, interrupts on a stop or failure, facts."""

    cancel_before_interrupt = True  # the server's operations, before the kernel's client cancels them itself

    def __init__(self, session: Session, *, run_id: str, nb: Notebook):
        self.session = session
        self.tags = {i: tag_of(run_id, i) for i, cell in enumerate(nb.cells) if runs(cell)}
        self.current: int | None = None
        self.running = False  # whether the current cell is still running
        self.interrupted: list[str] | None = None
        self.cut: int | None = None  # the cell that was running when its operations were interrupted
        self._once = threading.Lock()
        self.facts: dict[str, Any] = {}
        self.owner: dict[str, int] = {}  # operation id -> the cell that ran it

    def startup(self, guard: StopGuard) -> list[str | Callable[[], None]]:
        """What the kernel runs before the first cell: ``spark`` on the session, ``sc`` a stand-in, the tag hook."""
        tags = json.dumps(list(self.tags.values()))
        module = "nbrunner.engines.connect.in_kernel"
        return [f"__import__({module!r}).engines.connect.in_kernel.start({URL_NAME!r}, {tags})\n"]

    def ready(self) -> None:
        self.facts = self.session.facts()

    def cell_started(self, index: int, cell: Cell) -> None:
        self.current, self.running = index, True
        if index in self.tags and "nbrunner" in cell.metadata:
            cell.metadata["nbrunner"]["spark_tag"] = self.tags[index]

    def cell_finished(self, index: int, cell: Cell, status: str, seconds: float) -> None:
        if status == Status.TIMEOUT:
            # now, while the kernel is untouched: stopping it interrupts it first (jupyter_client), and its client,
            # interrupted mid-query, cancels the operation itself, so that a later interrupt would find none
            self.cancel()
        self.running = False
        self.record_operations(index, cell)

    def record_operations(self, index: int, cell: Cell, found: dict[str, str] | None = None) -> None:
        """The operations the session gained since the last cell are this cell's (cells run one at a time, and
        nbrunner's own calls are not operations): their ids and states (``found``, else asked now) into the cell's
        metadata."""
        found = self.session.operations() if found is None else found
        if not found:
            return
        for op in found:
            self.owner.setdefault(op, index)
        mine = {op: state for op, state in found.items() if self.owner[op] == index}
        meta = cell.metadata.get("nbrunner")
        if mine and meta is not None:
            meta["spark_operations"] = mine  # states as now: after a failure, once the interrupts settled

    def cancel(self) -> None:
        """Interrupt the running cell's operations, then the session's others; once, from the stop thread or the
        failure path (a kernel killed mid-query leaves it running on the server)."""
        with self._once:
            if self.interrupted is not None:
                return
            tag = self.tags.get(self.current) if self.current is not None else None
            self.cut = self.current if self.running else None
            self.interrupted = self.session.interrupt(tag)

    def final_states(self, nb: Notebook, *, failed: bool) -> None:
        """Every cell's operations with their final states (a cell's end can see its last one still terminating),
        and the running cell's own when the run failed in it."""
        found = self.session.operations()
        if failed and self.current is not None:
            self.record_operations(self.current, nb.cells[self.current], found)
        for op, index in self.owner.items():
            meta = nb.cells[index].metadata.get("nbrunner") if index < len(nb.cells) else None
            if found and op in found and meta is not None and op in meta.get("spark_operations", {}):
                meta["spark_operations"][op] = found[op]

    def settle(self, wait: float = SETTLE_WAIT) -> None:
        """Until no operation of the session is running or terminating (at most ``wait`` seconds)."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            found = self.session.operations()
            if not found or not ({"running", "terminating"} & set(found.values())):
                return
            time.sleep(0.05)

    def after_run(self, nb: Notebook, *, failed: bool) -> dict[str, Any]:
        """Once the cells are done: interrupt what a failure left running; the facts for the record."""
        if failed:
            self.cancel()
            self.settle()
        self.final_states(nb, failed=failed)
        now = self.session.facts()
        if self.session.stopped:  # the notebook called spark.stop(): keep the facts read at the start
            facts = {**self.facts, "session_stopped_by_notebook": True}
            self.session.released = True  # nothing left to release
        else:
            facts = {**self.facts, **now}
        interrupted = self.interrupted_operations(nb)
        if interrupted:
            facts["interrupted_operations"] = interrupted
        return facts

    def interrupted_operations(self, nb: Notebook) -> list[str]:
        """The operations the stop interrupted: those the server said it interrupted, and the cut cell's that ended
        cancelled (on a signal the kernel is interrupted after at most a wait for the server's answer, and its
        client, interrupted mid-query, may have cancelled them first)."""
        found = list(self.interrupted or [])
        if self.cut is not None and self.cut < len(nb.cells):
            states = nb.cells[self.cut].metadata.get("nbrunner", {}).get("spark_operations", {})
            found += [op for op, state in states.items() if state == "cancelled" and op not in found]
        return found
