"""What the morning reader sees must be true: outputs, validity, banners, HTML, logs, other kernels, messages."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nbrunner.core.kernels import KernelChoice
from nbrunner.plan.build import render_parameters
from tests.conftest import read_nb, run_cli
from tests.test_run import outputs_text


def test_outputs_of_cells_that_never_ran_are_not_an_older_runs(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "stale_outputs.ipynb"))
    assert result.code == 4, result.stderr
    nb = read_nb(Path(result.record["output"]))
    failed, below = nb.cells[3], nb.cells[4]  # after the banner
    assert "fresh 1" in outputs_text(nb.cells[2]) and failed.metadata.nbrunner["status"] == "failed"
    assert below.outputs == [] and below.execution_count is None
    assert below.metadata.nbrunner == {"status": "not-run"} and below.metadata.papermill["status"] == "pending"
    html = Path(result.record["html"]).read_text()
    for text in (nb_text := json.dumps(nb), html):
        assert "OLD OUTPUT" not in text
    assert "this time it fails" in nb_text and "<title>stale_outputs.ipynb</title>" in html


def test_nbformat_4_4_input_gives_a_valid_4_5_output(notebooks: Path) -> None:
    assert json.loads((notebooks / "v44.ipynb").read_text())["nbformat_minor"] == 4
    result = run_cli("run", str(notebooks / "v44.ipynb"), "-p", "n=5")  # an injected cell and a banner are added
    assert result.code == 4, result.stderr
    nb = read_nb(Path(result.record["output"]))  # validates
    assert len({cell.id for cell in nb.cells}) == len(nb.cells) == 5
    assert "n is 5" in outputs_text(nb.cells[3])


def test_papermill_banners_of_an_earlier_failure_are_removed(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "papermill_failed.ipynb"))
    assert result.code == 0, result.stderr
    nb = read_nb(Path(result.record["output"]))
    assert not any("papermill-error-cell-tag" in cell.metadata.get("tags", []) for cell in nb.cells)
    assert "An Exception was encountered" not in Path(result.record["html"]).read_text()
    assert [c.cell_type for c in nb.cells] == ["code", "code"]


def test_log_output_flushes_partial_lines_and_quiet_only_hides_progress(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "partial_lines.ipynb"), "--log-output", "-q")
    assert result.code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "[cell 0] progress 3/3" in lines  # a \r progress bar's final state
    assert "[cell 1] no newline at the end" in lines
    assert "[cell 2] a whole line" in lines
    assert not any(line.startswith("[nbrunner] cell") for line in lines)


def test_a_cell_tagged_raises_exception_that_raises_is_not_a_failure(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "raises_expected.ipynb"))
    assert result.code == 0, result.stderr
    nb = read_nb(Path(result.record["output"]))
    assert nb.cells[0].metadata.nbrunner["status"] == "ok"
    assert nb.cells[0].metadata.nbrunner["expected_error"] == "ValueError"
    assert "after the expected error" in outputs_text(nb.cells[1])
    assert "[nbrunner] cell 0/1 ok" in result.stderr


def test_papermill_metadata_is_written_beside_nbrunners(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "fails.ipynb"), "-p", "x=7")
    nb = read_nb(Path(result.record["output"]))
    meta = nb.metadata.papermill
    assert meta["parameters"] == {"x": 7} and meta["exception"] is True
    assert meta["input_path"] == str(notebooks / "fails.ipynb") and meta["output_path"] == result.record["output"]
    assert meta["duration"] == result.record["duration_s"]
    statuses = [cell.metadata.get("papermill", {}).get("status") for cell in nb.cells]
    assert statuses == [None, "completed", "completed", "completed", "failed", "pending"]  # banner first
    failed = nb.cells[4].metadata.papermill
    assert failed["exception"] is True and failed["start_time"] <= failed["end_time"]


def test_banner_wording(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "slow.ipynb"), "--cell-timeout", "1")
    banner = read_nb(Path(result.record["output"])).cells[0].source
    assert banner.startswith("## nbrunner: this run timed out (exit code 5)")


def test_r_parameters_are_written_in_r() -> None:
    source = render_parameters(
        {"n": 3, "name": "x'y", "ok": True, "none": None, "ids": [1, 2]}, KernelChoice("ir", None, "R")
    )
    assert 'name = "x\'y"' in source and "ok = TRUE" in source and "none = NULL" in source
    assert "n = 3" in source and "ids = list(1, 2)" in source
    assert source.startswith("# Parameters injected by nbrunner")


@pytest.fixture(scope="module")
def bash_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    prefix = tmp_path_factory.mktemp("jupyter")
    subprocess.run([sys.executable, "-m", "bash_kernel.install", "--prefix", str(prefix)], check=True,
                   capture_output=True)  # fmt: skip
    yield {"JUPYTER_PATH": str(prefix / "share" / "jupyter")}


def test_a_bash_notebook_runs_in_its_own_kernel_with_bash_parameters(
    notebooks: Path, bash_kernel: dict[str, str]
) -> None:
    result = run_cli("run", str(notebooks / "bash.ipynb"), "-p", "name=the world; rm -rf /", env=bash_kernel)
    assert result.code == 0, result.stderr
    nb = read_nb(Path(result.record["output"]))
    injected = nb.cells[1]
    assert injected.metadata.tags == ["injected-parameters"] and "name='the world; rm -rf /'" in injected.source
    assert "hello the world; rm -rf / from bash" in outputs_text(nb.cells[2])
    assert result.record["versions"]["kernel"]["name"] == "bash"


def test_a_notebook_whose_kernel_is_not_installed_exits_2_naming_it(notebooks: Path, tmp_path: Path) -> None:
    nb = json.loads((notebooks / "bash.ipynb").read_text())
    nb["metadata"]["kernelspec"] = {"name": "ir", "display_name": "R", "language": "R"}
    (notebooks / "report.ipynb").write_text(json.dumps(nb))
    result = run_cli("run", str(notebooks / "report.ipynb"), env={"JUPYTER_PATH": str(tmp_path)})
    assert result.code == 2, result.stderr
    assert "the notebook's kernel 'ir' (R): no such kernelspec is installed" in result.stderr


def test_an_input_with_invalid_metadata_gives_a_valid_notebook_and_its_html(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "invalid_metadata.ipynb"))
    assert result.code == 0, result.stderr
    nb = read_nb(Path(result.record["output"]))  # validates
    assert outputs_text(nb.cells[3]) == "42"
    assert "the notebook was not valid nbformat, repaired" in result.stderr
    assert "42" in Path(result.record["html"]).read_text()
