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
import stat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from nbrunner.core import record_schema
from nbrunner.core.location import Uri
from nbrunner.errors import NbrunnerError, UsageError
from nbrunner.storage import Stores, locate

RECORD_SUFFIX = ".run.json"
WORKERS = 16  # records fetched at once from a store
#: --status failure: every outcome that is neither a success nor a skip
FAILURE = "failure"


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


def find(location: str, stores: Stores, warn: Callable[[str], None] | None = None) -> list[Run]:
    """Every run record under ``location``, in no particular order. What cannot be read or does not fit is
    skipped, and counted in one line to ``warn``."""
    where = prefix_of(location)
    skipped = Skipped()
    if isinstance(where, Path):
        names = _walk(where, skipped)
        texts = _fetch(names, _read_local)
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
    line = skipped.line()
    if line and warn is not None:
        warn(line)
    return runs


def _walk(folder: Path, skipped: Skipped) -> list[str]:
    """The record files under ``folder``, sorted; the folders it cannot enter are counted, not dropped silently."""

    def cannot(error: OSError) -> None:
        skipped.folders.append(f"{error.filename}: {_why(error)}")

    names: list[str] = []
    for root, folders, files in os.walk(folder, onerror=cannot):
        folders.sort()
        names.extend(os.path.join(root, name) for name in sorted(files) if name.endswith(RECORD_SUFFIX))
    return names


def _read_local(name: str) -> bytes:
    """A record file's bytes; a FIFO, device or folder so named is refused without blocking on it."""
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file")
        return handle.read()


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
    return record.get("exit_code") not in (0, 99, None)


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
    """Each chain's runs (by chain id) in their order in the chain: one pass over the runs, one sort per chain."""
    found: dict[str, list[Run]] = {}
    for run in runs:
        if run.chain is not None:
            found.setdefault(run.chain["id"], []).append(run)
    for members in found.values():
        members.sort(key=lambda member: (member.chain or {})["index"])
    return found


def lines(runs: Sequence[Run]) -> list[str]:
    """One line per run; a chain's notebooks under a line for the chain, in their order. Linear in the runs."""
    out = []
    members_of = chains(runs)
    for run in runs:
        chain = run.chain
        if chain is None:
            out.append(_line(run))
            continue
        members = members_of.pop(chain["id"], None)
        if members is None:
            continue  # shown with its chain's first run
        worst = next((m for m in members if failed(m.record)), members[0])
        kind, what = ("for-each", "iterations") if "values" in chain else ("chain", "notebooks")
        out.append(printable(f"{members[0].started}  {kind} {chain['id']} ({len(members)} of {chain['size']} "
                             f"{what})  {worst.record.get('status')}"))  # fmt: skip
        out.extend("  " + _line(member) for member in members)
    return out


def _line(run: Run) -> str:
    record = run.record
    parts = [run.started or "?", f"{record.get('status')!s:<10}", f"{duration_text(record):>7}", run.notebook]
    params = parameters_text(record)
    if params:
        parts.append(params)
    failure = failure_text(record)
    if failure:
        parts.append(f"[{failure}]")
    parts.append(f"-> {record.get('html') or record.get('output') or run.where}")
    return printable("  ".join(parts))


def as_json(run: Run) -> dict[str, Any]:
    return {**run.record, "record": run.record.get("record") or run.where}


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
