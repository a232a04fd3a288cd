"""The HTML rendering of an executed notebook: readable in a browser, without Jupyter."""

from __future__ import annotations

from typing import Any


def to_html(nb: Any) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    return str(body)
