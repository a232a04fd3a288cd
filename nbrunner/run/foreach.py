"""For each: the iterations of one notebook run concurrently, at most ``parallel`` at once, each a normal run
(:func:`~nbrunner.run.pipeline.run_or_raise` with its plan) in its own kernel and worker thread; under spark-submit
all on the one driver JVM. The main thread's :class:`~nbrunner.core.signals.StopGuard` only orchestrates: it hands
every signal to the iterations' own guards, and no new iteration starts after one.

The first failure starts no new iteration (the running ones finish; the rest are not-run) unless ``keep_going``;
a failed iteration runs again up to ``retries`` times (each earlier attempt's notebook, HTML and record kept
beside the final ones as ``<stem>.attempt<N>.*``). The exit code is the first
failure's, as a chain's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from nbrunner.config import RunConfig
from nbrunner.core.location import Location, Uri
from nbrunner.core.record import Outcome, for_each_summary, not_run
from nbrunner.core.report import Reporter
from nbrunner.errors import GatewayError, NbrunnerError, Skipped, Stopped, status_of
from nbrunner.plan.build import Plan
from nbrunner.plan.foreach import Iteration, attempt_artifacts
from nbrunner.status import Status


@dataclass
class ForEachRecord(Outcome):
    """The summary of a for-each: its outcome, and each iteration's entry (status, exit code, record path)."""

    id: str
    status: str = Status.SUCCEEDED
    exit_code: int = 0
    message: str | None = None
    iterations: list[dict[str, Any]] = field(default_factory=list)
    error: NbrunnerError | None = field(default=None, repr=False, compare=False)  # the first failure, if any

    def as_json(self) -> dict[str, Any]:
        return for_each_summary(self.id, self.status, self.exit_code, self.message, self.iterations)


class Labelled(Reporter):
    """A run's reporter naming its iteration: ``[nbrunner date=2026-11-03] cell 2/5 ok ...``, and each notice,
    warning and output line prefixed the same way; whatever else the wrapped reporter does, it does."""

    def __init__(self, reporter: Reporter, label: str):
        self.inner = reporter
        self.label = label

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def progress(self, line: str) -> None:
        if line.startswith("[nbrunner]"):
            line = f"[nbrunner {self.label}]{line[len('[nbrunner]') :]}"
        self.inner.progress(line)

    def live(self, text: str, state: str = "") -> None:
        """Several runs at once cannot share one updating line: the per-cell lines are kept."""

    @property
    def wants_outputs(self) -> bool:
        return self.inner.wants_outputs

    def cell_output(self, index: int, line: str) -> None:
        self.inner.cell_output(index, f"[{self.label}] {line}")

    def kernel_output(self, index: int | None, line: str) -> None:
        self.inner.kernel_output(index, f"[{self.label}] {line}")

    def warning(self, message: str) -> None:
        self.inner.warning(f"[{self.label}] {message}")

    def notice(self, message: str) -> None:
        self.inner.notice(f"[{self.label}] {message}")


def run_for_each(
    configs: Sequence[RunConfig],
    found: Sequence[Iteration],
    plans: Sequence[Plan],
    reporter: Reporter,
    *,
    parallel: int = 1,
    keep_going: bool = False,
    retries: int = 0,
) -> ForEachRecord:
    """Run the planned iterations (:func:`~nbrunner.plan.foreach.plan_iterations`) and return the summary."""
    from nbrunner.core.signals import StopGuard

    summary = ForEachRecord(id=plans[0].for_each["id"] if plans and plans[0].for_each else "")
    entries: list[dict[str, Any] | None] = [None] * len(plans)
    failures: list[tuple[int, NbrunnerError]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        entry, error = _attempts(configs[i], found[i], plans[i], reporter, retries)
        with lock:
            entries[i] = entry
            if error is not None:
                failures.append((i, error))

    alone = sorted({p.engine.kind for p in plans if p.engine is not None and not p.engine.concurrent})
    if parallel > 1 and alone:
        reporter.warning(f"--parallel {parallel}: {alone[0]} runs one notebook at a time; the iterations run in turn")
        parallel = 1
    try:
        with StopGuard() as guard:
            guard.orchestrating()
            pending = list(range(len(plans)))
            with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="nbrunner-each") as pool:
                running: set[Future[None]] = set()
                while pending or running:
                    while pending and len(running) < max(1, parallel) and _may_start(guard, failures, keep_going):
                        running.add(pool.submit(one, pending.pop(0)))
                    if not running:
                        break
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()  # a bug in nbrunner surfaces here
    finally:
        for engine in {id(p.engine): p.engine for p in plans if p.engine is not None}.values():
            engine.end_chain()  # what the iterations shared, released after the last
    for i, entry in enumerate(entries):
        summary.iterations.append(entry if entry is not None else _not_run(configs[i], plans[i]))
    where, first = min(failures, key=lambda item: item[0]) if failures else (None, None)
    if guard.reason is not None and not isinstance(first, Stopped):  # a signal decides the outcome
        where, first = None, guard.reason
    skipped = sum(1 for entry in summary.iterations if entry.get("status") == Status.SKIPPED)
    if first is not None:
        summary.error = first
        named = f"iteration {found[where].label}: " if where is not None else ""
        summary.settle(status_of(first), int(first.exit_code), f"{named}{first}")
    elif skipped and skipped == len(plans):
        summary.settle(Skipped.status, int(Skipped.exit_code), f"every iteration was skipped ({skipped})")
    elif skipped:
        summary.settle(summary.status, summary.exit_code, f"{skipped} of {len(plans)} iterations skipped themselves")
    return summary


def _may_start(guard: Any, failures: list[tuple[int, NbrunnerError]], keep_going: bool) -> bool:
    """No new iteration after a signal, after the driver JVM went away, or (without keep_going) after a failure."""
    if guard.reason is not None:
        return False
    if any(isinstance(error, Stopped | GatewayError) for _, error in failures):
        return False
    return keep_going or not failures


def _attempts(
    config: RunConfig, it: Iteration, plan: Plan, reporter: Reporter, retries: int
) -> tuple[dict[str, Any], NbrunnerError | None]:
    """One iteration, run again after a failure up to ``retries`` times: its last attempt's entry (earlier ones under
    ``attempts``), and the error that ended it (None: it succeeded, or skipped itself)."""
    from nbrunner.run.pipeline import run_or_raise

    labelled = Labelled(reporter, it.label)
    earlier: list[dict[str, Any]] = []
    attempt = 1
    while True:
        error: NbrunnerError | None = None
        try:
            record = run_or_raise(config, labelled, plan).as_json()
        except NbrunnerError as e:
            error = e
            record = e.record.as_json() if e.record is not None else _refused(e, config)
        entry = _entry(record, it, attempt)
        if error is None or isinstance(error, Skipped):
            if isinstance(error, Skipped):
                labelled.notice(str(record.get("message")))
            return {**entry, "attempts": earlier} if earlier else entry, None
        labelled.notice(f"error: {record.get('message')} (attempt {attempt} of {retries + 1})")
        if attempt > retries or isinstance(error, Stopped | GatewayError):
            return ({**entry, "attempts": earlier} if earlier else entry), error
        earlier.append(_keep_attempt(plan, record, entry, labelled))
        attempt += 1
        plan = _again(plan, reporter, attempt)


def _keep_attempt(plan: Plan, record: dict[str, Any], entry: dict[str, Any], reporter: Reporter) -> dict[str, Any]:
    """Before an iteration runs again: its failed attempt's notebook, HTML and record moved out of the retry's way
    (:func:`~nbrunner.plan.foreach.attempt_artifacts`), the record rewritten to say where its files now are. Returns
    the attempt's summary entry pointing there; if they cannot be kept (a store refusing), a warning and the entry
    as it was (the retry overwrites them)."""
    if record.get("record") is None:  # refused before anything was written
        return entry
    kept = attempt_artifacts(plan.targets.notebook, int(entry["attempt"]))
    moved = {"output": kept.notebook, "html": kept.html, "record": kept.record}
    shown = {key: str(moved[key]) if record.get(key) is not None else None for key in moved}
    try:
        _move(plan, plan.targets.notebook, kept.notebook)
        if record.get("html") is not None:
            _move(plan, plan.targets.html, kept.html)
        _move(plan, plan.targets.record, kept.record, rewrite=shown)
    except (NbrunnerError, OSError) as e:
        reporter.warning(f"attempt {entry['attempt']}'s results could not be kept apart ({e}); the retry replaces them")
        return entry
    return {**entry, **shown}


def _move(plan: Plan, source: Location, target: Location, *, rewrite: dict[str, Any] | None = None) -> None:
    """One artifact from the final name to an attempt's (a record's paths rewritten); a missing local file is left."""
    import json
    import os
    import tempfile
    from pathlib import Path

    from nbrunner.core.files import write_atomic

    if isinstance(source, Path) and isinstance(target, Path):
        if not source.exists():
            return
        if rewrite is None:
            os.replace(source, target)
            return
        data = json.loads(source.read_text(encoding="utf-8"))
        write_atomic(target, json.dumps({**data, **rewrite}, indent=2, ensure_ascii=False) + "\n")
        source.unlink()
        return
    if not isinstance(source, Uri) or not isinstance(target, Uri):  # a plan's targets are all local or all stored
        return
    store = plan.stores.of(source)
    body = store.read(source)
    if rewrite is not None:
        text = json.dumps({**json.loads(body), **rewrite}, indent=2, ensure_ascii=False) + "\n"
        store.put_text(text, target, suffix=".json")
        return
    with tempfile.TemporaryDirectory(prefix="nbrunner-attempt-") as folder:
        local = Path(folder) / target.name
        local.write_bytes(body)
        store.put_file(local, target, {}, timeout=store.timeout)


def _again(plan: Plan, reporter: Reporter, attempt: int) -> Plan:
    """The plan of a retry: a new run id and start, the same artifacts (the earlier attempt's moved out of its way),
    the same engine."""
    from nbrunner.plan.build import make_plan, new_run_id

    started = datetime.now(timezone.utc)
    again = make_plan(plan.config, run_id=new_run_id(started), started=started, reporter=reporter, stores=plan.stores)
    return replace(again, engine=plan.engine, for_each={**(plan.for_each or {}), "attempt": attempt})


def _entry(record: dict[str, Any], it: Iteration, attempt: int) -> dict[str, Any]:
    keep = ("run_id", "status", "exit_code", "message", "output", "html", "record", "outputs")
    return {"index": it.index, "values": (record.get("for_each") or {}).get("values", it.values),
            "attempt": attempt, **{key: record.get(key) for key in keep}}  # fmt: skip


def _refused(error: NbrunnerError, config: RunConfig) -> dict[str, Any]:
    from nbrunner.core.record import refused

    return refused(error, config.notebook)


def _not_run(config: RunConfig, plan: Plan) -> dict[str, Any]:
    shown = plan.for_each or {}
    return {"index": shown.get("index"), "values": shown.get("values"), **not_run(config.notebook)}


def raise_for(summary: ForEachRecord) -> ForEachRecord:
    """The summary of a for-each that succeeded (or whose iterations all skipped themselves); else its first
    failure's error, as the Python API raises a run's, carrying the summary as its ``record``."""
    import copy

    if summary.error is None or summary.exit_code == 0:
        return summary
    error = copy.copy(summary.error)
    error.record = summary
    raise error


def outputs_by_iteration(summary: ForEachRecord, found: Sequence[Iteration]) -> dict[str, dict[str, Any]]:
    """``{"date=2026-11-01": {name: value}}``: each iteration's outputs under its values (``{}`` if it did not run)."""
    return {it.label: dict(entry.get("outputs") or {}) for it, entry in zip(found, summary.iterations, strict=True)}
