"""What papermill's and scrapbook's readers find in a notebook nbrunner ran: scraps, parameters, its metadata."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat import v4

import nbrunner
from tests.conftest import read_nb, run_cli

scrapbook = pytest.importorskip("scrapbook")

#: every kind of value nbrunner.output takes, and text that reads as JSON (it must come back as text)
VALUES = {
    "text": "hello",
    "json_text": "123",
    "count": 42,
    "ratio": 0.25,
    "flag": True,
    "tables": ["a", "b"],
    "nested": {"ok": True, "rows": [1, 2], "none": None},
}


def write(path: Path, *sources: str, parameters: str | None = None) -> Path:
    cells = [v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})] if parameters is not None else []
    cells += [v4.new_code_cell(source) for source in sources]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_every_output_is_a_scrapbook_scrap(tmp_path: Path) -> None:
    calls = "\n".join(f"nbrunner.output({name!r}, {value!r})" for name, value in VALUES.items())
    notebook = write(
        tmp_path / "outputs.ipynb",
        "import nbrunner\nimport scrapbook as sb",
        calls,
        "nbrunner.output('nothing', None)",  # a scrap cannot hold None: the record has it, scrapbook does not
        "sb.glue('glued', {'by': 'scrapbook'})",  # scrapbook's own scrap: no text form to show in the HTML
    )
    result = run_cli("run", str(notebook))
    assert result.code == 0, result.stderr
    assert result.record["outputs"] == {**VALUES, "nothing": None, "glued": {"by": "scrapbook"}}
    scraps = scrapbook.read_notebook(result.record["output"]).scraps
    assert scraps.data_dict == {**VALUES, "glued": {"by": "scrapbook"}}
    assert {name: scrap.encoder for name, scrap in scraps.items()}["json_text"] == "text"
    assert "not able to be represented" not in result.stderr
    html = Path(result.record["html"]).read_text()
    assert "nbrunner output count = 42" in html  # an output's line of text is shown


def test_a_skipped_run_is_no_exception_for_papermill(tmp_path: Path) -> None:
    notebook = write(tmp_path / "skip.ipynb", "import nbrunner\nnbrunner.skip('no data')", "raise RuntimeError")
    result = run_cli("run", str(notebook))
    assert result.code == 99, result.stderr
    nb = read_nb(Path(result.record["output"]))
    assert nb.metadata.papermill.exception is False
    assert [cell.metadata.papermill.status for cell in nb.cells] == ["completed", "pending"]
    assert not any(cell.metadata.papermill.exception for cell in nb.cells)


def test_papermill_metadata_has_default_parameters_and_version(tmp_path: Path) -> None:
    from papermill.iorw import load_notebook_node

    notebook = write(
        tmp_path / "params.ipynb",
        "print(date, n)",
        parameters="import datetime\ndate = '2026-01-01'  # the day\nn: int = 10\npair = (1, 2)\ntags = {'a'}\n"
        "today = datetime.date.today()\nmissing = None",
    )
    result = run_cli("run", str(notebook), "-p", "n=3")
    assert result.code == 0, result.stderr
    meta = load_notebook_node(result.record["output"]).metadata.papermill  # as papermill reads an output notebook
    # literal defaults that are JSON values (the tuple as a list); a set and an expression left out
    assert meta.default_parameters == {"date": "2026-01-01", "n": 10, "pair": [1, 2], "missing": None}
    assert meta.parameters == {"n": 3}
    assert meta.version == nbrunner.__version__ and meta.runner == "nbrunner"
    assert meta.exception is False and meta.environment_variables == {}
    assert scrapbook.read_notebook(result.record["output"]).parameters == {"n": 3}
