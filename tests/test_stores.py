"""A store is new files plus one registry line: a test store (tests/folder_store.py) registered for ``fake://`` in
``nbrunner.storage.STORES`` runs end to end through the real CLI, in this process (CliRunner), with a real kernel."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nbrunner.storage import STORES
from tests import folder_store
from tests.conftest import invoke


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ``fake://`` store registered, its root with one bucket, ``b``; the current folder a fresh one."""
    monkeypatch.setitem(STORES, "fake", "tests.folder_store:FolderStore")
    root = tmp_path / "store"
    (root / "b").mkdir(parents=True)
    monkeypatch.setenv("NBRUNNER_TEST_STORE", str(root))
    monkeypatch.chdir(tmp_path)
    folder_store.CALLS.clear()
    return root


def test_a_registered_store_takes_the_output_through_the_cli(fake: Path, notebooks: Path, tmp_path: Path) -> None:
    result = invoke("run", str(notebooks / "ok.ipynb"), "-p", "greeting=hi", "-o", "fake://b/k.ipynb",
                    "--spool", str(tmp_path / "spool"))  # fmt: skip
    assert result.code == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["status"] == "succeeded" and record["output"] == "fake://b/k.ipynb"
    assert record["storage"]["endpoint"] == f"the test folder {fake}"
    assert sorted(path.name for path in (fake / "b").iterdir()) == ["k.html", "k.ipynb", "k.run.json"]
    assert json.loads((fake / "b" / "k.run.json").read_text())["run_id"] == record["run_id"]
    # checked before the run; the record stored last; the spool emptied
    assert folder_store.CALLS == [("check_target", "fake://b/k.ipynb"), ("put_file", "fake://b/k.ipynb"),
                                  ("put_file", "fake://b/k.html"), ("put_file", "fake://b/k.run.json")]  # fmt: skip
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_registered_store_reads_inputs_lists_runs_and_takes_the_outputs_file(
    fake: Path, notebooks: Path, tmp_path: Path
) -> None:
    shutil.copy(notebooks / "ok.ipynb", fake / "b" / "ok.ipynb")
    (fake / "b" / "params.yaml").write_text("greeting: from the store\n")
    result = invoke("run", "fake://b/ok.ipynb", "-f", "fake://b/params.yaml", "-o", "fake://b/out/{notebook}.ipynb",
                    "--outputs-file", "fake://b/out/outputs.json", "--spool", str(tmp_path / "spool"))  # fmt: skip
    assert result.code == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["parameters"] == {"greeting": "from the store"} and record["output"] == "fake://b/out/ok.ipynb"
    assert json.loads((fake / "b" / "out" / "outputs.json").read_text()) == record["outputs"]
    listed = invoke("runs", "fake://b/out/", "--json")
    assert listed.code == 0, listed.stderr
    [run] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert run["run_id"] == record["run_id"] and run["record"] == "fake://b/out/ok.run.json"
    assert ("list", "fake://b/out/") in folder_store.CALLS


def test_a_missing_bucket_of_a_registered_store_stops_the_run_before_it_starts(fake: Path, notebooks: Path) -> None:
    result = invoke("run", str(notebooks / "ok.ipynb"), "-o", "fake://nobucket/k.ipynb")
    assert result.code == 8, result.stderr
    assert "bucket 'nobucket' does not exist" in result.stderr
    assert [call for call, _ in folder_store.CALLS] == ["check_target"]  # nothing ran, nothing stored


def test_an_unregistered_scheme_is_refused_naming_the_supported_ones(notebooks: Path) -> None:
    result = invoke("run", str(notebooks / "ok.ipynb"), "-o", "fake://b/k.ipynb")
    assert result.code == 2
    supported = "abfs://, abfss://, az://, gs://, hdfs://, s3://, s3a://, viewfs://"
    assert f"fake:// is not supported; use a local path or one of {supported}" in result.stderr


@pytest.mark.parametrize("flag", ["--store-timeout", "--s3-timeout"])
def test_store_timeout_and_its_old_name_s3_timeout_are_one_option(flag: str, notebooks: Path) -> None:
    result = invoke("run", str(notebooks / "ok.ipynb"), flag, "0")
    assert result.code == 2
    assert "--store-timeout 0: give a number of seconds above 0" in result.stderr
