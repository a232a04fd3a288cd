"""Under spark-submit: the kernel joins the driver JVM, jobs are labelled per cell and cancelled on failure."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Result, read_nb, run_cli
from tests.spark_support import (
    BIN,
    LOOPBACK_CONF,
    entrypoint,
    free_port,
    processes_matching,
    spark_env,
    spark_submit,
    standalone_cluster,
)
from tests.test_run import outputs_text

pytestmark = pytest.mark.spark


def notebook_facts(result: Result) -> dict[str, object]:
    nb = read_nb(Path(result.record["output"]))
    cell = next(c for c in nb.cells if "facts = dict(" in c.source)
    return dict(json.loads(outputs_text(cell)))


def check_attached(result: Result, *, master_prefix: str) -> None:
    assert result.code == 0, result.stderr[-3000:]
    record = result.record
    facts = notebook_facts(result)
    spark = record["spark"]
    # the notebook ran in spark-submit's own application: --name, --conf and the application id agree
    assert facts["predefined"] is True and facts["same_session"] is True
    assert facts["name"] == "nbrunner-test" == spark["application_name"]
    assert facts["marker"] == "seen"
    assert facts["app_id"] == spark["application_id"]
    assert str(facts["master"]).startswith(master_prefix) and spark["master"] == facts["master"]
    assert facts["total"] == 4950
    assert spark["spark_version"] and spark["deploy_mode"] == "client"
    # the cell's jobs carry its label: group, description and the job ids in its metadata
    nb = read_nb(Path(record["output"]))
    index = next(i for i, c in enumerate(nb.cells) if "facts = dict(" in c.source)
    assert facts["group"] == f"nbrunner-{record['run_id']}-cell-{index}"
    assert str(facts["description"]).endswith(f"spark_facts.ipynb cell {index}: import json")
    assert nb.cells[index].metadata.nbrunner["spark_job_ids"]
    assert nb.cells[index + 1].metadata.nbrunner["spark_job_ids"]
    # exactly one JVM: the kernel talks to spark-submit's gateway and started no JVM of its own
    assert facts["gateway_port"] == spark["gateway_port"]
    assert facts["kernel_java_children"] == []
    assert "pyspark-shell" not in result.stderr + result.stdout


def test_local_mode_notebook_runs_in_the_driver_jvm(notebooks: Path) -> None:
    result = spark_submit(
        "run", str(notebooks / "spark_facts.ipynb"), "-p", "label=local",
        spark_args=("--name", "nbrunner-test", "--conf", "spark.nbrunner.marker=seen"),
    )  # fmt: skip
    check_attached(result, master_prefix="local[2]")
    # pip's pyspark is its own SPARK_HOME here: the kernel imports it installed, not from spark-submit's pyspark.zip
    assert "pyspark.zip" not in str(notebook_facts(result)["pyspark_from"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from standalone_cluster(tmp_path_factory.mktemp("standalone"))


def test_a_chain_of_notebooks_runs_in_one_application_and_stops_at_the_first_failure(
    notebooks: Path, tmp_path: Path
) -> None:
    names = ("chain_a", "chain_b", "spark_fails", "chain_c")
    shutil.copy(notebooks / "chain_b.ipynb", notebooks / "chain_c.ipynb")  # one notebook twice would collide
    result = spark_submit(
        "run", *(str(notebooks / f"{n}.ipynb") for n in names), "-o", f"{tmp_path}/{{notebook}}.ipynb"
    )
    assert result.code == 4, result.stderr[-3000:]
    summary = result.record
    assert summary["chain"] is True and summary["exit_code"] == 4 and summary["status"] == "failed"
    statuses = [run["status"] for run in summary["runs"]]
    assert statuses == ["succeeded", "succeeded", "failed", "not-run"]
    apps = {run["spark"]["application_id"] for run in summary["runs"][:3]}
    assert len(apps) == 1  # one Spark application for the whole chain
    shared = outputs_text(read_nb(tmp_path / "chain_b.ipynb").cells[0])
    assert f"rows 10 app {apps.pop()}" in shared  # the temp view of the first notebook, through the same session
    for name in names[:3]:
        assert json.loads((tmp_path / f"{name}.run.json").read_text())["run_id"]  # each has its own record
    groups = [read_nb(tmp_path / f"{n}.ipynb").cells[0].metadata.nbrunner.get("spark_job_ids") for n in names[:2]]
    assert all(groups), groups  # job ids found per notebook, under its own run's labels


def test_a_chain_file_on_the_standalone_cluster_shares_one_application(
    notebooks: Path, tmp_path: Path, cluster: str
) -> None:
    chain = notebooks / "nightly.yaml"
    chain.write_text("- chain_a.ipynb\n- {notebook: chain_b.ipynb, output: ../out/b.ipynb}\n")
    result = spark_submit(
        "run", "--chain-file", str(chain), "-o", f"{tmp_path}/{{notebook}}.ipynb",
        master=cluster, spark_args=("--conf", "spark.executor.memory=512m", "--conf", "spark.cores.max=2"),
    )  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    runs = result.record["runs"]
    assert [run["status"] for run in runs] == ["succeeded", "succeeded"]
    app = runs[0]["spark"]["application_id"]
    assert app.startswith("app-") and runs[1]["spark"]["application_id"] == app
    assert runs[1]["output"] == str(notebooks / ".." / "out" / "b.ipynb")  # the chain file's relative path
    assert f"rows 10 app {app}" in outputs_text(read_nb(tmp_path / "out" / "b.ipynb").cells[0])


def test_the_driver_jvm_dying_stops_the_chain_with_the_partial_notebook_written(
    notebooks: Path, tmp_path: Path
) -> None:
    names = ("chain_a", "spark_slow", "chain_b")
    proc = subprocess.Popen(
        [str(BIN / "spark-submit"), "--master", "local[2]", *LOOPBACK_CONF, entrypoint(), "run",
         *(str(notebooks / f"{n}.ipynb") for n in names), "-o", f"{tmp_path}/{{notebook}}.ipynb", "--log-output"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=spark_env(), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # the second notebook's slow Spark cell is running, and nbrunner has its output
        if "] starting the slow job" in line:
            break
    proc.kill()  # SIGKILL to the driver JVM: no shutdown hook, no exit code from it
    proc.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (tmp_path / "spark_slow.run.json").exists():
        time.sleep(0.2)
    assert json.loads((tmp_path / "chain_a.run.json").read_text())["status"] == "succeeded"
    slow = json.loads((tmp_path / "spark_slow.run.json").read_text())
    assert slow["status"] == "spark-gateway-error" and slow["exit_code"] == 7
    assert "starting the slow job" in outputs_text(read_nb(tmp_path / "spark_slow.ipynb").cells[3])
    time.sleep(1)
    assert not (tmp_path / "chain_b.ipynb").exists()  # the chain stopped there
    assert processes_matching(str(notebooks / "spark_slow.ipynb")) == []


def test_the_kernel_can_create_the_context_itself(notebooks: Path) -> None:
    result = spark_submit(
        "run", str(notebooks / "spark_facts.ipynb"), "--no-spark-early-context",
        spark_args=("--name", "nbrunner-test", "--conf", "spark.nbrunner.marker=seen"),
    )  # fmt: skip
    check_attached(result, master_prefix="local[2]")


@pytest.mark.parametrize("early", ["--spark-early-context", "--no-spark-early-context"])
def test_a_context_that_cannot_be_created_exits_7_with_the_notebook_written(notebooks: Path, early: str) -> None:
    # the driver JVM refuses to create a SparkContext with less memory than it needs
    result = spark_submit(
        "run", str(notebooks / "spark_facts.ipynb"), early, spark_args=("--conf", "spark.testing.memory=1024"),
    )  # fmt: skip
    assert result.code == 7, result.stderr[-3000:]
    record = result.record
    assert record["status"] == "spark-gateway-error"
    assert "System memory 1024 must be at least" in record["message"], record["message"]
    nb = read_nb(Path(record["output"]))
    assert all(cell.get("outputs") == [] for cell in nb.cells if cell.cell_type == "code")


def test_the_early_context_gets_pysparks_own_defaults() -> None:
    try:
        from pyspark.core.context import DEFAULT_CONFIGS  # pyspark 4
    except ImportError:
        from pyspark.context import DEFAULT_CONFIGS  # type: ignore[no-redef]  # pyspark 3.5
    import pyspark

    from nbrunner.engines.spark.versions import pyspark_default_configs

    assert {key: str(value) for key, value in DEFAULT_CONFIGS.items()} == pyspark_default_configs(pyspark.__version__)


def test_standalone_cluster_client_mode(notebooks: Path, cluster: str) -> None:
    result = spark_submit(
        "run", str(notebooks / "spark_facts.ipynb"), master=cluster,
        spark_args=("--name", "nbrunner-test", "--conf", "spark.nbrunner.marker=seen",
                    "--conf", "spark.executor.memory=512m", "--conf", "spark.cores.max=2"),
    )  # fmt: skip
    check_attached(result, master_prefix="spark://127.0.0.1:")
    assert result.record["spark"]["application_id"].startswith("app-")


def test_kernelspec_env_cannot_detach_the_kernel(notebooks: Path, tmp_path: Path) -> None:
    spec = tmp_path / "kernels" / "trap"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "trap", "language": "python",
        "env": {"PYSPARK_GATEWAY_PORT": "1", "PYSPARK_GATEWAY_SECRET": "wrong"},
    }))  # fmt: skip
    result = spark_submit(
        "run", str(notebooks / "spark_facts.ipynb"), "--kernel", "trap",
        spark_args=("--name", "nbrunner-test", "--conf", "spark.nbrunner.marker=seen"),
        env=spark_env(JUPYTER_PATH=str(tmp_path)),
    )  # fmt: skip
    check_attached(result, master_prefix="local[2]")
    # a kernelspec's interpreter may have another pyspark installed: its PYTHONPATH stays spark-submit's
    assert "pyspark.zip" in str(notebook_facts(result)["pyspark_from"])


def test_failing_spark_job_exits_4_through_spark_submit(notebooks: Path) -> None:
    result = spark_submit("run", str(notebooks / "spark_fails.ipynb"))
    assert result.code == 4, result.stderr[-3000:]
    record = result.record
    assert record["failed_cell"]["index"] == 0 and "ZeroDivisionError" in record["failed_cell"]["evalue"]
    # the message shows the Python worker's own exception, not only "An exception was thrown from the Python worker"
    assert "ZeroDivisionError" in record["message"].splitlines()[0], record["message"]
    nb = read_nb(Path(record["output"]))
    assert nb.cells[1].metadata.nbrunner["status"] == "failed"
    assert nb.cells[2].outputs == []


def test_facts_survive_the_notebook_stopping_its_session_and_the_app_is_named_after_it(notebooks: Path) -> None:
    result = spark_submit("run", str(notebooks / "spark_stops.ipynb"))  # no --name
    assert result.code == 0, result.stderr[-3000:]
    spark = result.record["spark"]
    assert spark["application_id"].startswith("local-") and spark["master"] == "local[2]"
    assert spark["application_name"] == "spark_stops"  # not spark-submit's default, the launcher's file name
    assert spark["ui_url"] is None or spark["ui_url"].startswith("http")
    nb = read_nb(Path(result.record["output"]))
    assert nb.cells[0].metadata.nbrunner["spark_job_ids"]  # captured as the cell ended


def test_resume_of_a_spark_notebook_reruns_its_setup_in_a_new_application(notebooks: Path, tmp_path: Path) -> None:
    flag = tmp_path / "fault"
    flag.touch()
    first = spark_submit("run", str(notebooks / "spark_resume.ipynb"), "-r", f"flag={flag}")
    assert first.code == 4, first.stderr[-3000:]
    flag.unlink()
    again = spark_submit("run", str(notebooks / "spark_resume.ipynb"), "--resume", first.record["record"])
    assert again.code == 0, again.stderr[-3000:]
    nb = read_nb(Path(again.record["output"]))
    assert nb.cells[3].metadata.nbrunner["status"] == "kept" and "distinct keys 10" in outputs_text(nb.cells[3])
    assert f"rows 1000 app {again.record['spark']['application_id']}" in outputs_text(nb.cells[5])
    assert again.record["spark"]["application_id"] != first.record["spark"]["application_id"]


def test_spark_job_outliving_cell_timeout_is_cancelled_and_stops_the_chain(notebooks: Path, tmp_path: Path) -> None:
    names = ("chain_a", "spark_slow", "chain_b")
    # 20 s: chain_a's first Spark job on a cold JVM took more than 8 s at load 5 (2 cores); far short of the slow
    # tasks' 120 s
    result = spark_submit(
        "run", *(str(notebooks / f"{n}.ipynb") for n in names), "--cell-timeout", "20",
        "-o", f"{tmp_path}/{{notebook}}.ipynb",
    )  # fmt: skip
    assert result.code == 5, result.stderr[-3000:]
    runs = result.record["runs"]
    assert [run["status"] for run in runs] == ["succeeded", "timeout", "not-run"]
    record = runs[1]
    assert record["failed_cell"]["timeout_scope"] == "cell"
    cancelled = record["spark"]["cancelled_jobs"]
    assert cancelled and set(cancelled.values()) == {"FAILED"}, cancelled
    # per cell: the jobs cancelled are the timed-out cell's own, under this notebook's labels
    cell = next(c for c in read_nb(tmp_path / "spark_slow.ipynb").cells if c.get("id") == record["failed_cell"]["id"])
    assert {int(job) for job in cancelled} == set(cell.metadata.nbrunner.spark_job_ids)
    assert cell.metadata.nbrunner.duration < 100  # the cell ended with its jobs cancelled: its tasks sleep 120 s


def test_sigterm_to_spark_submit_leaves_no_nbrunner_or_kernel(notebooks: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "kernel.pid"
    marker = str(notebooks / "spark_slow.ipynb")
    proc = subprocess.Popen(
        [str(BIN / "spark-submit"), "--master", "local[2]", *LOOPBACK_CONF, entrypoint(), "run", marker,
         "-r", f"pid_file={pid_file}", "--log-output"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=spark_env(), stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # PythonRunner merges Python's stderr into spark-submit's stdout
        if "] starting the slow job" in line:  # the slow Spark cell runs, and nbrunner has its output
            break
    kernel_pid = int(pid_file.read_text())
    runner = processes_matching(marker)
    assert runner, "nbrunner is not running"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode in (143, 7), proc.returncode
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (processes_matching(marker) or Path(f"/proc/{kernel_pid}").exists()):
        time.sleep(0.2)
    assert processes_matching(marker) == []
    assert not Path(f"/proc/{kernel_pid}").exists() or " Z " in Path(f"/proc/{kernel_pid}/stat").read_text()
    # the partial notebook was still written, saying what happened
    nb = read_nb(notebooks / "spark_slow.out.ipynb")
    assert nb.metadata.nbrunner["status"] in ("spark-gateway-error", "terminated")
    assert "starting the slow job" in outputs_text(nb.cells[4])


def test_sigterm_to_the_process_group_the_record_and_spark_submit_agree(notebooks: Path, tmp_path: Path) -> None:
    # what schedulers do (Airflow signals the task's process group): nbrunner gets the SIGTERM too
    proc = subprocess.Popen(
        [str(BIN / "spark-submit"), "--master", "local[2]", *LOOPBACK_CONF, entrypoint(), "run",
         str(notebooks / "spark_slow.ipynb"), "-o", str(tmp_path / "slow.ipynb")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=spark_env(), stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "[nbrunner] cell 1/3" in line:
            break
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (tmp_path / "slow.run.json").exists():
        time.sleep(0.2)
    record = json.loads((tmp_path / "slow.run.json").read_text())
    assert proc.returncode == 143 and record["exit_code"] == 143, (proc.returncode, record["exit_code"])
    assert record["status"] == "terminated"


def test_unreachable_gateway_exits_7(notebooks: Path) -> None:
    result = run_cli(
        "run", str(notebooks / "ok.ipynb"),
        env={"PYSPARK_GATEWAY_PORT": str(free_port()), "PYSPARK_GATEWAY_SECRET": "x"},
    )  # fmt: skip
    assert result.code == 7, result.stderr
    assert "cannot reach the Spark driver's gateway at 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_gateway_refusing_the_secret_exits_7(notebooks: Path, tmp_path: Path) -> None:
    # a real driver JVM whose Python child starts nbrunner with a wrong secret
    helper = tmp_path / "wrong_secret.py"
    helper.write_text(
        "import os, subprocess, sys\n"
        "env = dict(os.environ, PYSPARK_GATEWAY_SECRET='wrong')\n"
        f"sys.exit(subprocess.run([sys.executable, {entrypoint()!r}, 'run', {str(notebooks / 'ok.ipynb')!r}],"
        " env=env).returncode)\n"
    )
    proc = subprocess.run(
        [str(BIN / "spark-submit"), "--master", "local[1]", *LOOPBACK_CONF, str(helper)],
        capture_output=True, text=True, env=spark_env(), timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 7, proc.stderr[-2000:]
    assert "refused PYSPARK_GATEWAY_SECRET" in proc.stdout  # PythonRunner merges Python's stderr into stdout


def test_pyspark_version_mismatch_exits_7_naming_both_versions(notebooks: Path, tmp_path: Path) -> None:
    stale = tmp_path / "stale_pyspark.zip"
    with zipfile.ZipFile(stale, "w") as zf:
        zf.writestr("pyspark/__init__.py", "from pyspark.version import __version__\n")
        zf.writestr("pyspark/version.py", '__version__ = "3.0.0"\n')
    result = spark_submit("run", str(notebooks / "ok.ipynb"), spark_args=("--py-files", str(stale)))
    assert result.code == 7, result.stderr[-3000:]
    assert "version mismatch: the kernel's pyspark is 3.0.0" in result.stdout  # Python's stderr, merged by Spark
    assert "the driver JVM runs Spark " in result.stdout
    assert "[nbrunner] cell" not in result.stdout  # checked before any kernel started


def test_entrypoint_is_a_py_file_alone_in_its_folder() -> None:
    path = Path(entrypoint())
    assert path.is_absolute() and path.suffix == ".py"
    assert {p.name for p in path.parent.iterdir() if p.name != "__pycache__"} == {path.name}


def test_a_chain_under_spark_submit_delivers_every_members_outputs(notebooks: Path, tmp_path: Path) -> None:
    """--outputs-file and --print-set-value for a chain in one Spark application; a member that skips is no failure."""
    import nbformat
    from nbformat import v4

    for name, source in (("count", "import nbrunner\nnbrunner.output('rows', spark.range(7).count())"),
                         ("skipper", "import nbrunner\nnbrunner.skip('nothing today')")):  # fmt: skip
        nbformat.write(v4.new_notebook(cells=[v4.new_code_cell(source)]), tmp_path / f"{name}.ipynb")
    result = spark_submit(
        "run", str(tmp_path / "count.ipynb"), str(tmp_path / "skipper.ipynb"), "-o", f"{tmp_path}/out/",
        "--outputs-file", str(tmp_path / "outputs.json"), "--print-set-value",
    )  # fmt: skip
    assert result.code == 0, result.stdout[-3000:]
    assert json.loads((tmp_path / "outputs.json").read_text()) == {"count": {"rows": 7}, "skipper": {}}
    assert "${setValue(count.rows=7)}" in result.stdout.splitlines()
    assert [run["status"] for run in result.record["runs"]] == ["succeeded", "skipped"]
