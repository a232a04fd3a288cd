"""The morning view (``nbrunner runs LOCATION``): the runs whose records lie under a local folder or an ``s3://``
prefix, newest first, filtered, as lines, JSON or one offline HTML page (:mod:`nbrunner.view.page`).

Only records are read (``*.run.json``), never notebooks: the folder is walked or the prefix listed once, then the
records are fetched concurrently, at most :data:`WORKERS` at a time. A chain's notebooks carry the chain's id and
their place in it (``chain``), so they are shown together.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from nbrunner.config import StorageOptions
from nbrunner.errors import NbrunnerError, UsageError
from nbrunner.plan.location import S3Uri

RECORD_SUFFIX = ".run.json"
WORKERS = 16  # records fetched at once from S3
#: --status failure: every outcome that is neither a success nor a skip
FAILURE = "failure"


@dataclass(frozen=True)
class Run:
    record: dict[str, Any]
    where: str  # the record's own path or s3:// URI

    @property
    def started(self) -> str:
        return str(self.record.get("started") or "")

    @property
    def notebook(self) -> str:
        name = str(self.record.get("input") or "?").replace("\\", "/").rsplit("/", 1)[-1]
        return name[: -len(".ipynb")] if name.endswith(".ipynb") else name

    @property
    def chain(self) -> dict[str, Any] | None:
        chain = self.record.get("chain")
        return chain if isinstance(chain, dict) and isinstance(chain.get("id"), str) else None


def prefix_of(text: str) -> Path | S3Uri:
    """A folder, or ``s3://bucket[/prefix]`` (the key may be empty or end in ``/``)."""
    if text.startswith(("s3://", "s3a://")):
        bucket, _, key = text.split("://", 1)[1].partition("/")
        if not re.match(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", bucket):
            raise UsageError(f"runs {text!r}: {bucket!r} is not a valid bucket name; write s3://BUCKET/PREFIX")
        return S3Uri(bucket, key)
    folder = Path(text)
    if not folder.is_dir():
        raise UsageError(f"runs {text!r}: not a folder; give the folder (or s3:// prefix) the records are under")
    return folder


def find(location: str, storage: StorageOptions, warn: Any = None) -> list[Run]:
    """Every run record under ``location``, in no particular order; unreadable ones are skipped (and counted)."""
    where = prefix_of(location)
    if isinstance(where, Path):
        names = [str(path) for path in sorted(where.rglob(f"*{RECORD_SUFFIX}")) if path.is_file()]
        texts = _fetch(names, lambda name: Path(name).read_text(encoding="utf-8"))
    else:
        from nbrunner.storage.s3 import S3Store

        store = S3Store.connect(storage)
        names = list(_list_s3(store, where))
        texts = _fetch(names, lambda name: store.read(_uri(name)).decode("utf-8"))
    runs, bad = [], 0
    for name, text in zip(names, texts, strict=True):
        record = _parse(text)
        if record is None:
            bad += 1
        else:
            runs.append(Run(record, name))
    if bad and warn is not None:
        warn(f"{bad} file(s) named *{RECORD_SUFFIX} are not nbrunner run records; skipped")
    return runs


def _uri(name: str) -> S3Uri:
    bucket, _, key = name[len("s3://") :].partition("/")
    return S3Uri(bucket, key)


def _list_s3(store: Any, prefix: S3Uri) -> Iterator[str]:
    """One listing of the prefix (paginated), keeping the record keys."""
    from nbrunner.storage.s3 import bounded

    def pages() -> list[dict[str, Any]]:
        paginator = store.client.get_paginator("list_objects_v2")
        return list(paginator.paginate(Bucket=prefix.bucket, Prefix=prefix.key))

    try:
        listed = bounded(store.options.timeout, pages)
    except Exception as e:
        raise UsageError(store.explain(e, prefix, "list")) from e
    for page in listed:
        for item in page.get("Contents", []) or []:
            if str(item.get("Key", "")).endswith(RECORD_SUFFIX):
                yield f"s3://{prefix.bucket}/{item['Key']}"


def _fetch(names: Sequence[str], read: Any) -> list[str | None]:
    def one(name: str) -> str | None:
        try:
            return str(read(name))
        except (OSError, UnicodeError, NbrunnerError):
            return None

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(one, names))


def _parse(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("run_id"), str) or "status" not in record:
        return None
    return record


def since_of(text: str, now: datetime | None = None) -> str:
    """``--since``: ``30m``, ``24h``, ``7d`` ago, or an ISO date or time (UTC); as an ISO time to compare with."""
    now = now or datetime.now(timezone.utc)
    relative = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[unit]
        moment = now - delta
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since {text!r}: give 30m, 24h, 7d, or a date (2026-11-20) or time in UTC") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def select(runs: Iterable[Run], *, statuses: Sequence[str] = (), since: str | None = None,
           notebook: str | None = None, limit: int | None = None) -> list[Run]:  # fmt: skip
    """Newest first, filtered: a status (``failure``: any but success and skip), started since, notebook name (a
    glob, or part of the name)."""
    chosen = []
    for run in runs:
        status = str(run.record.get("status"))
        if statuses and status not in statuses and not (FAILURE in statuses and _failed(run.record)):
            continue
        if since is not None and run.started < since:
            continue
        if notebook is not None and not (fnmatch.fnmatch(run.notebook, notebook) or notebook in run.notebook):
            continue
        chosen.append(run)
    chosen.sort(key=lambda run: (run.started, run.where), reverse=True)
    return chosen[:limit] if limit is not None else chosen


def _failed(record: dict[str, Any]) -> bool:
    return record.get("exit_code") not in (0, 99, None)


def parameters_text(record: dict[str, Any], width: int = 60) -> str:
    """``date=2026-11-20 rows=100`` (a secret is shown as ``[secret]``, as its record keeps it)."""
    values = record.get("parameters") or {}
    parts = [f"{name}={v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}" for name, v in values.items()]
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 1] + "…"


def failure_text(record: dict[str, Any]) -> str:
    """For a failure: the failing cell and its error line (``cell 7: KeyError: 'x'``)."""
    if not _failed(record):
        return ""
    message = str(record.get("message") or "")
    cell = record.get("failed_cell") or {}
    if isinstance(cell, dict) and cell.get("index") is not None:
        error = message.split(" failed: ", 1)[-1] if " failed: " in message else message
        return f"cell {cell['index']}: {error}"
    return message


def duration_text(record: dict[str, Any]) -> str:
    seconds = record.get("duration_s")
    if not isinstance(seconds, int | float):
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def lines(runs: Sequence[Run]) -> list[str]:
    """One line per run; a chain's notebooks under a line for the chain, in their order."""
    out = []
    shown: set[str] = set()
    for run in runs:
        chain = run.chain
        if chain is None:
            out.append(_line(run))
            continue
        if chain["id"] in shown:
            continue
        shown.add(chain["id"])
        members = sorted((r for r in runs if r.chain and r.chain["id"] == chain["id"]),
                         key=lambda r: int((r.chain or {}).get("index", 0)))  # fmt: skip
        worst = next((m for m in members if _failed(m.record)), members[0])
        out.append(f"{members[0].started}  chain {chain['id']} ({len(members)} of {chain.get('size', '?')} "
                   f"notebooks)  {worst.record.get('status')}")  # fmt: skip
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
    return "  ".join(parts)


def as_json(run: Run) -> dict[str, Any]:
    return {**run.record, "record": run.record.get("record") or run.where}
