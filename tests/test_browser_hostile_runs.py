"""The runs page of hostile records (:mod:`tests.test_hostile_records`) as a person opens it, in headless Chromium:
no dialog fires, no script element exists, no element carries a handler, and every link is a file or http(s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.test_browser import browser, offline_page  # noqa: F401 - the fixture
from tests.test_hostile_records import hostile_records, write

pytestmark = pytest.mark.browser


def test_a_page_of_hostile_records_runs_nothing(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    shown, skipped = hostile_records()
    write(tmp_path / "shared", shown)
    write(tmp_path / "shared" / "more", skipped)
    index = tmp_path / "index.html"
    made = invoke("runs", str(tmp_path / "shared"), "--html", str(index), "--url-template", "https://c.example/{key}")
    assert made.code == 0, made.stderr
    page, tried = offline_page(browser, index.as_uri())
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.reload()  # now with the dialog handler in place from the first byte
    page.wait_for_load_state("load")
    page.locator("#runs tr").last.hover()
    assert dialogs == []
    assert page.evaluate("document.scripts.length + document.querySelectorAll('script').length") == 0
    handlers = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))"
        ".filter(name => name.startsWith('on'))"
    )
    assert handlers == []
    protocols = set(page.evaluate("[...document.links].map(a => a.protocol)"))
    assert protocols <= {"file:", "https:"} and "file:" in protocols and "https:" in protocols
    assert page.locator("#runs tr").count() == 1 + len(shown)
    assert page.locator("#runs td", has_text="<script>alert(1)</script>").first.is_visible()  # shown as text
    assert tried == []
