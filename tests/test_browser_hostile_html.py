"""A failed run's HTML full of hostile data (:mod:`tests.test_html_hostile`: exception, streams, displays, an HTML
output and an author's raw HTML), opened in headless Chromium as a person opens it: no dialog fires while it loads,
its images fail, and its elements are hovered and its links clicked; no script element, handler or script address
is in the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import v4

from tests.conftest import run_cli
from tests.test_browser import browser, offline_page  # noqa: F401 - the fixture
from tests.test_html_hostile import HOSTILE, _cells

pytestmark = pytest.mark.browser


def watched(browser: Any, url: str) -> tuple[Any, list[str], list[str]]:  # noqa: F811
    """The page at ``url``, loaded with a dialog handler in place from the first byte; the dialogs it opened."""
    page, tried = offline_page(browser, url)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.reload()
    page.wait_for_load_state("load")
    page.wait_for_function("[...document.images].every(image => image.complete)")  # every onerror's moment passed
    return page, dialogs, tried


def test_a_failed_runs_hostile_page_runs_nothing(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    control = tmp_path / "control.html"  # this test sees a dialog when there is one
    control.write_text("<p>control</p><img src=x onerror=alert('control')>")
    assert watched(browser, control.as_uri())[1] == ["control"]

    nbformat.write(v4.new_notebook(cells=_cells(HOSTILE)), tmp_path / "hostile.ipynb")
    result = run_cli("run", str(tmp_path / "hostile.ipynb"), "-o", str(tmp_path / "out" / "hostile.ipynb"))
    assert result.code == 4, result.stderr
    url = (tmp_path / "out" / "hostile.html").as_uri()
    page, dialogs, tried = watched(browser, url)
    for hovered in page.locator("#hover").all():
        hovered.hover()
    for link in page.locator("a").all():  # the banner's, the harmful links' (#harmful-link), the emptied ones
        if link.is_visible():
            link.click()
    page.locator(".nbrunner-banner").hover()
    assert dialogs == []
    assert page.url.startswith(url)  # nothing navigated away (a refresh, a link)
    assert page.evaluate("document.scripts.length + document.querySelectorAll('script, iframe').length") == 0
    handlers = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
        ".filter(name => name.startsWith('on'))"
    )
    assert handlers == []
    assert set(page.evaluate("[...document.links].map(a => a.protocol)")) <= {"file:", "http:", "https:"}
    assert page.locator(".nbrunner-banner", has_text=f"{HOSTILE[0]}: {HOSTILE[0]} | {HOSTILE[1]}").is_visible()
    assert page.get_by_text("application/javascript not run: this page runs no scripts").first.is_visible()
    assert page.locator("td", has_text="kept").count() == 2  # the HTML shown as HTML
    assert tried == []
