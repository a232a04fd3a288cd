"""What the offline HTML shows for outputs a browser cannot render without Jupyter's JavaScript, so that nothing the
notebook showed is blank there (the ``.ipynb`` keeps every output as it was; this changes only the HTML's copy).

- an ipywidgets view: an ``Output`` widget shows the outputs captured in it (nbclient stores them in the notebook's
  widget state); any other widget shows its text fallback; each with a visible note;
- an output whose rich forms all need JavaScript (plotly's ``application/vnd.plotly.v1+json``, vega, bokeh...):
  its text fallback, or a note naming what was left out;
- an image beside LaTeX: the image (math is not rendered offline, it would show as raw TeX);
- a run the notebook skipped (``nbrunner.skip``): the ``SystemExit`` it raised to stop is not shown as an error.
"""

from __future__ import annotations

from typing import Any

from nbrunner.inside import SKIP_MIME
from nbrunner.notebook.node import Notebook

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
#: what the HTML shows without any script (text/latex as its TeX source)
OFFLINE = ("text/html", "text/markdown", "image/svg+xml", "image/png", "image/jpeg", "image/gif", "text/latex",
           "text/plain")  # fmt: skip


#: MIME types that are not meant to be seen (nbrunner's and scrapbook's data for the scheduler), or that run as is
_SILENT = ("application/javascript", "application/vnd.nbrunner", "application/scrapbook")


def for_html(nb: Notebook) -> Any:
    """A copy of ``nb`` (new containers, the same strings) whose outputs all show something offline."""
    import nbformat

    states = _widget_states(nb)
    cells = []
    for cell in nb.cells:
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
        return [_note(text), *([{**output, "data": rest}] if rest else [])]
    if any(mime.startswith("image/") for mime in data) and "text/latex" in data:
        data = {mime: value for mime, value in data.items() if mime != "text/latex"}  # the picture, not raw TeX
        output = {**output, "data": data}
    left_out = [mime for mime in data if mime not in OFFLINE and not mime.startswith(_SILENT)]
    if left_out and not any(mime in OFFLINE and mime != "text/plain" for mime in data):
        note = _note(f"{', '.join(left_out)} not shown: it needs JavaScript; the .ipynb has it")
        return [note, output] if "text/plain" in data else [note]
    return [output]
