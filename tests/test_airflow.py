"""NbrunnerOperator and run_notebook_task in a real Airflow, 3.x and 2.10 (virtualenvs of their own, .venv-airflow
and .venv-airflow2, made by dev/test.sh; SQLite): `airflow dags test` of tests/airflow/nbrunner_dag.py (and, in
Airflow 3, the README's recipes), then the task states, XComs and extra links read from its database."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import read_nb
from tests.flink_support import PYTHON as FLINK_PYTHON
from tests.flink_support import flink_home, hosts_file_for_jvm
from tests.s3_server import S3Server
from tests.test_s3 import s3  # noqa: F401 - the moto server fixture (bucket "reports")

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parent.parent
#: the Airflow virtualenvs dev/test.sh makes: 3.x, and 2.10 where the Python supports it (3.8-3.12)
VENVS = {"3": ROOT / ".venv-airflow", "2.10": ROOT / ".venv-airflow2"}
_runs: dict[str, dict[str, Any]] = {}

#: the extra links as the UI gets them: from the serialized DAG (what Airflow 2's webserver and Airflow 3's API server
#: read), deserialized, its operator's get_extra_links on each task instance. Airflow 2 rebuilds the link only if
#: its class is registered (nbrunner's apache_airflow_provider entry point); Airflow 3 reads the link's XCom
LINKS = """
import json, sys
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
try:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization as Serialization
    examples = {}  # AIRFLOW__CORE__LOAD_EXAMPLES=False
except ImportError:  # Airflow 2.10
    from airflow.models import DagBag
    from airflow.serialization.serialized_objects import SerializedDAG as Serialization
    examples = {"include_examples": False}
dag = DagBag(sys.argv[1], **examples).get_dag("nbrunner_cases")
served = Serialization.from_dict(json.loads(json.dumps(Serialization.to_dict(dag))))
with create_session() as session:
    tis = session.query(TaskInstance).filter(TaskInstance.dag_id == "nbrunner_cases").all()
    links = {ti.task_id: served.get_task(ti.task_id).get_extra_links(ti, "Notebook") for ti in tis
             if "Notebook" in served.get_task(ti.task_id).extra_links}
print(json.dumps(links))
"""


def dag_runs(version: str, tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> dict[str, Any]:  # noqa: F811
    """`airflow dags test` of the DAGs in a real Airflow ``version`` (once per module), then what its database holds."""
    if version in _runs:
        return _runs[version]
    airflow = VENVS[version] / "bin" / "airflow"
    if version == "2.10" and sys.version_info >= (3, 13):
        pytest.skip("Airflow 2.10 supports Python 3.8-3.12; this is Python 3.13+ (Airflow 3 is tested)")
    assert airflow.exists(), f"no Airflow {version} virtualenv: bash dev/test.sh makes {VENVS[version].name}"
    home = tmp_path_factory.mktemp(f"airflow-{version}")
    (home / "dags").mkdir()
    for dag_file in ("nbrunner_dag.py", "nbrunner_timeouts.py"):
        shutil.copy(ROOT / "tests" / "airflow" / dag_file, home / "dags")
    notebooks = home / "notebooks"
    shutil.copytree(ROOT / "tests" / "notebooks", notebooks, ignore=shutil.ignore_patterns("*.py"))
    out = home / "out"
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "NBRUNNER_TEST_NOTEBOOKS": str(notebooks),
           "NBRUNNER_TEST_OUT": str(out), "SPARK_LOCAL_IP": "127.0.0.1",
           "PATH": f"{airflow.parent}:{os.environ['PATH']}", **s3.env()}  # fmt: skip
    env.pop("VIRTUAL_ENV", None)
    # where this host's name does not resolve: the Spark provider's SparkSubmitOperator starts its own spark-submit,
    # whose JVM looks the name up for the AWS keys; docs/spark.md's fix (nbrunner's operator needs none)
    env.update(hosts_file_for_jvm(env, "SPARK_SUBMIT_OPTS"))
    dags = ["nbrunner_cases", "nbrunner_timeouts"]
    if version == "3":  # the README's recipes are written for Airflow 3's imports
        readme_dag(home / "dags" / "readme_recipes.py", notebooks, out)
        env["AIRFLOW_CONN_DB"] = json.dumps({"conn_type": "generic", "password": DB_PASSWORD})
        env["AIRFLOW_CONN_SPARK_LOCAL"] = '{"conn_type": "spark", "host": "local[2]"}'  # the README's connection
        env["AIRFLOW_CONN_REPORTING_DB"] = json.dumps({"conn_type": "generic", "password": REPORTING_PASSWORD})
        dags.append("readme_recipes")
        if FLINK_PYTHON.exists():  # the operator under flink run (.venv-flink: Python 3.10-3.12)
            env["NBRUNNER_TEST_FLINK"] = str(flink_home() / "bin" / "flink")
            env["NBRUNNER_TEST_FLINK_PYTHON"] = str(FLINK_PYTHON)
            env.update(hosts_file_for_jvm(env))  # where this host's name does not resolve: docs/flink.md's fix
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    log = ""
    for dag in dags:
        test = subprocess.run([str(airflow), "dags", "test", dag, "2026-11-20"], env=env,
                              capture_output=True, text=True, timeout=900)  # fmt: skip
        log += test.stdout + test.stderr
    with sqlite3.connect(home / "airflow.db") as db:
        states = dict(db.execute("select task_id, state from task_instance").fetchall())
        xcoms: dict[tuple[str, str], Any] = {}
        for task_id, key, value in db.execute("select task_id, key, value from xcom").fetchall():
            xcoms[(task_id, key)] = json.loads(value) if isinstance(value, str | bytes) else value
    python = VENVS[version] / "bin" / "python"
    found = subprocess.run([str(python), "-c", LINKS, str(home / "dags")], env=env, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert found.returncode == 0, found.stderr[-3000:]
    links = json.loads(found.stdout.strip().splitlines()[-1])
    links["log"] = found.stdout + found.stderr
    _runs[version] = {"states": states, "xcoms": xcoms, "links": links, "out": out, "log": log}
    return _runs[version]


@pytest.fixture(scope="module", params=list(VENVS))
def dag_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> dict[str, Any]:  # noqa: F811
    return dag_runs(request.param, tmp_path_factory, s3)


@pytest.fixture(scope="module")
def airflow3(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> dict[str, Any]:  # noqa: F811
    return dag_runs("3", tmp_path_factory, s3)


DB_PASSWORD = "db-password-from-a-connection"  # noqa: S105 - the test connection's
REPORTING_PASSWORD = "reporting-db-password"  # noqa: S105 - the README operator recipe's connection


def readme_block(marker: str) -> str:
    """The first Python block holding ``marker`` in the guide's Airflow page (docs/airflow.md), once the README's."""
    readme = (ROOT / "docs" / "airflow.md").read_text()
    return next(block for block in readme.split("```python\n")[1:] if marker in block).split("```")[0]


def replaced(block: str, name: str, pairs: list[tuple[str, str]]) -> str:
    for placeholder, real in pairs:
        assert placeholder in block, f"the README's {name} recipe changed ({placeholder}): update this test"
        block = block.replace(placeholder, real)
    return block


def readme_dag(path: Path, notebooks: Path, out: Path) -> None:
    """A DAG made of the README's Airflow recipes as written (the operator, @task, BashOperator,
    SparkSubmitOperator), each in a task group of its own, only their paths pointed at this test's folders, bucket
    and virtualenv (and notebooks declaring what the recipes pass)."""
    import nbformat

    def notebook(name: str, code: str) -> None:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
        nb.cells = [nbformat.v4.new_code_cell('date = ""\npassword = ""\nrows = 0', metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell(code)]  # fmt: skip
        nbformat.write(nb, notebooks / name)

    notebook("daily_report.ipynb", "print('report for', date, rows, 'secret given' if len(password) > 5 else '')")
    for name in ("daily_report_spark.ipynb", "features.ipynb"):
        notebook(name, "print('report for', date, spark.range(3).count(), sc.appName, sc.master)")
    venv = VENVS["3"]
    entrypoint = subprocess.run([str(venv / "bin" / "nbrunner"), "entrypoint"], capture_output=True, text=True,
                                check=True).stdout.strip()  # fmt: skip
    groups = {
        "operator": replaced(readme_block("NbrunnerOperator("), "NbrunnerOperator", [
            ("/opt/nb/daily_report.ipynb", str(notebooks / "daily_report.ipynb")),
            ("/opt/nb/features.ipynb", str(notebooks / "features.ipynb")),
            ('master="yarn"', 'master="local[2]"'),
            ("s3://reports/", "s3://reports/readme-operator/")]),
        "task": replaced(readme_block("@task("), "@task", [
            ("/opt/nb/daily_report.ipynb", str(notebooks / "daily_report.ipynb")),
            ("s3://reports/", "s3://reports/readme-task/")]) + "daily_report()\n",
        "bash": replaced(readme_block("BashOperator("), "BashOperator", [
            ("/opt/nb/daily_report.ipynb", str(notebooks / "daily_report.ipynb")),
            ("s3://reports/", f"{out}/readme/")]),
        "spark": replaced(readme_block("SparkSubmitOperator("), "SparkSubmitOperator", [
            ("/opt/nbrunner/.venv/lib/python3.12/site-packages/nbrunner/launcher/nbrunner_main.py", entrypoint),
            ("/opt/nbrunner/.venv/bin/python", str(venv / "bin" / "python")),
            ("/opt/nb/daily_report.ipynb", str(notebooks / "daily_report_spark.ipynb")),
            ("s3://reports/", f"{out}/readme-spark/")]),
    }  # fmt: skip
    body = ""
    for group, recipe in groups.items():
        body += f"    with TaskGroup({group!r}):\n"
        body += "\n".join("        " + line if line else line for line in recipe.splitlines()) + "\n"
    path.write_text(
        "from datetime import datetime\n\nfrom airflow.sdk import DAG, TaskGroup\n\n"
        "with DAG('readme_recipes', start_date=datetime(2026, 11, 1), schedule=None, catchup=False):\n" + body
    )


def test_the_readmes_sparksubmitoperator_recipe_works_as_written(airflow3: dict[str, Any]) -> None:
    """The Spark provider's operator runs nbrunner's entrypoint under its spark-submit: one application, named as
    the recipe names it, the notebook's `spark` on it."""
    assert airflow3["states"].get("spark.daily_report_spark") == "success", airflow3["log"][-5000:]
    executed = read_nb(airflow3["out"] / "readme-spark" / "daily_report_spark" / "2026-11-20.ipynb")
    assert "report for 2026-11-20 3 daily_report" in str(executed.cells[-1].outputs)
    assert executed.metadata.nbrunner["status"] == "succeeded"


def test_the_readmes_bashoperator_recipe_works_as_written(airflow3: dict[str, Any]) -> None:
    dag_run = airflow3
    assert dag_run["states"].get("bash.daily_report") == "success", dag_run["log"][-5000:]
    found = dag_run["xcoms"][("bash.daily_report", "return_value")]
    assert isinstance(found, dict), found  # output_processor=json.loads made the record's line a dict
    record = record_of(found)
    assert record["status"] == "succeeded" and record["parameters"]["date"] == "2026-11-20"
    assert record["secrets"] == {"password": "env:DB_PASSWORD"} and record["parameters"]["password"] == "[secret]"
    executed = read_nb(dag_run["out"] / "readme" / "daily_report" / "2026-11-20.ipynb")
    assert "report for 2026-11-20 0 secret given" in str(executed.cells[-1].outputs)
    assert DB_PASSWORD not in json.dumps(record) and DB_PASSWORD not in dag_run["log"]


def test_the_readmes_operator_and_task_recipes_work_as_written(airflow3: dict[str, Any], s3: S3Server) -> None:  # noqa: F811
    """The README's NbrunnerOperator example (a connection's password as a secret, typed parameters, s3:// output,
    the console link, spark_submit=True) and its @task example, verbatim but for paths and the master."""
    states, xcoms, log = airflow3["states"], airflow3["xcoms"], airflow3["log"]
    assert {t: states.get(t) for t in ("operator.daily_report", "operator.features", "task.daily_report")} == {
        "operator.daily_report": "success", "operator.features": "success", "task.daily_report": "success"
    }, log[-5000:]  # fmt: skip
    report = record_of(xcoms[("operator.daily_report", "return_value")])
    assert report["output"] == "s3://reports/readme-operator/daily_report/2026-11-20.ipynb"
    assert report["parameters"]["rows"] == 100_000 and report["parameters"]["password"] == "[secret]"
    assert xcoms[("operator.daily_report", "_link_NotebookLink")] == (
        "https://s3.console.example/reports/readme-operator/daily_report/2026-11-20.html"
    )
    body = s3.client().get_object(Bucket="reports", Key="readme-operator/daily_report/2026-11-20.ipynb")["Body"]
    assert "report for 2026-11-20 100000 secret given" in body.read().decode()
    features = record_of(xcoms[("operator.features", "return_value")])
    assert features["spark"]["master"] == "local[2]" and features["spark"]["application_name"] == "features"
    task = record_of(xcoms[("task.daily_report", "return_value")])
    assert task["status"] == "succeeded" and task["output"] == "s3://reports/readme-task/daily_report/2026-11-20.ipynb"
    assert REPORTING_PASSWORD not in json.dumps([report, task]) and REPORTING_PASSWORD not in log


def test_the_notebook_link_opens_each_runs_html_failures_included(dag_run: dict[str, Any]) -> None:
    """The "Notebook" link as the UI gets it, through the serialized DAG: in Airflow 2 the link survives only because
    nbrunner's provider entry point registers its class (without it: "Operator Link class ... not registered" and
    no link); a local output with ``file_url_template`` gets an http(s) URL Airflow 3's UI shows."""
    links, out = dag_run["links"], dag_run["out"]
    assert "not registered" not in links["log"], links["log"][-3000:]
    for task_id, html in [("succeeds", out / "2026-11-20" / "ok.html"), ("times_out", out / "slow.html")]:
        link = links.get(task_id)
        assert link == html.as_uri() and html.exists(), (task_id, link)
    fails = out / "fails.html"
    assert links.get("fails") == "https://reports.internal" + fails.as_uri().removeprefix("file://") and fails.exists()
    # an s3:// output: the link is the operator's html_url_template filled with the stored HTML's bucket and key
    assert links.get("to_s3") == "https://s3.console.example/reports/airflow/2026-11-20/ok.html"


def test_an_s3_output_is_stored_from_airflow(dag_run: dict[str, Any], s3: S3Server) -> None:  # noqa: F811
    keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket="reports", Prefix="airflow/")["Contents"]}
    assert {"airflow/2026-11-20/ok.ipynb", "airflow/2026-11-20/ok.html", "airflow/2026-11-20/ok.run.json"} <= keys
    record = record_of(dag_run["xcoms"][("to_s3", "return_value")])
    assert record["output"] == "s3://reports/airflow/2026-11-20/ok.ipynb" and record["status"] == "succeeded"


def record_of(found: Any) -> dict[str, Any]:
    return found if isinstance(found, dict) else json.loads(found)


def test_the_operators_cases_end_as_airflow_should(dag_run: dict[str, Any]) -> None:
    states, xcoms, out = dag_run["states"], dag_run["xcoms"], dag_run["out"]
    expected = {"succeeds": "success", "to_s3": "success", "fails": "failed", "skips": "skipped",
                "times_out": "failed", "spark": "success", "task_skips": "skipped",
                "task_succeeds": "success", "task_times_out": "failed"}  # fmt: skip
    # the README's groups and the flink_run tasks: Airflow 3 only
    states = {task: state for task, state in states.items() if "." not in task and not task.startswith("flink")}
    assert states == expected, dag_run["log"][-5000:]
    done = record_of(xcoms[("succeeds", "return_value")])
    assert done["status"] == "succeeded" and done["parameters"] == {"greeting": "hi 2026-11-20"}  # templated
    assert Path(done["output"]) == out / "2026-11-20" / "ok.ipynb"
    failed = record_of(xcoms[("fails", "nbrunner_record")])  # pushed although the task failed
    assert failed["status"] == "failed" and failed["exit_code"] == 4 and ("fails", "return_value") not in xcoms
    stopped = read_nb(out / "slow.ipynb")  # execution_timeout: on_kill stopped it as SIGTERM does
    assert stopped.metadata.nbrunner["status"] == "terminated"
    assert record_of(xcoms[("times_out", "nbrunner_record")])["exit_code"] == 143
    spark = record_of(xcoms[("spark", "return_value")])
    assert spark["spark"]["application_name"] == "chain_a" and spark["spark"]["master"].startswith("local")
    assert record_of(xcoms[("task_succeeds", "return_value")])["status"] == "succeeded"
    assert ("task_succeeds", "run_id") not in xcoms  # one XCom, the record, not one per key
    assert record_of(xcoms[("task_skips", "nbrunner_record")])["status"] == "skipped"


@pytest.mark.flink
@pytest.mark.skipif(sys.version_info >= (3, 13), reason="apache-flink 2.3 has wheels for Python 3.10-3.12 only")
def test_the_operator_under_flink_run_decides_by_the_record_not_by_31(airflow3: dict[str, Any]) -> None:
    states, xcoms = airflow3["states"], airflow3["xcoms"]
    assert (states.get("flink"), states.get("flink_fails")) == ("success", "failed"), airflow3["log"][-5000:]
    done = record_of(xcoms[("flink", "return_value")])
    assert done["status"] == "succeeded" and done["engine"]["kind"] == "flink" and done["engine"]["target"] == "local"
    failed = record_of(xcoms[("flink_fails", "nbrunner_record")])
    assert failed["exit_code"] == 4 and failed["engine"]["kind"] == "flink"
    assert "nbrunner exited 4: cell" in airflow3["log"]  # flink run's 31 read back as the record's class


def test_a_task_timeout_keeps_the_notebook_and_the_record(dag_run: dict[str, Any]) -> None:
    """run_notebook_task under ``execution_timeout``: Airflow's alarm stops the run as SIGTERM does (the operator's
    on_kill sends one), so the partial notebook and the record are written and the record pushed; the task fails as
    timed out. The output name's ``{try_number}`` is Airflow's (1: the first try)."""
    assert dag_run["states"].get("task_times_out") == "failed", dag_run["log"][-5000:]
    stopped = read_nb(dag_run["out"] / "task-slow-1.ipynb")
    assert stopped.metadata.nbrunner["status"] == "terminated"
    assert "sleeping" in str([cell.get("outputs") for cell in stopped.cells])  # the partial notebook
    record = record_of(dag_run["xcoms"][("task_times_out", "nbrunner_record")])
    assert record["exit_code"] == 143 and record["status"] == "terminated" and record["signal"] == "SIGTERM"
    assert json.loads((dag_run["out"] / "task-slow-1.run.json").read_text())["run_id"] == record["run_id"]
    assert "AirflowTaskTimeout" in dag_run["log"] and "the notebook and record are kept" in dag_run["log"]
