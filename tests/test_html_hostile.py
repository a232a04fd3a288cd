"""What a run shows is data, never markup: hostile text in an exception message, its name, a parameter, a stream, a
display or a markdown link reaches the run's HTML as text, through the real CLI and a real kernel; an HTML output
and an author's raw HTML stay HTML but inert. Checked as a property over every hostile string and every place it
can go: the page has no script (the clean page has none either), no ``on*`` attribute, no frame, plugin or form
and no ``javascript:``/``vbscript:``/``data:`` link, and still shows the text."""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import nbformat
from nbformat import v4

from tests.conftest import run_cli

#: strings that are markup, or markdown that makes markup, if shown unescaped
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "[x](javascript:alert(3))",
    '<a href="javascript:alert(4)">a</a>',
    "<svg/onload=alert(5)>",
    '"><img src=x onerror=alert(6)>',
    "' onmouseover='alert(7)",
    "</pre></span></div><script>alert(8)</script>",
    "$<img src=x onerror=alert(9)>$",
    "`</code><img src=x onerror=alert(10)>`",
    "<javascript:alert(11)>",
    "a\n\n<img src=x onerror=alert(12)>\n\n## heading\n    <b onclick=alert(13)>indented</b>",
    "&lt;script&gt;alert(14)&lt;/script&gt; &amp; \\<img src=x onerror=alert(15)\\>",
    "```mermaid\n<img src=x onerror=alert(16)>\n```",
]
#: markdown an author may write in a cell: kept as markdown, but no link of these goes anywhere
LINKS = [
    "[a](javascript:alert(21))",
    "[b](JAVASCRIPT:alert(22))",
    "[c](  javascript:alert(23))",
    "[d](java&#115;cript:alert(24))",
    "[e](&#106;avascript:alert(25))",
    "[f](vbscript:msgbox(26))",
    "[g](data:text/html;base64,PHNjcmlwdD5hbGVydCgyNyk8L3NjcmlwdD4=)",
    "![h](javascript:alert(28))",
    "<javascript:alert(29)>",
    "[i][ref]\n\n[ref]: javascript:alert(30)",
]
#: HTML an output or an author's markdown cell may hold: shown as HTML, with nothing in it that runs
MARKUP = (
    "<img src=x onerror=alert('html-img')>"
    "<script>alert('html-script')</script>"
    "<a id=js href=\"javascript:alert('html-link')\">a javascript: link</a>"
    "<a href=\"java&#x0A;script:alert('entity')\">entity</a><a href=\"java\tscript:alert('tab')\">tab</a>"
    "<div id=hover onmouseover=alert('html-hover') style='width:400px;height:40px'>hover me</div>"
    "<iframe srcdoc=\"<script>parent.alert('srcdoc')</script>\"></iframe>"
    "<details open ontoggle=alert('toggle')><summary>s</summary>d</details>"
    "<svg><animate attributeName=href values=javascript:alert('svg') /><a><text y=20>svg</text></a>"
    "<set attributeName=onmouseover to=alert('set') /></svg>"
    "<meta http-equiv=refresh content=\"0;url=javascript:alert('refresh')\">"
    "<form action=javascript:alert('form')><button>go</button></form>"
    "<table><tr><td style='color: green'>kept</td></tr></table>"
    "<img src=x onerror=alert('unclosed')"
)
POLICY = "Content-Security-Policy"
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcdoc"}


class Page(HTMLParser):
    """Every element's attributes and the text a reader sees."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def unsafe(self) -> list[str]:
        """Scripts, inline handlers and links that run or load a document of their own."""
        found = []
        for tag, attrs in self.tags:
            if tag in ("script", "iframe", "frame", "object", "embed", "base", "form"):
                found.append(f"<{tag}>")
            if tag == "meta" and dict(attrs).get("http-equiv", POLICY) != POLICY:  # the template's own policy
                found.append("<meta http-equiv>")
            for name, value in attrs:
                if name.startswith("on") or (name == "attributename" and (value or "").lower().startswith("on")):
                    found.append(f"<{tag} {name}=...>")
                scheme = "".join((value or "").split()).lower()
                if name in URL_ATTRIBUTES and scheme.startswith(("javascript:", "vbscript:", "data:")):
                    if not (tag == "img" and name == "src" and scheme.startswith("data:image/")):
                        found.append(f"<{tag} {name}={value!r}>")
        return found


PARAMETERS = "a = ''\nb = ''\nc = ''\nd = ''"


def _cells(values: list[str]) -> list[object]:
    """One cell per place a value can reach the page, each showing every value; the last fails with an exception
    whose name and message are values (the banner, the traceback, the record)."""
    show = f"values = {json.dumps(values)}\n"
    return [
        v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        v4.new_code_cell(show + "for v in values:\n    print(v)"),
        v4.new_code_cell(show + "import sys\nfor v in values:\n    print(v, file=sys.stderr)"),
        v4.new_code_cell(
            show + "from IPython.display import display\n"
            "for v in values:\n"
            "    display({'text/plain': v}, raw=True)\n"
            "    display({'text/markdown': v, 'text/plain': 'md'}, raw=True)\n"
            "    display({'text/latex': v, 'text/plain': 'tex'}, raw=True)\n"
            "    display({'text/vnd.mermaid': v, 'text/plain': 'mermaid'}, raw=True)\n"
            "values[-1]"
        ),
        v4.new_code_cell(
            show + "from IPython.display import Javascript, display\nfor v in values:\n"
            "    display(Javascript(f'alert({v!r})'))"
        ),  # fmt: skip
        v4.new_code_cell(show + f"from IPython.display import HTML, display\ndisplay(HTML({MARKUP!r}))"),
        v4.new_markdown_cell("Links an author wrote:\n\n" + "\n\n".join(LINKS)),
        v4.new_markdown_cell(f"An author's raw HTML:\n\n{MARKUP.replace('html-', 'md-')}\n"),
        v4.new_code_cell(show + "Hostile = type(values[0], (Exception,), {})\nraise Hostile(' | '.join(values))"),
    ]


def run(tmp_path: Path, name: str, values: list[str], **params: str) -> tuple[dict[str, Any], str, Path]:
    nbformat.write(v4.new_notebook(cells=_cells(values)), tmp_path / f"{name}.ipynb")
    args = [arg for key, value in params.items() for arg in ("-p", f"{key}={json.dumps(value)}")]
    result = run_cli("run", str(tmp_path / f"{name}.ipynb"), "-o", str(tmp_path / "out" / f"{name}.ipynb"), *args)
    assert result.code == 4, result.stderr
    return result.record, (tmp_path / "out" / f"{name}.html").read_text(), tmp_path / "out" / f"{name}.ipynb"


def banner_text(page: str) -> str:
    found = re.search(r'<div class="nbrunner-banner">(.*?)</div>', page, re.DOTALL)
    assert found, "no banner"
    return "".join(Page(found.group(1)).text)


def test_hostile_data_is_text_in_the_page_everywhere_it_can_go(tmp_path: Path) -> None:
    record, page, _ = run(tmp_path, "hostile", HOSTILE)
    last = len(_cells(HOSTILE)) - 1
    _, clean_page, _ = run(tmp_path, "clean", ["PlainError", "plain words"])  # the same cells, nothing hostile
    seen, clean = Page(page), Page(clean_page)
    assert [tag for tag, _ in seen.tags if tag == "script"] == [tag for tag, _ in clean.tags if tag == "script"] == []
    assert seen.unsafe() == [] and clean.unsafe() == []
    text = "".join(seen.text)
    for value in HOSTILE:
        assert value in text, value  # shown as it is, as text (the streams)
    banner = banner_text(page)
    assert banner.startswith("nbrunner: this run failed (exit code 4)")
    assert record["message"].startswith(f"cell {last} failed: {HOSTILE[0]}: {HOSTILE[0]} | {HOSTILE[1]}")
    assert f"Error: {record['message']}Run {record['run_id']}, started" in banner  # the record's message, verbatim
    assert f"Failing cell: cell {last} (In [" in banner and "]): values = [" in banner
    assert "application/javascript not run: this page runs no scripts; its source follows" in text
    assert "alert('<script>alert(2)</script>')" in text  # the script's source, as text
    assert "text/vnd.mermaid not shown: it needs JavaScript" in text
    assert page.count('<td style="color: green">kept</td>') == 2  # the HTML output's and the author's table


def test_parameters_names_and_markdown_links_are_never_live(tmp_path: Path) -> None:
    given = dict(zip("abcd", HOSTILE[:4], strict=True))
    name = 'params <img src=x onerror=alert(40)> &amp; "q"'  # the notebook's file name: the page's title
    _, page, kept = run(tmp_path, name, ["x"], **given)
    seen = Page(page)
    assert seen.unsafe() == []
    assert [html.unescape(title) for title in re.findall(r"<title>(.*?)</title>", page)] == [f"{name}.ipynb"]
    text = "".join(seen.text)
    for name, value in given.items():
        assert f"{name} = {value!r}" in text, value  # the injected cell shows each as code
    links = [dict(attrs).get("href") for tag, attrs in seen.tags if tag == "a" and "anchor-link" not in str(attrs)]
    assert links.count("#harmful-link") == len(LINKS) - 1  # the author's links: still links, going nowhere
    assert "#harmful-link" in [dict(attrs).get("src") for tag, attrs in seen.tags if tag == "img"]  # ![h](...)
    notebook = nbformat.read(kept, as_version=4)  # the .ipynb keeps the script output as it was
    assert any(
        "application/javascript" in o.get("data", {}) for cell in notebook.cells for o in cell.get("outputs", [])
    )
