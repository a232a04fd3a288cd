"""The morning view (``nbrunner runs LOCATION``): the runs whose records lie under a local folder or a store's prefix
(``s3://``), newest first, filtered, as lines, JSON or one offline HTML page (:mod:`nbrunner.view.page`).

Only records are read (``*.run.json``), never notebooks: the folder is walked or the prefix listed once, then the
records are fetched concurrently, at most :data:`WORKERS` at a time. A chain's notebooks carry the chain's id and
their place in it (``chain``), so they are shown together.

Records are somebody else's data: each is checked by :mod:`nbrunner.core.record_schema`, and what cannot be read
or does not fit (a folder it cannot enter, a file it cannot read, a record of the wrong shape) is skipped, counted
and said in one warning line. Every field is shown as text: control characters are escaped in lines and JSON.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import socket
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from nbrunner.core import record_schema
from nbrunner.core.location import Uri
from nbrunner.core.regular import read_regular
from nbrunner.errors import NbrunnerError, UsageError
from nbrunner.status import Status
from nbrunner.storage import Stores, locate

RECORD_SUFFIX = ".run.json"
WORKERS = 16  # records fetched at once from a store
#: --status failure: every outcome that is neither a success nor a skip
FAILURE = "failure"
#: a run that started (its marker, ``.NAME.run.started``, is beside its record's place: nbrunner.run.outputs) and
#: never wrote its record: killed (SIGKILL), or its machine lost
LOST = "lost"
MARKER_SUFFIX = ".run.started"
LOST_AFTER = timedelta(minutes=60)  # a marker of another host this old without a record is a lost run
#: --group-by: what the record's ``context`` (nbrunner.run.scraps.scheduler_context) names a run's DAG and task by
GROUPS = ("none", "dag", "notebook")
DAG, TASK = "AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_TASK_ID"


@dataclass(frozen=True)
class Run:
    record: dict[str, Any]  # as record_schema.validate returned it
    where: str  # the record's own path or URI

    @property
    def started(self) -> str:
        return str(self.record.get("started") or "")

    @cached_property
    def time(self) -> datetime | None:
        """When it started (UTC); None when the record's ``started`` is not a time (such a run sorts last)."""
        return record_schema.started_at(self.record)

    @property
    def notebook(self) -> str:
        name = str(self.record.get("input") or "?").replace("\\", "/").rsplit("/", 1)[-1]
        return name[: -len(".ipynb")] if name.endswith(".ipynb") else name

    @property
    def chain(self) -> dict[str, Any] | None:
        chain = self.record.get("chain")
        if not isinstance(chain, dict):  # a for-each's iterations are shown together as a chain's notebooks are
            chain = self.record.get("for_each")
        return chain if isinstance(chain, dict) else None


@dataclass
class Skipped:
    """What the view could not show, each with its first example: said in one warning line."""

    files: int = 0  # every *.run.json found
    folders: list[str] = field(default_factory=list)  # "where: why" of the folders it could not enter
    unreadable: list[str] = field(default_factory=list)  # "where: why" of the files it could not read
    unfit: list[str] = field(default_factory=list)  # "where: why" of the records that do not fit the schema

    def line(self) -> str | None:
        parts = [f"{len(found)} {what} (first: {found[0]})" for found, what in (
            (self.unfit, "not nbrunner run records"), (self.unreadable, "unreadable"),
        ) if found]  # fmt: skip
        text = f"skipped {len(self.unfit) + len(self.unreadable)} of {self.files} file(s) named *{RECORD_SUFFIX}: "
        text = text + ", ".join(parts) if parts else ""
        if self.folders:
            folders = f"{len(self.folders)} folder(s) not read (first: {self.folders[0]})"
            text = f"{text}; and {folders}" if text else f"skipped {folders}"
        return printable(text) or None


def prefix_of(text: str) -> Path | Uri:
    """A folder, or a store's ``scheme://bucket[/prefix]`` (the key may be empty or end in ``/``)."""
    if not text.strip():
        raise UsageError(f"runs {text!r}: no location; give the folder (or s3:// prefix) the records are under, "
                         "'.' for this one")  # fmt: skip
    folder = locate(text, what="runs", prefix=True)
    if isinstance(folder, Uri):
        return folder
    if not folder.is_dir():
        raise UsageError(f"runs {text!r}: not a folder; give the folder (or s3:// prefix) the records are under")
    return folder


def find(location: str, stores: Stores, warn: Callable[[str], None] | None = None, *,
         lost_after: timedelta = LOST_AFTER, now: datetime | None = None) -> list[Run]:  # fmt: skip
    """Every run record under ``location``, in no particular order, and (in a local folder) the runs that started
    and never wrote their record (:data:`LOST`). What cannot be read or does not fit is skipped, and counted in one
    line to ``warn``."""
    where = prefix_of(location)
    skipped = Skipped()
    markers: list[str] = []
    if isinstance(where, Path):
        names = _walk(where, skipped, markers)
        texts = _fetch(names, read_regular)  # a FIFO so named is refused, never waited on
    else:
        store = stores.of(where)
        listed = {str(uri): uri for uri in store.list(where, RECORD_SUFFIX)}
        names = list(listed)
        texts = _fetch(names, lambda name: store.read(listed[name]))
    skipped.files = len(names)
    runs = []
    for name, text in zip(names, texts, strict=True):
        if isinstance(text, OSError | NbrunnerError):
            skipped.unreadable.append(f"{name}: {_why(text)}")
            continue
        try:
            record = record_schema.parse(text)
        except record_schema.BadRecord as e:
            skipped.unfit.append(f"{name}: {e}")
            continue
        if record["kind"] != record_schema.RUN:
            skipped.unfit.append(f"{name}: the record of a {record['kind']}, not of a run")
            continue
        runs.append(Run(record, name))
    if markers:
        found = set(names)
        for marker in markers:
            lost = _lost(marker, found, now or datetime.now(timezone.utc), lost_after)
            if lost is not None:
                runs.append(lost)
    line = skipped.line()
    if line and warn is not None:
        warn(line)
    return runs


def _lost(marker: str, records: set[str], now: datetime, lost_after: timedelta) -> Run | None:
    """The lost run a started marker stands for, or None: its record exists (under any name the walk found), its
    run is still going (its process alive on this host; on another, started less than ``lost_after`` ago), or the
    marker is not one (somebody else's data too: read without blocking, a few fields, each shown as text)."""
    folder, name = os.path.split(marker)
    record = os.path.join(folder, name[1 : -len(MARKER_SUFFIX)] + RECORD_SUFFIX)
    if record in records:
        return None
    try:
        found = json.loads(read_regular(marker)[:65536])
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(found, dict):
        return None
    fields = {key: found.get(key) for key in ("run_id", "input", "started", "host")}
    if not all(isinstance(value, str) for value in fields.values()):
        return None
    started = record_schema.utc_time(fields["started"])
    pid = found.get("pid")
    if fields["host"] == socket.gethostname() and isinstance(pid, int) and not isinstance(pid, bool):
        if _alive(pid):
            return None
    elif started is None or now - started < lost_after:
        return None
    return Run({"kind": record_schema.RUN, "schema": 1, "run_id": fields["run_id"], "input": fields["input"],
                "started": fields["started"], "status": LOST, "exit_code": None, "record": record,
                "message": f"no record: the run stopped without writing one (killed, or {fields['host']} lost); "
                           f"its marker: {marker}"}, marker)  # fmt: skip


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True  # another user's process: not ours to call lost
    return True


def _walk(folder: Path, skipped: Skipped, markers: list[str] | None = None) -> list[str]:
    """The record files under ``folder``, sorted (and the started markers, into ``markers``); the folders it cannot
    enter are counted, not dropped silently."""

    def cannot(error: OSError) -> None:
        skipped.folders.append(f"{error.filename}: {_why(error)}")

    names: list[str] = []
    for root, folders, files in os.walk(folder, onerror=cannot):
        folders.sort()
        names.extend(os.path.join(root, name) for name in sorted(files) if name.endswith(RECORD_SUFFIX))
        if markers is not None:
            markers.extend(os.path.join(root, name) for name in sorted(files)
                           if name.startswith(".") and name.endswith(MARKER_SUFFIX))  # fmt: skip
    return names


def _why(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _fetch(names: Sequence[str], read: Callable[[str], bytes]) -> list[bytes | OSError | NbrunnerError]:
    def one(name: str) -> bytes | OSError | NbrunnerError:
        try:
            return read(name)
        except (OSError, NbrunnerError) as e:
            return e

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(one, names))


def since_of(text: str, now: datetime | None = None) -> datetime:
    """``--since``: ``30m``, ``24h``, ``7d`` ago, or an ISO date or time (UTC)."""
    now = now or datetime.now(timezone.utc)
    relative = re.fullmatch(r"([0-9]+)([mhd])", text.strip())
    if relative:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[relative.group(2)]
        try:
            return now - timedelta(**{unit: int(relative.group(1))})
        except (OverflowError, ValueError):  # past year 1, or more digits than int() takes
            raise UsageError(f"--since {text!r}: that is before year 1; give a later time (30m, 24h, 7d, "
                             "or a date in UTC)") from None  # fmt: skip
    moment = record_schema.utc_time(text)
    if moment is None:
        raise UsageError(f"--since {text!r}: give 30m, 24h, 7d, or a date (2026-11-20) or time in UTC")
    return moment


def select(runs: Iterable[Run], *, statuses: Sequence[str] = (), since: datetime | None = None,
           notebook: str | None = None, limit: int | None = None) -> list[Run]:  # fmt: skip
    """Newest first, filtered: a status (``failure``: any but success and skip), started since, notebook name (a
    glob, or part of the name). A run whose start is not a time comes last, and never passes ``since``."""
    chosen = []
    for run in runs:
        status = str(run.record.get("status"))
        if statuses and status not in statuses and not (FAILURE in statuses and failed(run.record)):
            continue
        if since is not None and (run.time is None or run.time < since):
            continue
        if notebook is not None and not (fnmatch.fnmatch(run.notebook, notebook) or notebook in run.notebook):
            continue
        chosen.append(run)
    chosen.sort(key=lambda run: (run.time is not None, run.time or _EPOCH, run.where), reverse=True)
    return chosen[:limit] if limit is not None else chosen


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def failed(record: dict[str, Any]) -> bool:
    return record.get("exit_code") not in (0, 99, None) or record.get("status") == LOST


def ago(moment: datetime | None, now: datetime) -> str:
    """``3 h ago`` (minutes, hours up to two days, then days); empty for no time."""
    if moment is None:
        return ""
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return f"{int(seconds // 3600)} h ago" if seconds < 2 * 86400 else f"{int(seconds // 86400)} d ago"


def when(run: Run, now: datetime) -> str:
    """The start as recorded (UTC) and how long ago: ``2026-11-20T23:00:00.000Z (3 h ago)``."""
    relative = ago(run.time, now)
    return f"{run.started or '?'} ({relative})" if relative else run.started or "?"


def resume_command(run: Run) -> str | None:
    """For a failed run that ``--resume`` takes (it stopped in a cell, its record names the notebook's sha256):
    ``nbrunner run NOTEBOOK --resume RECORD``, each quoted for a POSIX shell; else None."""
    record = run.record
    cell = record.get("failed_cell") or {}
    if record.get("status") in (Status.SUCCEEDED, Status.PREPARED, LOST) or not failed(record):
        return None
    if not (isinstance(cell.get("id"), str) and isinstance(record.get("input_sha256"), str)):
        return None
    notebook = record.get("input")
    if not isinstance(notebook, str) or not notebook:
        return None
    return f"nbrunner run {shlex.quote(notebook)} --resume {shlex.quote(run.where)}"


@dataclass
class Attention:
    """A notebook whose newest runs failed: those failures (newest first), and its last success, if seen."""

    notebook: str
    failures: list[Run]
    last_success: Run | None = None

    def line(self, now: datetime) -> str:
        count, last, first = len(self.failures), self.failures[0], self.failures[-1]
        since = (f"since its last success {when(self.last_success, now)}" if self.last_success is not None
                 else "and no success seen")  # fmt: skip
        text = (f"{self.notebook}: {count} failure{'s' if count > 1 else ''} {since}; first {when(first, now)}, "
                f"last {when(last, now)} {last.record.get('status')}")  # fmt: skip
        error = failure_text(last.record)
        return printable(f"{text}: {error}" if error else text)


def attention(runs: Sequence[Run]) -> list[Attention]:
    """Per notebook, the failures since its last success (``runs`` newest first), the notebook failing most
    recently first: one pass. A skip or a prepared run neither breaks nor extends the streak."""
    found: dict[str, Attention] = {}
    settled: set[str] = set()
    for run in runs:
        name = run.notebook
        if name in settled:
            continue
        if run.record.get("status") == Status.SUCCEEDED:
            settled.add(name)
            if name in found:
                found[name].last_success = run
        elif failed(run.record):
            found.setdefault(name, Attention(name, [])).failures.append(run)
    return list(found.values())


def attention_lines(runs: Sequence[Run], now: datetime) -> list[str]:
    """The block above the runs: each notebook that needs attention, and the command resuming its last failure."""
    needing = attention(runs)
    if not needing:
        return []
    out = ["needs attention (failures since each notebook's last success):"]
    for item in needing:
        out.append("  " + item.line(now))
        command = resume_command(item.failures[0])
        if command is not None:
            out.append(printable(f"    resume: {command}"))
    return [*out, ""]


def group_of(run: Run, by: str) -> str:
    """The heading a run is listed under (``--group-by``): its Airflow DAG and task, or its notebook."""
    if by == "notebook":
        return printable(f"notebook {run.notebook}")
    context = run.record.get("context")
    context = context if isinstance(context, dict) else {}
    dag, task = context.get(DAG), context.get(TASK)
    if dag is None:
        return "no Airflow DAG"
    return printable(f"DAG {dag}, task {task}" if task is not None else f"DAG {dag}")


def grouped(runs: Sequence[Run], by: str) -> list[tuple[str, list[Run]]]:
    """The runs (newest first) under their headings, the heading of the newest run first; one group, headed "",
    for ``none``. A chain's notebooks share their process's context, so a chain stays in one group."""
    if by == "none":
        return [("", list(runs))]
    found: dict[str, list[Run]] = {}
    for run in runs:
        found.setdefault(group_of(run, by), []).append(run)
    return list(found.items())


def chain_status(members: Sequence[Run]) -> str:
    """A chain's own outcome: its first failed member's; else succeeded when any member did (the others skipped or
    prepared); else its first member's."""
    worst = next((member for member in members if failed(member.record)), None)
    if worst is not None:
        return str(worst.record.get("status"))
    if any(member.record.get("status") == Status.SUCCEEDED for member in members):
        return Status.SUCCEEDED.value
    return str(members[0].record.get("status"))


def parameters_text(record: dict[str, Any], width: int = 60) -> str:
    """``date=2026-11-20 rows=100`` (a secret is shown as ``[secret]``, as its record keeps it)."""
    values = record.get("parameters") or {}
    parts = [f"{name}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}" for name, v in values.items()]
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def failure_text(record: dict[str, Any]) -> str:
    """For a failure: the failing cell and its error line (``cell 7: KeyError: 'x'``)."""
    if not failed(record):
        return ""
    message = str(record.get("message") or "")
    cell = record.get("failed_cell") or {}
    if cell.get("index") is not None:
        error = message.split(" failed: ", 1)[-1] if " failed: " in message else message
        return f"cell {cell['index']}: {error}"
    return message


def duration_text(record: dict[str, Any]) -> str:
    seconds = record.get("duration_s")
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def chains(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Each chain's runs (by chain id) in their order in the chain: one pass over the runs, one sort per chain. A
    for-each iteration run again (``--retries``) is shown by its last attempt; the earlier ones are kept as files."""
    latest: dict[tuple[str, int], Run] = {}
    for run in runs:
        if run.chain is not None:
            key = (run.chain["id"], run.chain["index"])
            if key not in latest or _attempt(run) > _attempt(latest[key]):
                latest[key] = run
    found: dict[str, list[Run]] = {}
    for run in latest.values():
        found.setdefault((run.chain or {})["id"], []).append(run)
    for members in found.values():
        members.sort(key=lambda member: (member.chain or {})["index"])
    return found


def _attempt(run: Run) -> int:
    attempt = (run.chain or {}).get("attempt")
    return attempt if isinstance(attempt, int) else 1


def lines(runs: Sequence[Run], now: datetime | None = None, *, by: str = "none") -> list[str]:
    """One line per run (a failed run that can be resumed: and its ``resume:`` command under it); a chain's
    notebooks under a line for the chain, in their order; with ``by``, under their group's heading. Linear in the
    runs."""
    now = now or datetime.now(timezone.utc)
    out = []
    for heading, members in grouped(runs, by):
        if heading:
            out.append(f"{heading} ({len(members)} run{'s' if len(members) > 1 else ''}):")
        indent = "  " if heading else ""
        out.extend(indent + line for line in _lines(members, now))
    return out


def _lines(runs: Sequence[Run], now: datetime) -> list[str]:
    out = []
    members_of = chains(runs)
    for run in runs:
        chain = run.chain
        if chain is None:
            out.extend(_line(run, now))
            continue
        members = members_of.pop(chain["id"], None)
        if members is None:
            continue  # shown with its chain's first run
        kind, what = ("for-each", "iterations") if "values" in chain else ("chain", "notebooks")
        out.append(printable(f"{when(members[0], now)}  {kind} {chain['id']} ({len(members)} of {chain['size']} "
                             f"{what})  {chain_status(members)}"))  # fmt: skip
        out.extend("  " + line for member in members for line in _line(member, now))
    return out


def _line(run: Run, now: datetime) -> list[str]:
    record = run.record
    parts = [when(run, now), f"{record.get('status')!s:<10}", f"{duration_text(record):>7}", run.notebook]
    params = parameters_text(record)
    if params:
        parts.append(params)
    failure = failure_text(record)
    if failure:
        parts.append(f"[{failure}]")
    parts.append(f"-> {record.get('html') or record.get('output') or run.where}")
    command = resume_command(run)
    return [printable("  ".join(parts))] + ([printable(f"    resume: {command}")] if command else [])


def as_json(run: Run) -> dict[str, Any]:
    command = resume_command(run)
    return {**run.record, "record": run.record.get("record") or run.where,
            **({"resume_command": command} if command else {})}  # fmt: skip


def json_line(run: Run) -> str:
    """``--json``: the run's record on one line, with what a terminal would act on escaped (still JSON)."""
    return _CONTROL.sub(lambda found: f"\\u{ord(found.group()):04x}", json.dumps(as_json(run), ensure_ascii=False))


#: what a terminal acts on rather than shows: C0 and C1 controls, DEL, line and paragraph separators, and the
#: bidirectional overrides
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` on one line, as text: a control character or bidirectional override becomes its escape (``\\x1b``,
    ``\\n``), so a record cannot move the cursor, recolor the terminal or add a line."""
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)
