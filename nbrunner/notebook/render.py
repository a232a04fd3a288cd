"""The HTML rendering of an executed notebook: readable in a browser, without Jupyter.

nbconvert's HTMLExporter with JupyterLab's look (``templates/nbrunner`` extends ``lab``). Text outputs larger than
``max_output`` characters are shortened in the HTML only, keeping their head and tail (a cell's stream, however many
messages it came in, once): the ``.ipynb`` keeps them whole, and a browser cannot show a page of hundreds of
megabytes anyway.

What a run shows is data, not markup: streams, errors, text and the failure banner's facts are escaped text; a
script output shows as its source; HTML (an HTML output, a markdown cell's) is kept but made inert, and a markdown
output's own HTML shows as text (:mod:`nbrunner.notebook.html_outputs`); a markdown link only ever goes to
http(s), mailto, an anchor or a relative file (``javascript:`` and the like become ``#harmful-link``); and the
page's Content-Security-Policy (in the template) forbids any script that would still be there.
"""

from __future__ import annotations

import copy
import os
import re
import threading
from pathlib import Path
from typing import Any

from nbrunner.core.node import Notebook

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_OUTPUT = 256_000  # characters of one output (of a cell's stdout, of its stderr) kept in the HTML
#: what a markdown link or image may point to besides http(s), mailto, tel, an anchor and a relative path
#: (mistune's own list): an SVG picture as a data: URL (an attachment); never javascript:, vbscript: or file:
SAFE_URLS = ("data:image/svg+xml;",)


def exporter() -> Any:
    from nbrunner.notebook.highlight import cached_highlighter
    from nbrunner.notebook.html_outputs import inert
    from nbrunner.notebook.loading import load_nbconvert
    from nbrunner.notebook.template_cache import bytecode_cache

    load_nbconvert()
    import jinja2
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class LeanHTMLExporter(HTMLExporter):
        """nbconvert's HTMLExporter without its BeautifulSoup pass, which parses and re-serializes the whole page
        to add three attributes: over half the CPU of rendering 300 small cells, plus 0.1 s compiling its CSS
        selectors in every process. :func:`accessible` adds the same attributes. The steps before it are
        ``HTMLExporter.from_notebook_node``'s (nbconvert 7)."""

        def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> Any:
            info = nb.metadata.get("language_info", {})
            lexer = info.get("pygments_lexer", info.get("name", None))
            self.register_filter(  # type: ignore[no-untyped-call]
                "highlight_code", self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
            )
            resources = self._init_resources(resources)  # type: ignore[no-untyped-call]
            data_types = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self, resources=resources)
            self.register_filter("filter_data_type", data_types)  # type: ignore[no-untyped-call]
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return accessible(html), resources

        @jinja2.pass_context
        def markdown2html(self, context: Any, source: str, data: bool = False) -> str:
            """A markdown cell, the author's: its HTML kept, made inert (:func:`inert`); a markdown output
            (``data=True``, nbrunner's template): any HTML in it shown as text. Link and image addresses checked
            in both."""
            return self.markdown(context, source, raw_html=not data)

        def markdown(self, context: Any, source: str, *, raw_html: bool) -> str:
            """``HTMLExporter.markdown2html`` (nbconvert 7) with mistune's check of link and image addresses on:
            a ``javascript:`` link is no link (``#harmful-link``)."""
            cell = context.get("cell", {})
            renderer = IPythonRenderer(
                escape=not raw_html,
                allow_harmful_protocols=SAFE_URLS,  # type: ignore[arg-type] # mistune's allowlist, typed as bool
                attachments=cell.get("attachments", {}),
                embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text,
                exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options,
            )
            # inert either way: a ```mermaid block is put into the page as written, whatever ``escape`` says
            return inert(str(MarkdownWithMath(renderer=renderer).render(source)))

        def _preprocess(self, nb: Any, resources: Any) -> Any:
            """nbconvert's ``Exporter._preprocess`` without its second deep copy of the notebook and the third its
            normalization makes: ``from_notebook_node`` has copied it already, and the run has repaired it to valid
            nbformat (:func:`nbrunner.notebook.document.repair`); a notebook still invalid fails the validation
            after the preprocessors, and :meth:`Renderer.render` renders its plain copy instead."""
            resources = copy.deepcopy(resources)
            for preprocessor in self._preprocessors:
                nb, resources = preprocessor(nb, resources)
            if self._preprocessors:
                self._validate_preprocessor(nb, self._preprocessors[-1])  # type: ignore[no-untyped-call]
            return nb, resources

    # optimistic_validation: nbconvert validates the notebook once, not after each of its 13 preprocessors (half the
    # rendering time of a 300-cell notebook); nbrunner has repaired the notebook to valid nbformat already
    html = LeanHTMLExporter(  # type: ignore[no-untyped-call]
        template_name="nbrunner", extra_template_basedirs=[str(TEMPLATES)], optimistic_validation=True
    )
    highlighter = cached_highlighter(html)
    if highlighter is not None:
        # set once, before the templates are compiled: assigning ``filters`` later makes nbconvert build a new
        # template environment, compiling every template again (two thirds of rendering a small notebook)
        html.filters = {**html.filters, "highlight_code": highlighter}
    # the compiled templates kept between runs (nbrunner.notebook.template_cache), on the environment the filters
    # above left (assigning them builds a new one), before any template is compiled
    html.environment.bytecode_cache = bytecode_cache()
    return html


_NO_ALT = re.compile(r"<img\b(?![^>]*\balt=)", re.IGNORECASE)
_FOCUSABLE = re.compile(r'(<div class="(?:jp-Cell-inputWrapper|[^"]*\bjp-OutputArea-output\b[^"]*)")')


def accessible(html: str) -> str:
    """What nbconvert's HTMLExporter adds with BeautifulSoup, by two regular expressions: an ``alt`` text on every
    image without one, and ``tabindex="0"`` on each cell's input and on each output, so a keyboard reaches them."""
    html = _NO_ALT.sub('<img alt="No description has been provided for this image"', html)
    return _FOCUSABLE.sub(r'\1 tabindex="0"', html)


class Renderer:
    """Builds the exporter and compiles its templates on a thread, while the kernel starts and runs."""

    def __init__(self) -> None:
        from nbrunner.notebook.loading import load_nbconvert

        load_nbconvert()  # here, on the calling thread, not on the warm-up thread (the engine imports it too)

        self._exporter: Any = None
        self._thread = threading.Thread(target=self._warm, name="nbrunner-html-warmup", daemon=True)
        self._thread.start()

    def _warm(self) -> None:
        try:
            # on a small machine the kernel and the Spark driver need the CPU more than this head start does
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        try:
            import nbformat

            html = exporter()
            html.from_notebook_node(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))
            self._exporter = html
        except Exception:  # noqa: S110 - render() builds a fresh one and reports the error there
            pass

    def render(self, nb: Notebook, *, title: str, max_output: int = MAX_OUTPUT) -> str:
        """The HTML of ``nb``, titled ``title``. A notebook whose metadata the exporter chokes on is rendered
        again with its metadata reduced to what rendering needs, rather than not at all."""
        self._thread.join()
        html = self._exporter or exporter()
        highlighter = html.filters.get("highlight_code")
        if highlighter is not None:
            info = nb.metadata.get("language_info", {})
            highlighter.pygments_lexer = info.get("pygments_lexer", info.get("name")) or "ipython3"  # nbconvert's
        resources = {"metadata": {"name": title}}
        from nbrunner.notebook.html_outputs import for_html

        short = shortened(for_html(nb), max_output)
        try:
            body, _ = html.from_notebook_node(short, resources=resources)
        except Exception:
            body, _ = html.from_notebook_node(plain(short), resources=resources)
        return str(body)


def plain(nb: Notebook) -> Any:
    """A copy of ``nb`` with only the metadata rendering uses (tags, language), for notebooks with odd metadata."""
    import nbformat

    keep = {key: nb.metadata[key] for key in ("kernelspec", "language_info") if isinstance(nb.metadata.get(key), dict)}
    cells = [
        nbformat.from_dict(
            {**cell, "metadata": {"tags": [t for t in cell.metadata.get("tags", []) if isinstance(t, str)]}}
        )
        for cell in nb.cells
    ]
    return nbformat.from_dict({**nb, "metadata": keep, "cells": cells})


def _elided(count: int) -> str:
    return f"\n\n[... {count:,} characters not shown here; the .ipynb has the whole output ...]\n\n"


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}{_elided(len(text) - 2 * half)}{text[-half:]}"


def shortened(nb: Notebook, limit: int) -> Any:
    """``nb`` with its largest text outputs shortened (new containers, the same strings; ``nb`` is not changed).

    A cell's stdout (and its stderr) is shortened as one text, however many outputs it came in: the kernel sends a
    long print in messages of a few megabytes, each its own output, and a head and tail of each would let the page
    grow with the output. Any other output is shortened on its own."""
    import nbformat

    cells = []
    for cell in nb.cells:
        outputs = cell.get("outputs") or []
        streams: dict[str, int] = {}
        big = False
        for output in outputs:
            if output.get("output_type") == "stream":
                name = output.get("name")
                streams[name] = streams.get(name, 0) + len(output.get("text", ""))
            elif _size(output) > limit:
                big = True
        long = {name: total for name, total in streams.items() if total > limit}
        if not big and not long:
            cells.append(cell)
            continue
        cells.append(nbformat.from_dict({**cell, "outputs": _shorten_outputs(outputs, long, limit)}))
    return nbformat.from_dict({**nb, "cells": cells})


def _shorten_outputs(outputs: list[Any], long: dict[str, int], limit: int) -> list[Any]:
    """``outputs`` with each stream named in ``long`` (its total length) cut to its first and last ``limit // 2``
    characters over all its outputs, the note where the cut starts; an output wholly inside the cut is left out."""
    half = limit // 2
    at: dict[str, int] = {}
    shown = []
    for output in outputs:
        name = output.get("name")
        if output.get("output_type") != "stream" or name not in long:
            shown.append(_shorten_output(output, limit))
            continue
        total, text = long[name], output.get("text", "")
        start = at.get(name, 0)
        end = at[name] = start + len(text)
        head = text[: max(0, half - start)]
        tail = text[max(0, total - half - start) :] if end > total - half else ""
        note = _elided(total - 2 * half) if start <= half < end else ""
        if head or note or tail or not text:
            shown.append({**output, "text": f"{head}{note}{tail}"})
    return shown


def _size(output: Any) -> int:
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    if output.get("output_type") == "error":  # ``raise ValueError(huge)``: the traceback's last line
        return max((len(line) for line in output.get("traceback") or () if isinstance(line, str)), default=0)
    data = output.get("data", {})
    return max((len(v) for v in data.values() if isinstance(v, str)), default=0)


def _shorten_output(output: Any, limit: int) -> Any:
    """A display, result or error: text is shortened (head and tail), a traceback line by line; images are always
    kept whole; other large data (HTML, JSON) is left out of the HTML with a visible note saying so."""
    if output.get("output_type") == "stream" or _size(output) <= limit:  # streams: by :func:`_shorten_outputs`
        return output
    if output.get("output_type") == "error":
        return {**output, "traceback": [_shorten(line, limit) if isinstance(line, str) else line
                                        for line in output["traceback"]]}  # fmt: skip
    data: dict[str, Any] = {}
    left_out = []
    for kind, value in output.get("data", {}).items():
        if not isinstance(value, str) or len(value) <= limit or kind.startswith("image/"):
            data[kind] = value
        elif kind == "text/plain":
            data[kind] = _shorten(value, limit)
        else:
            left_out.append(f"{kind} ({len(value):,} characters)")
    if left_out:
        note = f"[{', '.join(left_out)} not shown in the HTML, too large; the .ipynb has it]"
        data["text/plain"] = f"{note}\n{data['text/plain']}" if "text/plain" in data else note
    return {**output, "data": data}
