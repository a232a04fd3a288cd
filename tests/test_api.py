"""The Python API (what Airflow tasks call) and the command line's edge, in this process: a real kernel still runs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import nbrunner
from nbrunner import StorageOptions, inspect_notebook, run_notebook
from nbrunner.errors import CellFailed, ExitCode, NbrunnerError, ParameterError, UsageError
from tests.conftest import invoke, read_nb
from tests.test_run import outputs_text


def test_run_notebook_returns_the_record_and_writes_the_set(notebooks: Path, tmp_path: Path) -> None:
    record = run_notebook(notebooks / "params.ipynb", tmp_path / "{notebook}-{n}.ipynb", {"n": 3, "date": "2026-11-20"})
    assert isinstance(record, nbrunner.RunRecord)
    assert record.succeeded and record.status == "succeeded" and record.exit_code == 0
    out = tmp_path / "params-3.ipynb"
    assert record.output == str(out) and out.with_name("params-3.html").exists()
    assert '"n": [3, "int"]' in outputs_text(read_nb(out).cells[2])


def test_a_failure_raises_one_tree_carrying_the_code_and_the_record(notebooks: Path, tmp_path: Path) -> None:
    with pytest.raises(NbrunnerError) as caught:
        run_notebook(notebooks / "fails.ipynb", tmp_path / "out.ipynb")
    error = caught.value
    assert isinstance(error, CellFailed) and error.exit_code == ExitCode.CELL_FAILED == 4
    assert error.record.failed_cell["index"] == 2 and error.record.exit_code == 4
    assert "ValueError: the data is bad" in outputs_text(read_nb(tmp_path / "out.ipynb").cells[3])


def test_bad_input_raises_before_anything_runs(notebooks: Path, tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="declared int but got str") as caught:
        run_notebook(notebooks / "params.ipynb", tmp_path / "out.ipynb", {"n": "ten"})
    assert caught.value.exit_code == 3 and caught.value.record is None
    with pytest.raises(UsageError, match="does not exist"):
        run_notebook(tmp_path / "missing.ipynb")
    assert not (tmp_path / "out.ipynb").exists()


def test_progress_goes_to_the_nbrunner_logger(
    notebooks: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="nbrunner"):
        run_notebook(notebooks / "ok.ipynb", tmp_path / "ok.ipynb")
    assert any(message.startswith("[nbrunner] cell 3/3 ok") for message in caplog.messages), caplog.messages


def test_inspect_notebook_tells_parameters_and_kernel(notebooks: Path) -> None:
    info = inspect_notebook(notebooks / "params.ipynb")
    assert info.parameters_cell and [p.name for p in info.parameters][:2] == ["date", "n"]
    assert info.language == "python"
    assert info.as_json()["kernel"] == {"name": "python3", "language": "python"}


def test_malformed_endpoint_is_refused_before_the_run(notebooks: Path) -> None:
    # was: the whole notebook ran, then a traceback and exit 1 when storing
    with pytest.raises(UsageError, match="--endpoint-url .notaurl. is not an http.s. URL"):
        run_notebook(notebooks / "ok.ipynb", "s3://reports/x.ipynb", storage=StorageOptions(endpoint_url="notaurl"))
    result = invoke("run", str(notebooks / "ok.ipynb"), "--endpoint-url", "notaurl", "-o", "s3://reports/x.ipynb")
    assert result.code == 2, result.stderr
    assert "--endpoint-url 'notaurl' is not an http(s) URL" in result.stderr and "Traceback" not in result.stderr
    assert "[nbrunner] cell" not in result.stderr  # nothing ran
    message = result.stderr.split("error: ")[1].strip()
    expected = {"kind": "refused", "schema": 1, "status": "usage-error", "exit_code": 2, "message": message}
    assert result.record == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-r", "greeting=raw", "-qp", "greeting=typed"], "greeting = 'typed'"),  # was: 'raw'
        (["-p", "extra=1", "-r", "extra=1"], "extra = '1'"),
        (["-r", "extra=1", "--param=extra=2"], "extra = 2"),
        (["-rextra=x", "-pextra=null", "--raw-param", "extra=last"], "extra = 'last'"),
    ],
)
def test_the_later_of_p_and_r_wins_however_spelled(notebooks: Path, args: list[str], expected: str) -> None:
    result = invoke("run", str(notebooks / "ok.ipynb"), "--prepare-only", "--allow-undeclared", *args)
    assert result.code == 0, result.stderr
    cells = read_nb(Path(result.record["output"])).cells
    injected = next(c for c in cells if c.metadata.get("tags") == ["injected-parameters"])
    assert injected.source.splitlines()[-1] == expected


def test_a_refused_run_still_prints_its_record(notebooks: Path) -> None:
    result = invoke("run", str(notebooks / "params.ipynb"), "-p", "n=abc")
    assert result.code == 3
    assert result.record["status"] == "parameter-error" and "'n' is declared int" in result.record["message"]
    bad = invoke("run", str(notebooks / "params.ipynb"), "-p", "n")
    assert bad.code == 3 and bad.record["exit_code"] == 3 and "expected NAME=VALUE" in bad.stderr


def test_inspect_takes_the_storage_options(notebooks: Path) -> None:
    result = invoke("inspect", "s3://notebooks/x.ipynb", "--endpoint-url", "notaurl")
    assert result.code == 2 and "--endpoint-url 'notaurl' is not an http(s) URL" in result.stderr
    table = invoke("inspect", str(notebooks / "params.ipynb"))
    assert table.code == 0 and "  n: int = 10  # how many rows" in table.stdout


def test_api_values_are_rendered_from_the_plain_value_they_stand_for(notebooks: Path, tmp_path: Path) -> None:
    import enum

    import numpy as np

    class Evil(str):
        def __repr__(self) -> str:
            return "__import__('os').system('touch " + str(tmp_path / "pwned") + "')"

    class Size(enum.IntEnum):
        BIG = 10

    out = tmp_path / "plain.ipynb"
    values = {"n": Size.BIG, "ratio": np.float64(0.25), "label": Evil("ok"), "ids": (np.int64(3),)}
    record = run_notebook(notebooks / "params.ipynb", out, values)
    assert record.succeeded and not (tmp_path / "pwned").exists()
    shown = json.loads(outputs_text(read_nb(out).cells[2]))
    assert shown["n"] == [10, "int"] and shown["ratio"] == [0.25, "float"] and shown["label"] == ["ok", "str"]
    assert shown["ids"] == [[3], "list"]
    with pytest.raises(ParameterError, match="datetime.date"):
        import datetime

        run_notebook(notebooks / "params.ipynb", tmp_path / "no.ipynb", {"date": datetime.date(2026, 1, 1)})
    assert not (tmp_path / "no.ipynb").exists()


def test_the_run_reads_and_hands_the_kernel_the_environment_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell("import os, nbrunner\n"
                                          "print(os.environ.get('GIVEN'), os.environ.get('ONLY_IN_THIS_PROCESS'),"
                                          " len(nbrunner.secret('pw')))")]  # fmt: skip
    nbformat.write(nb, tmp_path / "env.ipynb")
    monkeypatch.setenv("ONLY_IN_THIS_PROCESS", "leaked")
    monkeypatch.delenv("DB_PW", raising=False)
    environ = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIVEN": "yes", "DB_PW": "a-long-password-1",
               "NBRUNNER_OUTPUT": str(tmp_path / "from-environ.ipynb")}  # fmt: skip
    record = run_notebook(tmp_path / "env.ipynb", secrets={"pw": "env:DB_PW"}, environ=environ)
    assert record.output == str(tmp_path / "from-environ.ipynb")
    assert outputs_text(read_nb(tmp_path / "from-environ.ipynb").cells[-1]) == "yes None 17\n"
