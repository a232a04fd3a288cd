"""The HTML shows what the notebook showed: outputs that need JavaScript get their text and a visible note, an image
wins over raw TeX, a skip is no error box, and the failure banner links to the failing cell's anchor."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import nbformat
from nbformat import v4

from nbrunner.notebook.html_outputs import for_html
from tests.conftest import run_cli

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)).decode()  # fmt: skip


def outputs_only(page: str) -> str:
    """The page without its code cells' sources (the template's input block)."""
    return re.sub(r'<div class="jp-CodeMirrorEditor.*?</div>\s*</div>', "", page, flags=re.DOTALL)


def display(data: dict[str, object]) -> str:
    return f"from IPython.display import display\ndisplay({json.dumps(data)}, raw=True)"


def test_the_html_shows_every_output_and_links_the_failing_cell(tmp_path: Path) -> None:
    plotly = {"data": [{"type": "bar", "y": [1, 2]}], "layout": {}}
    nb = v4.new_notebook(cells=[
        v4.new_code_cell(display({"application/vnd.plotly.v1+json": plotly, "text/plain": "Figure(bars)"})),
        v4.new_code_cell(display({"application/vnd.plotly.v1+json": plotly})),
        v4.new_code_cell(display({"image/png": PNG, "text/latex": "$\\\\mathcal{N}(\\\\mu=2)$", "text/plain": "N"})),
        v4.new_code_cell(display({"application/vnd.jupyter.widget-view+json": {"model_id": "m1", "version_major": 2,
                                  "version_minor": 0}, "text/plain": "Label(value='hello there')"})),
        v4.new_code_cell("raise ValueError('the data is bad')"),
    ])  # fmt: skip
    nbformat.write(nb, tmp_path / "shows.ipynb")
    result = run_cli("run", str(tmp_path / "shows.ipynb"), "-o", str(tmp_path / "out.ipynb"))
    assert result.code == 4, result.stderr
    page = (tmp_path / "out.html").read_text()
    shown = outputs_only(page)
    assert "Figure(bars)" in shown and "application/vnd.plotly.v1+json not shown: it needs JavaScript" in page
    assert page.count("needs JavaScript") == 3  # two plotly outputs, one widget
    assert "data:image/png;base64," in shown and "mathcal" not in shown  # the picture, not raw TeX
    assert "Label(value='hello there')" in html.unescape(shown)  # as a browser reads it, whatever the escaping
    failed = result.record["failed_cell"]
    assert f'href="#cell-id={failed["id"]}"' in page and f'id="cell-id={failed["id"]}"' in page
    kept = nbformat.read(tmp_path / "out.ipynb", as_version=4)  # the .ipynb keeps the outputs as they were
    assert "text/latex" in kept.cells[3].outputs[0].data


def test_a_skip_is_not_shown_as_an_error(notebooks: Path, tmp_path: Path) -> None:
    result = run_cli("run", str(notebooks / "skip.ipynb"), "-o", str(tmp_path / "skip.ipynb"))
    assert result.code == 99
    page = (tmp_path / "skip.html").read_text()
    assert "no data for this day" in page and "SystemExit" not in page


def test_an_output_widget_shows_what_was_printed_into_it() -> None:
    nb = v4.new_notebook(cells=[v4.new_code_cell("w", outputs=[v4.new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": "out1", "version_major": 2, "version_minor": 0},
        "text/plain": "Output()"})])])  # fmt: skip
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0,
        "state": {"out1": {"model_name": "OutputModel", "state": {"outputs": [
            {"output_type": "stream", "name": "stdout", "text": "inside the widget\n"},
            {"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero", "traceback": []},
        ]}}}}}  # fmt: skip
    shown = for_html(nb).cells[0].outputs
    texts = [o.get("text", "") or o.get("evalue", "") for o in shown]
    assert "an Output widget" in texts[0] and texts[1:] == ["inside the widget\n", "division by zero"]
    assert re.search("widget-view", json.dumps(nb.cells[0].outputs[0]))  # the notebook itself is unchanged


def test_the_banners_facts_are_text_and_its_link_goes_to_the_cell() -> None:
    """The banner :func:`nbrunner.core.record.banner` writes, shown with its facts as text: what the kernel sent
    (the message), the author's first line and the run's fields never become markup, markdown or math."""
    from nbrunner.core.record import RunRecord, banner
    from nbrunner.notebook.html_outputs import banner_html

    message = "ValueError: <img src=x onerror=alert(1)> [x](javascript:alert(2)) __init__ $x$ \\\n\n## not a heading"
    record = RunRecord(run_id="r-1", input="in.ipynb", input_sha256="", output="out.ipynb", started="t0",
                       parameters={}, ended="t1", status="failed", exit_code=4, message=message,
                       failed_cell={"index": 3, "id": "abc-1", "execution_count": 2,
                                    "first_line": "x = '`<b onclick=alert(3)>`'"})  # fmt: skip
    block = banner_html(banner(record))
    assert "\n" not in block and "$" not in block and "\\" not in block  # one markdown HTML block, no math
    tags = re.findall(r"<(\w+)", block)
    assert tags == ["div", "h2", "p", "strong", "a", "code", "code", "p", "strong", "span", "p", "code"]
    assert '<a href="#cell-id=abc-1">cell 3</a>' in block
    shown = html.unescape(re.sub(r"<[^>]+>", "", block))
    assert f"Error: {message}" in shown and "x = '`<b onclick=alert(3)>`'" in shown
    assert shown.startswith("nbrunner: this run failed (exit code 4)") and "Run r-1, started t0, ended t1." in shown
    other = banner_html("## something else\n\n<script>alert(4)</script>")  # not the banner's shape: plain text
    assert re.findall(r"<(\w+)", other) == ["div", "pre"] and "&lt;script&gt;" in other


def test_html_is_kept_but_made_inert() -> None:
    """What :func:`inert` leaves of HTML that would run something, and that it leaves ordinary HTML as it was."""
    from nbrunner.notebook.html_outputs import inert

    table = '<table class="dataframe"><tr><td style="color: red">a &lt; b</td></tr></table><style>p > b {}</style>'
    assert inert(table) is table  # nothing active: not even parsed
    cases = {
        "<img src=x onerror=alert(1)>": '<img src="x">',
        '<a href="java\nscript:alert(1)">t</a><a href="&#106;avascript:alert(1)">e</a>': "<a>t</a><a>e</a>",
        '<a href="javascript&colon;alert(1)">c</a><a href="https://example.com/?a=1&amp;b=2">ok</a>':
            '<a>c</a><a href="https://example.com/?a=1&amp;b=2">ok</a>',
        "<script>alert(1)</script>after<script/>alert(2)": "afteralert(2)",
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">': (
            '<p title="&lt;/noscript&gt;&lt;img src=x onerror=alert(1)&gt;">'
        ),
        "<b>unclosed</b><img src=x onerror=alert(1)": "<b>unclosed</b>&lt;img src=x onerror=alert(1)",
        '<iframe srcdoc="<script>alert(1)</script>"></iframe><!-- <img src=x onerror=alert(1)> -->kept': "kept",
        "<svg><set attributeName=onclick to=alert(1) /></svg>": '<svg><set to="alert(1)" /></svg>',
        '<meta http-equiv=refresh content="0;url=javascript:alert(1)"><base href=//evil/>x': "x",
        '<img src="data:image/png;base64,AAAA"><a href="data:text/html,x">d</a>': (
            '<img src="data:image/png;base64,AAAA"><a>d</a>'
        ),
    }  # fmt: skip
    for given, made in cases.items():
        assert inert(given) == made, given
