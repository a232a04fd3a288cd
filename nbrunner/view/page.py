"""``nbrunner runs --html FILE``: one offline page (no script, nothing from elsewhere) listing the runs, each linked
to its HTML, and for each notebook a strip of its recent outcomes and durations drawn as inline SVG, so a notebook
that started failing or slowing down stands out.

Records are somebody else's data, so the page is built from a Jinja2 template with autoescaping: every field is text,
never markup. A link is either relative (a local file beside the page, its name percent-encoded) or an http(s) URL
made from ``--url-template`` (for a store's objects: s3://); a URL a record holds (``javascript:``, ``data:``,
``https:``...) is shown as text, not linked. The page's Content-Security-Policy allows no script and no request at all.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from nbrunner.core.location import Uri
from nbrunner.errors import UsageError
from nbrunner.status import Status
from nbrunner.storage import STORES, Stores, locate
from nbrunner.storage.base import scheme_of
from nbrunner.view.runs import (
    RECORD_SUFFIX,
    Run,
    attention,
    duration_text,
    failed,
    failure_text,
    grouped,
    parameters_text,
    printable,
    resume_command,
    when,
)

COLORS: dict[str, str] = {
    Status.SUCCEEDED: "#2e7d32",
    Status.SKIPPED: "#9e9e9e",
    Status.PREPARED: "#90caf9",
}  # any other outcome: red
FAILED_COLOR = "#c62828"
STRIP = 30  # runs per notebook in its strip
#: the statuses a row's CSS class may name (any other is "s-other"): a record's text never becomes a class
_CLASSES = frozenset(str(status) for status in Status)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
URL_TEMPLATE_EXAMPLE = "https://console.aws.amazon.com/s3/object/{bucket}?prefix={key}"

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{ title }}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; } table { border-collapse: collapse; }
td, th { padding: 0.2em 0.6em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
tr.s-succeeded td:nth-child(4), td.s-succeeded { color: {{ colors.succeeded }}; }
tr.s-skipped td:nth-child(4), td.s-skipped { color: {{ colors.skipped }}; }
tr:not(.s-succeeded):not(.s-skipped):not(.s-prepared) td:nth-child(4) { color: {{ failed_color }}; font-weight: bold; }
</style></head><body>
<h1>{{ title }}</h1>
<p>{{ count }} runs under {{ location }}, {{ failures }} of them failed (times in UTC; "ago" as of {{ now }}).</p>
{%- if attention %}
<h2>Needs attention</h2>
<table id="attention"><tr><th>notebook</th><th>failures since its last success</th><th>last success</th>\
<th>first failure</th><th>last failure</th><th>last error</th><th>rerun from the failed cell</th></tr>
{%- for item in attention %}<tr class="attention"><td>{{ item.notebook }}</td><td>{{ item.count }}</td>\
<td>{{ item.last_success }}</td><td>{{ item.first }}</td><td>{{ item.last }}</td><td>{{ item.error }}</td>\
<td>{{ item.resume }}</td></tr>
{%- endfor %}</table>
{%- endif %}
<h2>Recent outcomes per notebook</h2>
<table id="notebooks"><tr><th>notebook</th><th>last {{ strip }} runs, oldest to newest (bar: duration)</th>
<th>last</th></tr>
{%- for row in strips %}<tr><td>{{ row.name }}</td><td>
<svg xmlns="http://www.w3.org/2000/svg" width="{{ row.width }}" height="36" role="img" aria-label="recent runs">
{%- for box in row.boxes %}<g><title>{{ box.tip }}</title>\
<rect x="{{ box.x }}" y="{{ 22 - box.height }}" width="10" height="{{ box.height }}" fill="#78909c"/>\
<rect x="{{ box.x }}" y="24" width="10" height="10" fill="{{ box.color }}"/></g>
{%- endfor %}</svg></td><td class="s-{{ row.css }}">{{ row.status }}</td></tr>
{%- endfor %}</table>
<h2>Runs, newest first</h2>
<table id="runs"><tr><th>started</th><th>notebook</th><th>parameters</th><th>status</th><th>duration</th>\
<th>failure</th><th>HTML</th><th>rerun from the failed cell</th></tr>
{%- for heading, runs in groups %}
{%- if heading %}<tr class="group"><th colspan="8">{{ heading }}</th></tr>{% endif %}
{%- for run in runs %}<tr class="s-{{ run.css }}"><td>{{ run.started }}</td><td>{{ run.notebook }}</td>\
<td>{{ run.parameters }}</td><td>{{ run.status }}</td><td>{{ run.duration }}</td><td>{{ run.failure }}</td><td>
{%- if run.link %}<a href="{{ run.link }}">{{ run.target }}</a>{% else %}{{ run.target }}{% endif %}</td>\
<td>{{ run.resume }}</td></tr>
{%- endfor %}
{%- endfor %}</table>
</body></html>
"""


def url_template_of(text: str) -> str:
    """``--url-template``: an http(s) URL with ``{bucket}`` and ``{key}`` placeholders and no others; UsageError."""
    fix = f"use {{bucket}} and {{key}} in an http(s) URL, as {URL_TEMPLATE_EXAMPLE}"
    if not text.lower().startswith(("http://", "https://")):
        raise UsageError(f"--url-template {text!r}: not an http(s) URL; {fix}")
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(text)
                  if name is not None]  # fmt: skip
    except ValueError as e:
        raise UsageError(f"--url-template {text!r}: bad placeholder syntax ({e}); {fix}, and {{{{ for a brace") from e
    for name, spec, conversion in fields:
        if name not in ("bucket", "key") or spec or conversion:
            raise UsageError(f"--url-template {text!r}: placeholder {{{name}}} is not one nbrunner fills; {fix}")
    return text


def href(target: str, page: str, url_template: str | None) -> str | None:
    """The link to a run's HTML from the page, or None (shown as text): ``url_template`` (checked by
    :func:`url_template_of`) for a store's object (s3://), a percent-encoded relative link for a local file beside a
    local page, nothing for anything else (a URL a record holds: ``javascript:``, ``data:``, ``https:``...)."""
    if scheme_of(target) in STORES:
        uri = _stored(target, what="link")
        if url_template is None or not isinstance(uri, Uri):
            return None
        return _safe(url_template.format(bucket=quote(uri.bucket, safe=""), key=quote(uri.key, safe="/")))
    if not target or _SCHEME.match(target) or scheme_of(page) is not None:
        return None
    try:
        relative = os.path.relpath(target, Path(page).absolute().parent)
    except ValueError:
        return None
    return _safe(quote(relative.replace(os.sep, "/"), safe="/"))


def _stored(text: str, *, what: str, prefix: bool = False) -> Uri | None:
    """A store's URI as its store names it (``s3a://`` is ``s3://``), or None: a local path, or text (a record's:
    somebody else's data) that no store takes."""
    if scheme_of(text) is None:
        return None
    try:
        found = locate(text, what=what, prefix=prefix)
    except UsageError:
        return None
    return found if isinstance(found, Uri) else None


def _safe(url: str) -> str | None:
    """Only an http(s) URL or a relative one (no scheme, no host) is ever an ``href``."""
    parts = urlsplit(url)
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url
    return url if not parts.scheme and not parts.netloc and not url.startswith(("/", "\\")) else None


def _strip(name: str, found: Sequence[Run]) -> dict[str, Any]:
    """Oldest to newest, left to right: a square per run in its outcome's color, a bar above it for its duration
    (scaled to the slowest of the strip), each with a tooltip."""
    shown = list(reversed(found[:STRIP]))
    longest = max((float(r.record.get("duration_s") or 0) for r in shown), default=0) or 1.0
    boxes = []
    for number, run in enumerate(shown):
        status = str(run.record.get("status"))
        seconds = float(run.record.get("duration_s") or 0)
        boxes.append({
            "x": number * 12,
            "height": max(1, min(20, round(20 * seconds / longest))),
            "color": COLORS.get(status, FAILED_COLOR),
            "tip": f"{run.started} {status} {duration_text(run.record)}",
        })  # fmt: skip
    last = str(found[0].record.get("status"))
    return {"name": name, "boxes": boxes, "width": max(12, 12 * len(shown)), "status": last, "css": _css(last)}


def _css(status: str) -> str:
    return status if status in _CLASSES else "other"


def _row(run: Run, where: str, url_template: str | None, now: datetime) -> dict[str, Any]:
    record = run.record
    status = str(record.get("status"))
    target = str(record.get("html") or record.get("output") or run.where)
    chain = run.chain
    member = f" (chain {chain['id']}, {chain['index'] + 1}/{chain['size']})" if chain is not None else ""
    return {
        "css": _css(status),
        "started": when(run, now),
        "notebook": run.notebook + member,
        "parameters": parameters_text(record, 120),
        "status": status,
        "duration": duration_text(record),
        "failure": failure_text(record),
        "target": target,
        "link": href(target, where, url_template),
        "resume": resume_command(run) or "",
    }


def _attention(runs: Sequence[Run], now: datetime) -> list[dict[str, Any]]:
    rows = []
    for item in attention(runs):
        last = item.failures[0]
        rows.append({
            "notebook": item.notebook,
            "count": len(item.failures),
            "last_success": when(item.last_success, now) if item.last_success is not None else "none seen",
            "first": when(item.failures[-1], now),
            "last": f"{when(last, now)} {last.record.get('status')}",
            "error": failure_text(last.record),
            "resume": resume_command(last) or "",
        })  # fmt: skip
    return rows


def page(runs: Sequence[Run], *, title: str, where: str, url_template: str | None = None, location: str = "",
         group_by: str = "none", needing: Sequence[Run] | None = None, now: datetime | None = None) -> str:  # fmt: skip
    """The page of ``runs`` (newest first, found under ``location``) to be stored at ``where``: the notebooks that
    need attention (from ``needing``, else ``runs``), the strips, the runs (under their ``group_by`` headings)."""
    now = now or datetime.now(timezone.utc)
    from jinja2 import Environment, StrictUndefined

    by_notebook: dict[str, list[Run]] = {}
    for run in runs:
        by_notebook.setdefault(run.notebook, []).append(run)
    environment = Environment(
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        finalize=lambda value: printable(value) if isinstance(value, str) else value,
    )
    return environment.from_string(TEMPLATE).render(
        title=title,
        colors={Status.SUCCEEDED.value: COLORS[Status.SUCCEEDED], Status.SKIPPED.value: COLORS[Status.SKIPPED]},
        failed_color=FAILED_COLOR,
        strip=STRIP,
        strips=[_strip(name, found) for name, found in sorted(by_notebook.items())],
        groups=[
            (heading, [_row(run, where, url_template, now) for run in members])
            for heading, members in grouped(runs, group_by)
        ],
        count=len(runs),
        location=location,
        now=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        attention=_attention(runs if needing is None else needing, now),
        failures=sum(1 for run in runs if failed(run.record)),
    )


def check_target(where: str, location: str, runs: Sequence[Run]) -> None:
    """``--html FILE`` must not be what the view reads (a ``*.run.json`` under LOCATION, or a listed run's record,
    notebook or HTML): UsageError (exit 2), before anything is written."""
    fix = "write the page elsewhere, e.g. runs.html beside the folder"
    if scheme_of(where) is not None or scheme_of(location) is not None:
        stored_page, stored_under = _stored(where, what="--html"), _stored(location, what="runs", prefix=True)
        page = str(stored_page) if stored_page is not None else where
        under = str(stored_under) if stored_under is not None else location
        names = {run.where for run in runs}
    else:
        page, under = os.path.realpath(where), os.path.join(os.path.realpath(location), "")
        names = {os.path.realpath(name) for run in runs for name in (run.where, run.record.get("html"),
                 run.record.get("output")) if isinstance(name, str) and name and not _SCHEME.match(name)}  # fmt: skip
    if page.endswith(RECORD_SUFFIX) and page.startswith(under):
        raise UsageError(f"--html {where}: that is a run record under {location}, which this reads; {fix}")
    if page in names:
        raise UsageError(f"--html {where}: that is a listed run's record, notebook or HTML; {fix}")


def store(where: str, text: str, stores: Stores) -> None:
    """The page to a local file (atomically) or a store's object; UsageError / StorageError when it cannot be."""
    from nbrunner.core.files import write_atomic

    target = locate(where, what="--html")
    if isinstance(target, Path):
        try:
            write_atomic(target, text, errors="xmlcharrefreplace")
        except OSError as e:
            raise UsageError(f"--html {where}: cannot write it: {e.strerror or e}") from e
        return
    stores.of(target).put_text(text, target, suffix=".html")
