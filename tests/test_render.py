"""The HTML rendering: huge outputs shortened in the HTML only, the notebook left whole."""

from __future__ import annotations

import nbformat
from nbformat import v4

from nbrunner import render


def big_notebook() -> object:
    cells = [
        v4.new_code_cell("print('x' * 1000)", outputs=[v4.new_output("stream", text="HEAD" + "x" * 5000 + "TAIL")]),
        v4.new_code_cell("1", outputs=[v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]),
    ]
    return v4.new_notebook(cells=cells, metadata={"language_info": {"name": "python"}})


def test_large_outputs_are_shortened_in_the_html_only() -> None:
    nb = big_notebook()
    before = nbformat.writes(nb)
    short = render.shortened(nb, 1000)
    text = short.cells[0].outputs[0].text  # type: ignore[attr-defined]
    assert text.startswith("HEAD") and text.endswith("TAIL") and len(text) < 1200
    assert "characters not shown here; the .ipynb has the whole output" in text
    assert short.cells[1] == nb.cells[1]  # type: ignore[attr-defined]
    assert nbformat.writes(nb) == before


def test_rendered_html_shows_code_outputs_and_the_shortening_note() -> None:
    html = render.Renderer().render(big_notebook(), max_output=1000)
    assert "<html" in html and "HEAD" in html and "TAIL" in html
    assert "characters not shown here" in html
    assert 'class="highlight hl-python"' in html  # highlighted input, as nbconvert does
