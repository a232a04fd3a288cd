"""``hdfs://`` and ``viewfs://`` through the Spark driver JVM's Hadoop client, under a real spark-submit.

No HDFS namenode can run here (Hadoop's server jars are not on PyPI, Debian or npm), so the real Hadoop client is
tested through ``viewfs://``, Hadoop's own federation file system (as federated HDFS clusters use it), with a mount
table (``spark.hadoop.fs.viewfs.mounttable...``) linking to a local folder: every call goes through the JVM's
``FileSystem`` API as it would for HDFS. ``hdfs://`` itself is tested where nothing listens (exit 8, the local copy
kept) and outside spark-submit (exit 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import read_nb, run_cli
from tests.spark_support import free_port, spark_submit

pytestmark = pytest.mark.spark


def mount(folder: Path) -> tuple[str, ...]:
    """viewfs://nbtest/data/... is ``folder``, for the driver JVM's Hadoop client."""
    return ("--conf", f"spark.hadoop.fs.viewfs.mounttable.nbtest.link./data={folder.as_uri()}")


def test_viewfs_input_parameters_output_and_the_runs_listing_through_the_drivers_hadoop(
    notebooks: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "in").mkdir(parents=True)
    shutil.copy(notebooks / "ok.ipynb", data / "in" / "ok.ipynb")
    (data / "in" / "params.json").write_text(json.dumps({"greeting": "from hadoop"}))
    result = spark_submit("run", "viewfs://nbtest/data/in/ok.ipynb", "-f", "viewfs://nbtest/data/in/params.json",
                          "-o", "viewfs://nbtest/data/out/{notebook}.ipynb", "--spool", str(tmp_path / "spool"),
                          spark_args=mount(data))  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    record = result.record
    assert record["output"] == "viewfs://nbtest/data/out/ok.ipynb" and record["parameters"] == {
        "greeting": "from hadoop"
    }
    stored = json.loads((data / "out" / "ok.run.json").read_text())
    assert stored["run_id"] == record["run_id"] and stored["status"] == "succeeded"
    assert "from hadoop" in "".join(cell.source for cell in read_nb(data / "out" / "ok.ipynb").cells)
    assert (data / "out" / "ok.html").read_text().startswith("<!DOCTYPE html>")
    assert not any((tmp_path / "spool").rglob("*.ipynb"))  # stored, then the local copy removed

    listed = spark_submit("runs", "viewfs://nbtest/data/out/", "--json", spark_args=mount(data))
    assert listed.code == 0, listed.stderr[-3000:]
    runs = [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]
    assert [run["run_id"] for run in runs] == [record["run_id"]]


def test_hdfs_where_no_namenode_answers_is_exit_8_with_the_local_copy_kept(notebooks: Path, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    result = spark_submit("run", str(notebooks / "ok.ipynb"), "-o", f"hdfs://127.0.0.1:{port}/reports/ok.ipynb",
                          "--spool", str(tmp_path / "spool"),
                          spark_args=("--conf", "spark.hadoop.ipc.client.connect.max.retries=0"))  # fmt: skip
    assert result.code == 8, result.stderr[-3000:]
    record = result.record
    assert record["status"] == "storage-error" and "ConnectException" in record["message"], record["message"]
    kept = list((tmp_path / "spool").rglob("ok.ipynb"))
    executed = read_nb(kept[0])  # the run's whole notebook, not lost
    assert executed.metadata["nbrunner"]["status"] == "storage-error" and any(c.get("outputs") for c in executed.cells)
    assert f"the local copy is kept at {kept[0]}" in result.stdout + result.stderr  # spark-submit merges them


def test_hdfs_outside_spark_submit_is_exit_2_in_one_line(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-o", "hdfs://namenode:8020/reports/ok.ipynb")
    assert result.code == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("nbrunner: error:")]
    assert "run nbrunner under spark-submit" in line
    assert run_cli("run", str(notebooks / "ok.ipynb"), "-o", "hdfs://user@namenode:8020/x.ipynb").code == 2
