"""The templates' compiled code kept between runs: used when present, never a reason for a wrong or missing page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from nbformat import v4

from nbrunner.notebook import render, template_cache

CELLS = [v4.new_markdown_cell("# Title"), v4.new_code_cell("x = 1", outputs=[v4.new_output("stream", text="k\n")])]
NOTEBOOK = v4.new_notebook(cells=CELLS, metadata={"language_info": {"name": "python"}})


def page() -> str:
    body, _ = render.exporter().from_notebook_node(NOTEBOOK, resources={"metadata": {"name": "t"}})
    return str(body)


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "nbrunner" / "templates"


def test_a_second_exporter_loads_the_templates_compiled_by_the_first(
    cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jinja2

    first = page()
    entries = sorted(cache_home.iterdir())
    assert entries and oct(cache_home.stat().st_mode & 0o777) == "0o700"

    def no_compiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("a template was compiled although its compiled code is in the cache")

    monkeypatch.setattr(jinja2.Environment, "compile", no_compiling)
    assert page() == first
    assert sorted(cache_home.iterdir()) == entries


def test_damaged_entries_are_compiled_again_and_the_page_is_the_same(cache_home: Path) -> None:
    first = page()
    for entry in cache_home.iterdir():
        entry.write_bytes(entry.read_bytes()[:40] + b"\x00garbage")
    assert page() == first


def test_no_private_folder_no_cache_and_still_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    (shared / "nbrunner" / "templates").mkdir(parents=True)
    os.chmod(shared / "nbrunner" / "templates", 0o777)  # noqa: S103 - others could plant code there: not used
    assert template_cache.cache_folder({"XDG_CACHE_HOME": str(shared)}) is None
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")  # the cache's place is taken (or read-only): no cache
    assert template_cache.cache_folder({"XDG_CACHE_HOME": str(blocked)}) is None
    monkeypatch.chdir(tmp_path)
    assert template_cache.cache_folder({"XDG_CACHE_HOME": "relative/cache"}) is None  # XDG: relative is ignored
    monkeypatch.setattr(Path, "home", lambda: Path("~"))  # Python 3.11 without HOME or a passwd entry
    assert template_cache.cache_folder({}) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "shared"]  # nothing made in the working folder
    mine = template_cache.cache_folder({"XDG_CACHE_HOME": str(tmp_path / "mine")})
    assert mine == tmp_path / "mine" / "nbrunner" / "templates"
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert "Title" in page()
