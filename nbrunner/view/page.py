"""``nbrunner runs --html FILE``: one offline page (no script, nothing from elsewhere) listing the runs, each linked
to its HTML, and for each notebook a strip of its recent outcomes and durations drawn as inline SVG, so a notebook
that started failing or slowing down stands out."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

from nbrunner.config import StorageOptions
from nbrunner.errors import UsageError
from nbrunner.status import Status
from nbrunner.view.runs import Run, duration_text, failure_text, parameters_text

COLORS: dict[str, str] = {
    Status.SUCCEEDED: "#2e7d32",
    Status.SKIPPED: "#9e9e9e",
    Status.PREPARED: "#90caf9",
}  # any other outcome: red
FAILED_COLOR = "#c62828"
STRIP = 30  # runs per notebook in its strip


def href(target: str, page: str, url_template: str | None) -> str | None:
    """The link to a run's HTML from the page: relative for local files, ``url_template`` for s3:// objects."""
    if target.startswith(("s3://", "s3a://")):
        if url_template is None:
            return None
        bucket, _, key = target.split("://", 1)[1].partition("/")
        return url_template.format(bucket=bucket, key=key)
    if page.startswith("s3://"):
        return None
    try:
        return os.path.relpath(target, Path(page).absolute().parent)
    except ValueError:
        return target


def strip_svg(runs: Sequence[Run]) -> str:
    """Oldest to newest, left to right: a square per run in its outcome's color, a bar above it for its duration
    (scaled to the slowest of the strip), each with a tooltip."""
    shown = list(reversed(runs[:STRIP]))
    longest = max((float(r.record.get("duration_s") or 0) for r in shown), default=0) or 1.0
    parts = []
    for number, run in enumerate(shown):
        status = str(run.record.get("status"))
        color = COLORS.get(status, FAILED_COLOR)
        seconds = float(run.record.get("duration_s") or 0)
        height = max(1, round(20 * seconds / longest))
        x = number * 12
        tip = html.escape(f"{run.started} {status} {duration_text(run.record)}")
        parts.append(f'<g><title>{tip}</title><rect x="{x}" y="{22 - height}" width="10" height="{height}" '
                     f'fill="#78909c"/><rect x="{x}" y="24" width="10" height="10" fill="{color}"/></g>')  # fmt: skip
    width = max(12, 12 * len(shown))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="36" role="img" '
            f'aria-label="recent runs">{"".join(parts)}</svg>')  # fmt: skip


def _strip_row(name: str, found: Sequence[Run]) -> str:
    last = html.escape(str(found[0].record.get("status")))
    return f'<tr><td>{html.escape(name)}</td><td>{strip_svg(found)}</td><td class="s-{last}">{last}</td></tr>'


def _run_row(run: Run, where: str, url_template: str | None) -> str:
    record = run.record
    status = html.escape(str(record.get("status")))
    target = str(record.get("html") or record.get("output") or run.where)
    link = href(target, where, url_template)
    cell = f'<a href="{html.escape(link, quote=True)}">{html.escape(target)}</a>' if link else html.escape(target)
    chain = run.chain
    member = ""
    if chain is not None:
        member = f" (chain {html.escape(chain['id'])}, {int(chain.get('index', 0)) + 1}/{chain.get('size')})"
    cells = [html.escape(run.started), html.escape(run.notebook) + member, html.escape(parameters_text(record, 120)),
             status, html.escape(duration_text(record)), html.escape(failure_text(record)), cell]  # fmt: skip
    return f'<tr class="s-{status}">' + "".join(f"<td>{text}</td>" for text in cells) + "</tr>"


def page(runs: Sequence[Run], *, title: str, where: str, url_template: str | None = None) -> str:
    by_notebook: dict[str, list[Run]] = {}
    for run in runs:
        by_notebook.setdefault(run.notebook, []).append(run)
    strips = "".join(_strip_row(name, found) for name, found in sorted(by_notebook.items()))
    rows = "".join(_run_row(run, where, url_template) for run in runs)
    failures = sum(1 for run in runs if run.record.get("exit_code") not in (0, 99, None))
    heads = "".join(f"<th>{h}</th>" for h in ("started", "notebook", "parameters", "status", "duration", "failure",
                                                "HTML"))  # fmt: skip
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; }}
td, th {{ padding: 0.2em 0.6em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }}
tr.s-succeeded td:nth-child(4), td.s-succeeded {{ color: {COLORS[Status.SUCCEEDED]}; }}
tr.s-skipped td:nth-child(4), td.s-skipped {{ color: {COLORS[Status.SKIPPED]}; }}
tr:not(.s-succeeded):not(.s-skipped):not(.s-prepared) td:nth-child(4) {{ color: {FAILED_COLOR}; font-weight: bold; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{len(runs)} runs under {html.escape(where)}, {failures} of them failed.</p>
<h2>Recent outcomes per notebook</h2>
<table id="notebooks"><tr><th>notebook</th><th>last {STRIP} runs, oldest to newest (bar: duration)</th>
<th>last</th></tr>{strips}</table>
<h2>Runs, newest first</h2>
<table id="runs"><tr>{heads}</tr>{rows}</table>
</body></html>
"""


def store(where: str, text: str, storage: StorageOptions) -> None:
    """The page to a local file (atomically) or an s3:// object; UsageError / StorageError when it cannot be."""
    from nbrunner.plan import location
    from nbrunner.storage.files import write_atomic

    target = location.parse(where, what="--html")
    if isinstance(target, Path):
        try:
            write_atomic(target, text, errors="xmlcharrefreplace")
        except OSError as e:
            raise UsageError(f"--html {where}: cannot write it: {e.strerror or e}") from e
        return
    from nbrunner.storage.s3 import S3Store

    S3Store.connect(storage).put_text(text, target, suffix=".html")
