"""A failed run's HTML full of hostile data (:mod:`tests.test_html_hostile`), opened in headless Chromium as a person
opens it: no dialog fires while it loads, its images fail, and its links and elements are hovered and clicked. An
HTML output and an author's raw HTML are shown as HTML, so the handlers in them are in the page: the page's
Content-Security-Policy is what keeps them from running, and the same page opened with that policy bypassed shows
that they would (the check that this test can see a dialog at all)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import v4

from tests.conftest import run_cli
from tests.test_browser import browser, offline_page  # noqa: F401 - the fixture
from tests.test_html_hostile import HOSTILE, _cells

pytestmark = pytest.mark.browser

MARKUP = (
    "<img src=x onerror=alert('html-img')>"
    "<script>alert('html-script')</script>"
    "<a id=js href=\"javascript:alert('html-link')\">a javascript: link</a>"
    "<div id=hover onmouseover=alert('html-hover') style='width:400px;height:40px'>hover me</div>"
    "<iframe srcdoc=\"<script>parent.alert('srcdoc')</script>\"></iframe>"
    "<details open ontoggle=alert('toggle')><summary>s</summary>d</details>"
    "<meta http-equiv=refresh content=\"0;url=javascript:alert('refresh')\">"
)


def hostile_page(tmp_path: Path) -> Path:
    cells = _cells(HOSTILE)
    extra = [
        v4.new_code_cell(f"from IPython.display import HTML, display\ndisplay(HTML({json.dumps(MARKUP)}))"),
        v4.new_markdown_cell(f"An author's raw HTML:\n\n{MARKUP.replace('html-', 'md-')}"),
    ]
    nbformat.write(v4.new_notebook(cells=[*cells[:-1], *extra, cells[-1]]), tmp_path / "hostile.ipynb")
    result = run_cli("run", str(tmp_path / "hostile.ipynb"), "-o", str(tmp_path / "out" / "hostile.ipynb"))
    assert result.code == 4, result.stderr
    return tmp_path / "out" / "hostile.html"


def test_a_failed_runs_hostile_page_runs_nothing(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    url = hostile_page(tmp_path).as_uri()
    page, tried = offline_page(browser, url)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.reload()  # now with the dialog handler in place from the first byte
    page.wait_for_load_state("load")
    page.wait_for_function("[...document.images].every(image => image.complete)")  # every onerror's moment passed
    page.locator("#hover").first.hover()
    page.locator("#js").first.click()
    for index in range(page.locator("a").count()):  # the banner's, the harmful links' (#harmful-link), anchors
        link = page.locator("a").nth(index)
        if link.is_visible():
            link.click()
    page.locator(".nbrunner-banner").hover()
    assert dialogs == []
    assert page.url.startswith(url)  # nothing navigated away (the refresh, a link)
    assert page.locator(".nbrunner-banner", has_text=f"{HOSTILE[0]}: {HOSTILE[0]} | {HOSTILE[1]}").is_visible()
    assert page.get_by_text("application/javascript not run: this page runs no scripts").first.is_visible()
    assert tried == []

    unguarded = browser.new_context(bypass_csp=True).new_page()  # the control: without the policy, it would run
    fired: list[str] = []
    unguarded.on("dialog", lambda dialog: (fired.append(dialog.message), dialog.dismiss()))
    unguarded.goto(url)  # up to "load": an inline <script> runs as the page is parsed
    assert "html-script" in fired and "md-script" in fired
