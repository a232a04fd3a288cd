"""The run HTML and the runs page as a person sees them, in headless Chromium (Debian's chromium, which dev/test.sh
installs where missing), offline: every request but file: and data: is refused and counted."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import v4

from tests.conftest import invoke, run_cli
from tests.test_html_outputs import PNG, display

pytestmark = pytest.mark.browser

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "no chromium on PATH: bash dev/test.sh installs Debian's chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        yield launched
        launched.close()


def offline_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A page that may load nothing from the network: what it tried is returned."""
    tried: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 800})

    def route(handle: Any) -> None:
        if handle.request.url.startswith(("file:", "data:")):
            handle.continue_()
        else:
            tried.append(handle.request.url)
            handle.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(url)
    page.wait_for_load_state("load")
    return page, tried


def colors_in(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 24) or [])


def test_a_failed_runs_page_shows_everything_and_the_banner_links_to_the_cell(browser: Any, tmp_path: Path) -> None:
    table = "<table><tr><th>region</th><th>rows</th></tr><tr><td>eu</td><td>12</td></tr></table>"
    nb = v4.new_notebook(cells=[
        v4.new_markdown_cell("# Daily report"),
        v4.new_code_cell("for i in range(150):\n    print('line', i)"),
        v4.new_code_cell(display({"text/html": table, "text/plain": "a table"})),
        v4.new_code_cell(display({"image/png": PNG, "text/plain": "a picture"})),
        v4.new_code_cell(display({"application/vnd.plotly.v1+json": {"data": []}, "text/plain": "Figure()"})),
        v4.new_code_cell("raise KeyError('region')"),
    ])  # fmt: skip
    nbformat.write(nb, tmp_path / "report.ipynb")
    result = run_cli("run", str(tmp_path / "report.ipynb"), "-o", str(tmp_path / "out" / "report.ipynb"))
    assert result.code == 4, result.stderr
    page, tried = offline_page(browser, (tmp_path / "out" / "report.html").as_uri())
    banner = page.locator(".jp-MarkdownCell", has_text="nbrunner: this run failed").first
    box = banner.bounding_box()
    assert box is not None and box["y"] < 200  # at the top, seen first
    shot = page.screenshot(clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"]})
    assert colors_in(shot) > 10  # text drawn, not a blank box
    target = result.record["failed_cell"]["id"]
    page.locator(f'a[href="#cell-id={target}"]').click()
    page.wait_for_function("window.scrollY > 0")
    cell = page.locator(f'[id="cell-id={target}"]').bounding_box()
    assert cell is not None and 0 <= cell["y"] < 800  # the failing cell is in view
    assert page.evaluate("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
    assert page.evaluate("document.images.length") >= 1
    assert page.locator("table", has_text="region").first.is_visible()
    blank = page.evaluate("""[...document.querySelectorAll('.jp-OutputArea-output')]
        .filter(el => !el.innerText.trim() && !el.querySelector('img, svg')).length""")
    assert blank == 0
    assert page.get_by_text("not shown: it needs JavaScript").first.is_visible()
    assert tried == []


def test_the_runs_page_links_every_run_and_draws_the_strips(browser: Any, notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "night"
    for _ in range(3):
        run_cli("run", str(notebooks / "ok.ipynb"), str(notebooks / "fails.ipynb"), "--keep-going", "-o",
                f"{out}/{{run_id}}/")  # fmt: skip
    index = tmp_path / "index.html"
    assert invoke("runs", str(out), "--html", str(index)).code == 0
    page, tried = offline_page(browser, index.as_uri())
    assert page.locator("#runs tr").count() == 1 + 6
    strips = page.locator("#notebooks svg")
    assert strips.count() == 2 and all((strips.nth(i).bounding_box() or {}).get("width", 0) > 0 for i in range(2))
    links = page.locator("#runs a")
    assert links.count() == 6
    links.first.click()
    page.wait_for_load_state("load")
    assert page.url.endswith(".html") and any(name in page.title() for name in ("ok", "fails"))
    assert page.locator(".jp-Cell").count() >= 1
    assert tried == []
