"""The HTML rendering: huge outputs shortened in the HTML only, the notebook left whole."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import v4

from nbrunner.notebook import render


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
    html = render.Renderer().render(big_notebook(), title="big.ipynb", max_output=1000)
    assert "<html" in html and "HEAD" in html and "TAIL" in html
    assert "<title>big.ipynb</title>" in html
    assert "characters not shown here" in html
    assert 'class="highlight hl-python"' in html  # highlighted input, as nbconvert does


def test_images_are_never_dropped_and_left_out_data_is_said() -> None:
    png = "iVBORw0KGgo" + "A" * 3000  # base64 of a large image: far over the limit
    outputs = [
        v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure size 1800x1200>"}),
        v4.new_output("display_data", data={"text/html": "<table>" + "<tr></tr>" * 500, "text/plain": "df"}),
    ]
    nb = v4.new_notebook(cells=[v4.new_code_cell("plot()", outputs=outputs)])
    html = render.Renderer().render(nb, title="plots.ipynb", max_output=1000)
    assert png in html  # the picture is whole
    assert "text/html (4,507 characters) not shown in the HTML, too large; the .ipynb has it" in html


def test_html_loads_nothing_from_the_network() -> None:
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("$e^{i\\pi} = -1$"), v4.new_code_cell("1")])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    html = render.Renderer().render(nb, title="math.ipynb")
    for remote in ("require.js", "require.min.js", "mathjax", "MathJax.js", "cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert remote not in html, remote
    assert "<script src=" not in html


def test_odd_metadata_still_renders() -> None:
    nb = v4.new_notebook(cells=[v4.new_code_cell("1", outputs=[v4.new_output("stream", text="kept\n")])])
    nb.cells[0].metadata["tags"] = ["ok", 3]  # not strings: nbconvert's template chokes on the join
    nb.metadata["title"] = {"not": "a string"}
    html = render.Renderer().render(nb, title="odd.ipynb")
    assert "kept" in html


def test_the_page_has_the_accessibility_attributes_nbconverts_own_exporter_adds() -> None:
    """nbrunner skips nbconvert's BeautifulSoup pass; the page still has what that pass adds, element for element."""
    import base64

    from bs4 import BeautifulSoup
    from nbconvert import HTMLExporter

    png = base64.b64encode(bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")).decode()
    cells = [
        v4.new_markdown_cell("# title\n\n<img src='x.png'> and <img alt='given' src='y.png'>"),
        v4.new_code_cell("1", outputs=[v4.new_output("execute_result", data={"text/plain": "1"}, execution_count=1)]),
        v4.new_code_cell(
            "show()",
            outputs=[
                v4.new_output("display_data", data={"image/png": png}),
                v4.new_output("display_data", data={"text/html": "<b>html</b><img src=z>"}),
                v4.new_output("stream", text="out\n"),
            ],
        ),  # fmt: skip
    ]
    nb = v4.new_notebook(cells=cells, metadata={"language_info": {"name": "python"}})
    ours = BeautifulSoup(render.Renderer().render(nb, title="t"), features="html.parser")
    theirs_html, _ = HTMLExporter(
        template_name="nbrunner", extra_template_basedirs=[str(render.TEMPLATES)]
    ).from_notebook_node(nb)
    theirs = BeautifulSoup(theirs_html, features="html.parser")
    for selector in ("img:not([alt])", "img[alt]", "[tabindex='0']", ".jp-Notebook div.jp-Cell-inputWrapper",
                     ".jp-Notebook div.jp-OutputArea-output"):  # fmt: skip
        assert len(ours.select(selector)) == len(theirs.select(selector)), selector
    assert not ours.select("img:not([alt])") and len(ours.select("[tabindex='0']")) == 3 + 4
    assert [img["alt"] for img in ours.select("img")] == [img["alt"] for img in theirs.select("img")]


def test_code_is_highlighted_as_nbconverts_own_filter_highlights_it() -> None:
    """One lexer and formatter per language, and the IPython lexers from ipython_pygments_lexers: the same HTML as
    nbconvert's ``_pygments_highlight`` for each language, a cell's magics_language, and an unknown language."""
    import warnings

    from nbconvert.filters.highlight import _pygments_highlight
    from pygments.formatters import HtmlFormatter

    from nbrunner.notebook.highlight import cached_highlighter

    ours = cached_highlighter(None)
    cases = [
        ("x = f'{a!r}'  # hi\n%timeit x\n!ls", "ipython3", None),
        ("print 'py2'\n%time 1", "ipython2", None),
        ("def f(x):\n    return [x] * 2\n", "python", None),
        ("%%bash\necho $HOME | tr a-z A-Z", "ipython3", {"magics_language": "bash"}),
        ("SELECT 1 FROM t WHERE a = 'b'", "sql", None),
        ("", "ipython3", None),
        ("whatever {", "no-such-language", None),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for source, language, metadata in cases:
            formatter = HtmlFormatter(cssclass=f"highlight hl-{language}")
            theirs = _pygments_highlight(source or " ", formatter, language, metadata)
            assert ours(source, language, metadata) == theirs, (language, source)
            assert ours(source, language, metadata) == theirs  # the kept lexer and formatter give the same again
    assert any("no-such-language" in str(w.message) for w in caught)


def test_ipython_code_highlights_as_nbconvert_highlights_it_whether_it_uses_ipythons_syntax_or_not() -> None:
    """Cells without IPython's own syntax take Python's lexer (:func:`nbrunner.notebook.highlight.lexer_for`): the
    HTML is nbconvert's (IPython lexer) for every chunk of real Python source, as it is and with IPython's syntax in."""
    import dataclasses
    import inspect
    import json.encoder
    import textwrap

    from nbconvert.filters.highlight import _pygments_highlight
    from pygments.formatters import HtmlFormatter

    from nbrunner.notebook.highlight import cached_highlighter, lexer_for

    ours = cached_highlighter(None)
    formatter = HtmlFormatter(cssclass="highlight hl-ipython3")
    lines = "".join(inspect.getsource(m) for m in (dataclasses, json.encoder, textwrap)).splitlines(keepends=True)
    chunks = ["".join(lines[i : i + 25]) for i in range(0, len(lines), 25)]
    extras = ["a != b and c!= d\n", "x = f'{a!r} {b!s}'\n", "%time f(1)\n", "!ls -l\n", "f?\n", "y = a%b\n",
              "s = 'is it?'\n", "%%html\n<b>x</b>\n", "print('done!')\n"]  # fmt: skip
    plain = 0
    for source in chunks + extras + [chunk + extra for chunk, extra in zip(chunks, extras * len(chunks), strict=False)]:
        plain += lexer_for("ipython3", source) == "python3"
        assert ours(source, "ipython3") == _pygments_highlight(source, formatter, "ipython3", None), source[:200]
    assert plain > len(chunks) // 2  # most real code takes the cheaper way; the comparison covers both ways
    assert lexer_for("ipython3", "a != b\n") == "python3" and lexer_for("ipython3", "!pip list\n") == "ipython3"


def test_a_run_imports_neither_ipython_nor_soupsieves_selector_parser(tmp_path: Path) -> None:
    """What a run does not use is not loaded into the runner: IPython (its lexers come from their own package) and
    soupsieve's CSS-selector parser (deferred); soupsieve still works once something uses it."""
    import subprocess
    import sys

    code = (
        "import sys, nbformat\n"
        "from nbrunner.notebook.render import Renderer\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell('# t'), nbformat.v4.new_code_cell('1')])\n"
        "nb.metadata['language_info'] = {'name': 'python', 'pygments_lexer': 'ipython3'}\n"
        "html = Renderer().render(nb, title='t')\n"
        "assert 'hl-ipython3' in html and '<h1' in html, html[:300]\n"
        "print(sorted(m for m in sys.modules if m in ('IPython', 'ipython_pygments_lexers') or "
        "m.startswith('soupsieve.')))\n"
        "from bs4 import BeautifulSoup\n"
        "print(len(BeautifulSoup(html, 'html.parser').select('div.jp-Cell')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded, cells = done.stdout.splitlines()
    assert loaded == "[]"
    assert int(cells) == 2


def test_a_cells_stream_is_shortened_once_over_all_its_outputs() -> None:
    """The kernel sends a long print in messages of a few megabytes, each its own output: the cell's stdout gets
    one head and one tail over all of them (stderr its own), and what lies between is left out of the HTML."""
    parts = [f"<{i:02d}>" + "x" * 300 for i in range(20)]  # 20 outputs of 304 characters
    outputs = [v4.new_output("stream", name="stdout", text=part) for part in parts[:10]]
    outputs += [v4.new_output("display_data", data={"text/plain": "between"})]
    outputs += [v4.new_output("stream", name="stderr", text="err\n")]
    outputs += [v4.new_output("stream", name="stdout", text=part) for part in parts[10:]]
    nb = v4.new_notebook(cells=[v4.new_code_cell("print()", outputs=outputs)])
    before = nbformat.writes(nb)
    shown = render.shortened(nb, 1000).cells[0].outputs  # type: ignore[attr-defined]
    stdout = "".join(o.text for o in shown if o.get("name") == "stdout")
    whole = "".join(parts)
    assert stdout.startswith(whole[:500]) and stdout.endswith(whole[-500:])
    assert stdout.count("characters not shown here") == 1 and f"{len(whole) - 1000:,} characters" in stdout
    assert len(stdout) < 1100
    assert [o.text for o in shown if o.get("name") == "stderr"] == ["err\n"]
    assert [o.data["text/plain"] for o in shown if o.output_type == "display_data"] == ["between"]
    assert nbformat.writes(nb) == before


def test_a_huge_exception_message_is_shortened_in_the_html_only() -> None:
    last = "ValueError: HEAD" + "v" * 5000 + "TAIL"
    error = v4.new_output("error", ename="ValueError", evalue="v" * 5000, traceback=["Traceback (most recent)", last])
    nb = v4.new_notebook(cells=[v4.new_code_cell("raise", outputs=[error])])
    before = nbformat.writes(nb)
    lines = render.shortened(nb, 1000).cells[0].outputs[0].traceback  # type: ignore[attr-defined]
    assert lines[0] == "Traceback (most recent)" and lines[1].startswith("ValueError: HEAD")
    assert lines[1].endswith("TAIL") and len(lines[1]) < 1200 and "characters not shown here" in lines[1]
    assert nbformat.writes(nb) == before


def test_megabytes_printed_in_one_cell_give_a_page_of_one_head_and_tail(tmp_path: Path) -> None:
    """Real run: 30 MB printed in 30 flushes by each of two cells (30 IOPub messages, 30 outputs each): the page
    keeps one head and tail per cell, as for one long output; the .ipynb keeps every character."""
    from tests.conftest import run_cli

    loud = (
        "import sys\nfor i in range(30):\n    sys.stdout.write(f'<{i:02d}>' + 'y' * 999_996)\n    sys.stdout.flush()\n"
    )
    nb = v4.new_notebook(cells=[v4.new_code_cell(loud + "print('END-1')"), v4.new_code_cell(loud + "print('END-2')")])
    nbformat.write(nb, tmp_path / "loud.ipynb")
    result = run_cli("run", str(tmp_path / "loud.ipynb"), "-o", str(tmp_path / "out" / "loud.ipynb"))
    assert result.code == 0, result.stderr[-2000:]
    kept = nbformat.read(tmp_path / "out" / "loud.ipynb", as_version=4)
    for index, cell in enumerate(kept.cells, start=1):
        printed = "".join(output.text for output in cell.outputs)
        assert len(printed) == 30_000_000 + len("END-1\n") and printed.endswith(f"END-{index}\n")
        assert len(cell.outputs) > 2  # it came in several outputs
    page = (tmp_path / "out" / "loud.html").read_text()
    assert len(page) < 2 * render.MAX_OUTPUT + 1_000_000  # two cells' heads and tails, and the template
    assert page.count("characters not shown here; the .ipynb has the whole output") == 2
    assert page.count("&lt;00&gt;") == 2 and "END-1" in page and "END-2" in page
