"""What the offline HTML shows for outputs a browser cannot render without Jupyter's JavaScript, so that nothing the
notebook showed is blank there (the ``.ipynb`` keeps every output as it was; this changes only the HTML's copy).

- an ipywidgets view: an ``Output`` widget shows the outputs captured in it (nbclient stores them in the notebook's
  widget state); any other widget shows its text fallback; each with a visible note;
- an output whose rich forms all need JavaScript (plotly's ``application/vnd.plotly.v1+json``, vega, bokeh...):
  its text fallback, or a note naming what was left out;
- an image beside LaTeX: the image (math is not rendered offline, it would show as raw TeX);
- a run the notebook skipped (``nbrunner.skip``): the ``SystemExit`` it raised to stop is not shown as an error;
- a script (``Javascript()``, ``application/javascript``): its source as text, with a note; the page runs none;
- HTML (an HTML output, the HTML of a markdown cell): shown as HTML, but inert (:func:`inert`): no script, no
  event handler, no ``javascript:`` address, no frame, plugin, form or ``<meta>``/``<base>``;
- the failure banner: its facts (the error message, the failing cell's first line, the run's id and times) as text,
  never as markdown or HTML: what a run reads or shows is data.
"""

from __future__ import annotations

import functools
import re
from html import escape
from html.parser import HTMLParser
from typing import Any

from nbrunner.core.node import Notebook
from nbrunner.inside import SKIP_MIME
from nbrunner.notebook.document import BANNER_TAG

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
#: what the HTML shows without any script (text/latex as its TeX source)
OFFLINE = ("text/html", "text/markdown", "image/svg+xml", "image/png", "image/jpeg", "image/gif", "text/latex",
           "text/plain")  # fmt: skip


#: MIME types that are not meant to be seen (nbrunner's and scrapbook's data for the scheduler)
_SILENT = ("application/vnd.nbrunner", "application/scrapbook")
SCRIPT = "application/javascript"


def for_html(nb: Notebook) -> Any:
    """A copy of ``nb`` (new containers, the same strings) whose outputs all show something offline."""
    import nbformat

    states = _widget_states(nb)
    cells = []
    for cell in nb.cells:
        if cell.get("cell_type") == "markdown" and BANNER_TAG in (cell.get("metadata", {}).get("tags") or ()):
            cells.append(nbformat.from_dict({**cell, "source": banner_html(cell.get("source", ""))}))
            continue
        outputs = cell.get("outputs")
        if not outputs:
            cells.append(cell)
            continue
        skipped = any(SKIP_MIME in (o.get("data") or {}) for o in outputs)
        shown: list[Any] = []
        for output in outputs:
            if skipped and output.get("output_type") == "error" and output.get("ename") == "SystemExit":
                continue  # how skip() stops the run: a skip, not an error
            shown.extend(_offline(output, states, depth=0))
        cells.append(nbformat.from_dict({**cell, "outputs": shown}))
    return nbformat.from_dict({**nb, "cells": cells})


def _widget_states(nb: Notebook) -> dict[str, Any]:
    widgets = (nb.metadata.get("widgets") or {}).get(WIDGET_STATE) or {}
    state = widgets.get("state") if isinstance(widgets, dict) else None
    return state if isinstance(state, dict) else {}


def _note(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": f"[nbrunner: {text}]\n"}


def _offline(output: Any, states: dict[str, Any], depth: int) -> list[Any]:
    data = output.get("data")
    if output.get("output_type") not in ("display_data", "execute_result") or not isinstance(data, dict):
        return [output]
    view = data.get(WIDGET_VIEW)
    if isinstance(view, dict):
        model = states.get(str(view.get("model_id")), {})
        name = str(model.get("model_name") or "widget")
        captured = (model.get("state") or {}).get("outputs") if model.get("model_name") == "OutputModel" else None
        if isinstance(captured, list) and depth < 5:
            shown = [_note("an Output widget; what was printed into it follows")]
            for inner in captured:
                shown.extend(_offline(inner, states, depth + 1))
            return shown
        rest = {mime: value for mime, value in data.items() if mime != WIDGET_VIEW}
        text = f"an interactive {name} is not shown: it needs JavaScript" + ("; its text form follows" if rest else "")
        return [_note(text), *(_offline({**output, "data": rest}, states, depth + 1) if rest else [])]
    if any(mime.startswith("image/") for mime in data) and "text/latex" in data:
        data = {mime: value for mime, value in data.items() if mime != "text/latex"}  # the picture, not raw TeX
        output = {**output, "data": data}
    shown_html = data.get("text/html")
    if isinstance(shown_html, str) and _ACTIVE.search(shown_html):
        data = {**data, "text/html": inert(shown_html)}
        output = {**output, "data": data}
    if all(mime in OFFLINE for mime in data):
        return [output]
    # only what shows without a script reaches the template: a script (application/javascript) or a mermaid
    # diagram's source would be put in the page as live markup
    visible = {mime: value for mime, value in data.items() if mime in OFFLINE}
    output = {**output, "data": visible}
    rich = any(mime != "text/plain" for mime in visible)
    script = data.get(SCRIPT)
    if isinstance(script, str):
        note = _note(f"{SCRIPT} not run: this page runs no scripts; its source follows, the .ipynb has it")
        source = {"output_type": "stream", "name": "stdout", "text": script}
        return [note, source, *([output] if rich else [])]
    left_out = [mime for mime in data if mime not in OFFLINE and not mime.startswith(_SILENT)]
    if not visible and not left_out:
        return []  # data for readers only (a scrapbook scrap): nothing to show, and no "cannot be represented"
    if left_out and not rich:
        note = _note(f"{', '.join(left_out)} not shown: it needs JavaScript; the .ipynb has it")
        return [note, output] if "text/plain" in visible else [note]
    return [output]


#: the banner's markdown as :func:`nbrunner.core.record.banner` writes it, with the facts it holds
_BANNER = re.compile(
    r"## (?P<title>[^\n]*)\n\n"
    r"(?:\*\*Failing cell:\*\* (?:\[cell (?P<index>\d+)\]\(#cell-id=(?P<id>[A-Za-z0-9_-]+)\)|cell (?P<bare>\d+))"
    r"(?: \(`In \[(?P<count>[^\]\n]*)\]`\))?: `(?P<line>[^\n]*)`\n\n)?"
    r"\*\*Error:\*\* (?P<error>.*)\n\n"
    r"Run `(?P<run>[^`\n]*)`, started (?P<started>[^\n]*), ended (?P<ended>[^\n]*)\.",
    re.DOTALL,
)
_BANNER_PAGE = (
    '<div class="nbrunner-banner">'
    "{% if m %}<h2>{{ m.title }}</h2>"
    "{% if m.line is not none %}<p><strong>Failing cell:</strong> "
    '{% if m.id %}<a href="#cell-id={{ m.id }}">cell {{ m.index }}</a>{% else %}cell {{ m.bare }}{% endif %}'
    "{% if m.count is not none %} (<code>In [{{ m.count }}]</code>){% endif %}: <code>{{ m.line }}</code></p>"
    "{% endif %}"
    '<p><strong>Error:</strong> <span style="white-space: pre-wrap">{{ m.error }}</span></p>'
    "<p>Run <code>{{ m.run }}</code>, started {{ m.started }}, ended {{ m.ended }}.</p>"
    '{% else %}<pre style="white-space: pre-wrap">{{ source }}</pre>{% endif %}'
    "</div>"
)


@functools.cache
def _banner_template() -> Any:
    import jinja2

    return jinja2.Environment(autoescape=True).from_string(_BANNER_PAGE)  # noqa: S701 - autoescape is on


def banner_html(source: str) -> str:
    """The failure banner's markdown as the HTML block the page shows: its facts as escaped text (the error message
    is the kernel's data: ``<img onerror=...>`` or ``[x](javascript:...)`` in it must stay text), on one line, so
    the markdown renderer passes the block through whole. A banner of another shape is shown as its plain text."""
    found = _BANNER.fullmatch(source)
    html = _banner_template().render(m=found.groupdict() if found else None, source=source)
    # as one line with no markdown, math or entity left in it: newlines, "$" and "\" as character references
    return str(html).replace("\n", "&#10;").replace("\r", "&#13;").replace("$", "&#36;").replace("\\", "&#92;")


def _spaced(word: str) -> str:
    """``word`` as a browser reads it in an address: tabs, newlines and other controls between its letters."""
    return "".join(f"{letter}[\\x00-\\x20]*" for letter in word)


#: what can make HTML run something or go somewhere (an entity inside a tag can spell "javascript:"); HTML with
#: none of it is inert as it is, and is not parsed (a pandas table)
_ACTIVE = re.compile(
    r"<\s*/?\s*(?:script|iframe|frame|object|embed|applet|base|meta|link|form|portal|noscript|plaintext)|"
    rf"\bon[a-z]+\s*=|{_spaced('javascript')}|{_spaced('vbscript')}|data:|srcdoc|attributename|<[^<>]*&",
    re.IGNORECASE,
)
#: elements left out (their content kept, as text or markup, but a script's content is left out too)
_DROPPED = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link", "form",
            "portal", "noscript", "plaintext"}  # fmt: skip
_ATTRIBUTE = re.compile(r"^[a-z_:][-a-z0-9_:.]*$")
_UNSAFE_VALUE = re.compile(r"javascript:|vbscript:|livescript:|data:(?!image/(?:png|jpeg|gif|webp|svg\+xml)[;,])")


class _Inert(HTMLParser):
    """HTML rebuilt from its tokens: text and attribute values escaped again, so the page holds no element this
    did not write; the elements in :data:`_DROPPED`, comments, declarations, event handlers (and an SVG animation's
    ``attributeName`` naming one), ``srcdoc`` and any attribute whose value leads to a script (``javascript:``,
    ``data:`` other than an image) left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.raw = ""  # inside <style> (its text as it is) or <script> (left out)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, " /")

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], end: str) -> None:
        if tag in ("script", "style") and not end:
            self.raw = tag
        if tag in _DROPPED or not _ATTRIBUTE.match(tag):
            return
        kept = []
        for name, value in attrs:
            plain = "".join((value or "").split()).lower()
            if name.startswith("on") or name in ("srcdoc", "http-equiv") or not _ATTRIBUTE.match(name):
                continue
            if _UNSAFE_VALUE.search(plain) or (name == "attributename" and plain.startswith("on")):
                continue  # a script's address, or an SVG animation setting an event handler
            kept.append(f" {name}" if value is None else f' {name}="{escape(value)}"')
        self.out.append(f"<{tag}{''.join(kept)}{end}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == self.raw:
            self.raw = ""
        if tag not in _DROPPED and _ATTRIBUTE.match(tag):
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self.raw == "style":
            self.out.append(data)  # as it was: the parser ended it at the first "</style"
        elif self.raw != "script":
            self.out.append(data.replace("<", "&lt;").replace(">", "&gt;"))

    def handle_entityref(self, name: str) -> None:
        if not self.raw:
            self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if not self.raw:
            self.out.append(f"&#{name};")

    def close(self) -> None:
        """An unfinished tag at the very end is kept as text, escaped: Python's parser gives it as text in some
        releases and drops it in others (the 2025 security fixes), and the page must be the same everywhere."""
        rest = self.rawdata
        if rest.startswith("<") and not self.raw:
            self.rawdata = ""
            self.handle_data(rest)
        super().close()


def inert(html: str) -> str:
    """``html`` with nothing in it that runs or navigates: scripts, event handlers, ``javascript:`` addresses,
    frames, plugins, forms, ``<meta>`` and ``<base>`` left out; everything else (tables, styles, images, links to
    http(s) or files) kept. HTML with none of these (:data:`_ACTIVE`) is returned as it is, unparsed."""
    if not _ACTIVE.search(html):
        return html
    parser = _Inert()
    parser.feed(html)
    parser.close()
    return "".join(parser.out)
