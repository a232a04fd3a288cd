"""The image's entrypoint (docker/entrypoint.sh) as Spark's Kubernetes backend calls it, outside a container: no
container engine runs here, so its two Spark modes run on this machine, each for real.

- ``driver ...``: what a driver pod runs in cluster mode (the arguments KubernetesClientApplication gives: a
  properties file, PythonRunner, a ``local://`` launcher): spark-submit in client mode, nbrunner inside.
- ``executor``: what an executor pod runs: Spark's KubernetesExecutorBackend from the SPARK_* variables, which here
  joins a running application (a standalone master with no worker, so it is the only executor) and runs its tasks.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import nbformat
import pytest

from tests.conftest import Result, read_nb
from tests.spark_support import entrypoint, spark_env, spark_submit, standalone_cluster

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def notebook(path: Path, *cells: str, parameters: bool = False) -> Path:
    """A notebook of ``cells``; with ``parameters``, the first is its parameters cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(cell) for cell in cells]
    if parameters:
        nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    return path


def test_driver_mode_runs_the_notebook_as_a_driver_pod_would(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "pod.ipynb", "print(sc.master, sc.appName, sc.parallelize(range(10)).sum())")
    props = tmp_path / "spark.properties"
    props.write_text("spark.master=local[2]\nspark.app.name=from-the-pod\nspark.driver.host=127.0.0.1\n"
                     "spark.submit.deployMode=cluster\nspark.ui.showConsoleProgress=false\n")  # fmt: skip
    done = subprocess.run(
        [str(ENTRYPOINT), "driver", "--properties-file", str(props), "--class", "org.apache.spark.deploy.PythonRunner",
         f"local://{entrypoint()}", "run", str(nb), "-o", str(tmp_path / "out.ipynb")],
        capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
        env=spark_env(SPARK_DRIVER_BIND_ADDRESS="127.0.0.1"),
    )  # fmt: skip
    result = Result(done.returncode, done.stdout, done.stderr)
    assert result.code == 0, result.stderr[-3000:]
    assert result.record["spark"]["deploy_mode"] == "client"  # as in the pod: client mode inside it
    assert "local[2] from-the-pod 45" in str(read_nb(tmp_path / "out.ipynb").cells[0].outputs)


def test_executor_mode_joins_the_application_and_runs_its_tasks(tmp_path: Path) -> None:
    nb = notebook(
        tmp_path / "executor.ipynb",
        'entrypoint = ""\nexecutor_log = ""',
        "import os, subprocess\n"
        "conf = sc.getConf()\n"
        "env = {**os.environ, 'SPARK_EXECUTOR_MEMORY': '512m', 'SPARK_EXECUTOR_ID': '1001',\n"
        "       'SPARK_DRIVER_URL': f\"spark://CoarseGrainedScheduler@{conf.get('spark.driver.host')}:\"\n"
        "                           f\"{conf.get('spark.driver.port')}\",\n"
        "       'SPARK_EXECUTOR_CORES': '1', 'SPARK_APPLICATION_ID': sc.applicationId,\n"
        "       'SPARK_EXECUTOR_POD_IP': '127.0.0.1', 'SPARK_EXECUTOR_POD_NAME': 'pod-1',\n"
        "       'SPARK_JAVA_OPT_0': '-Dnbrunner.test=1'}\n"
        "pod = subprocess.Popen([entrypoint, 'executor'], env=env, stdout=open(executor_log, 'w'),\n"
        "                       stderr=subprocess.STDOUT)",
        "total = sc.parallelize(range(1000), 4).map(lambda x: x * 2).sum()\n"
        "print(total, sc._jsc.sc().getExecutorIds().mkString(','))",
        "pod.terminate()\npod.wait(60)",
        parameters=True,
    )  # fmt: skip
    (tmp_path / "cluster").mkdir()
    with contextlib.contextmanager(standalone_cluster)(tmp_path / "cluster", workers=0) as master:
        result = spark_submit(
            "run", str(nb), "-o", str(tmp_path / "out.ipynb"), "--cell-timeout", "180",
            "-p", f"entrypoint={ENTRYPOINT}", "-p", f"executor_log={tmp_path / 'executor.log'}",
            master=master, timeout=600,
        )  # fmt: skip
    executor_log = (tmp_path / "executor.log").read_text() if (tmp_path / "executor.log").exists() else ""
    assert result.code == 0, result.stderr[-3000:] + executor_log[-3000:]
    # the master has no worker: the pod's executor is the only one, and it ran every task
    printed = [o.get("text") for cell in read_nb(tmp_path / "out.ipynb").cells for o in cell.get("outputs", [])]
    assert "999000 1001\n" in printed
    assert "KubernetesExecutorBackend" in executor_log


def test_any_other_command_runs_as_given() -> None:
    done = subprocess.run([str(ENTRYPOINT), "nbrunner", "--version"], capture_output=True, text=True, timeout=60,
                          env=spark_env())  # fmt: skip
    assert done.returncode == 0 and "nbrunner" in done.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the entrypoint as a uid without a passwd entry")
def test_a_uid_without_a_passwd_entry_gets_a_user_name_for_spark() -> None:
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="nbrunner-entrypoint-"))  # the checkout may be private to its owner
    try:
        folder.chmod(0o755)
        script = folder / "entrypoint.sh"
        shutil.copy(ENTRYPOINT, script)
        script.chmod(0o755)
        as_stranger = ["setpriv", "--reuid=4242", "--regid=4242", "--clear-groups", str(script), "env"]
        env = spark_env(SPARK_HOME="/opt/spark")
        done = subprocess.run(as_stranger, capture_output=True, text=True, timeout=60, env=env, cwd=folder)
    finally:
        shutil.rmtree(folder)
    assert done.returncode == 0, done.stderr
    assert "HADOOP_USER_NAME=spark" in done.stdout and "SPARK_USER=spark" in done.stdout


def executor_argv(tmp_path: Path, **options: str) -> list[str]:
    """The command line the entrypoint's executor mode gives the JVM (a stand-in ``java`` that writes it down)."""
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    java = java_home / "bin" / "java"
    java.write_text('#!/bin/sh\nprintf "%s\\0" "$@" > "$ARGV_FILE"\n')
    java.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "JAVA_HOME": str(java_home), "SPARK_HOME": str(tmp_path),
           "ARGV_FILE": str(tmp_path / "argv"), "SPARK_EXECUTOR_MEMORY": "1g", "SPARK_DRIVER_URL": "spark://d:1",
           "SPARK_EXECUTOR_ID": "1", "SPARK_EXECUTOR_CORES": "1", "SPARK_APPLICATION_ID": "app",
           "SPARK_EXECUTOR_POD_IP": "127.0.0.1", **options}  # fmt: skip
    done = subprocess.run([str(ENTRYPOINT), "executor"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return (tmp_path / "argv").read_bytes().decode().split("\0")[:-1]


@pytest.mark.parametrize("separator", ["\n", "\r\n", "\n\n", "\nexport "])
def test_executor_options_are_read_by_name_and_a_value_cannot_add_one(tmp_path: Path, separator: str) -> None:
    """SPARK_JAVA_OPT_<n> are the executor's JVM options in numeric order, one per variable: a value holding a
    newline and what looks like another variable (``SPARK_JAVA_OPT_9=-D...``) stays inside its own option."""
    hostile = f"-Dok=1{separator}SPARK_JAVA_OPT_9=-Dinjected=1"
    argv = executor_argv(tmp_path, SPARK_JAVA_OPT_10="-Dten=10", SPARK_JAVA_OPT_2="-Dtwo=2", SPARK_JAVA_OPT_0=hostile,
                         SPARK_JAVA_OPT_X="-Dnot-a-number=1", NOT_SPARK_JAVA_OPT_1="-Dother=1")  # fmt: skip
    options = argv[: argv.index("-Xms1g")]
    assert options == [hostile, "-Dtwo=2", "-Dten=10"]
    assert "-Dinjected=1" not in argv


def test_no_arguments_print_the_usage_and_exit_2() -> None:
    done = subprocess.run([str(ENTRYPOINT)], capture_output=True, text=True, timeout=60, env=spark_env())
    assert done.returncode == 2 and "usage: entrypoint.sh driver" in done.stderr and done.stdout == ""
