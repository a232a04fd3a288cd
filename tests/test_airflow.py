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

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parent.parent
#: the Airflow virtualenvs dev/test.sh makes: 3.x, and 2.10 where the Python supports it (3.8-3.12)
VENVS = {"3": ROOT / ".venv-airflow", "2.10": ROOT / ".venv-airflow2"}
_runs: dict[str, dict[str, Any]] = {}

#: how the Airflow 2 webserver computes a task's extra link: the operator's get_extra_links on the task instance
LINKS_2 = """
import json, sys
from airflow.models import DagBag, TaskInstance
from airflow.utils.session import create_session
dag = DagBag(sys.argv[1], include_examples=False).get_dag("nbrunner_cases")
with create_session() as session:
    tis = session.query(TaskInstance).filter(TaskInstance.dag_id == "nbrunner_cases").all()
    links = {ti.task_id: dag.get_task(ti.task_id).get_extra_links(ti, "Notebook") for ti in tis
             if "Notebook" in dag.get_task(ti.task_id).extra_links}
print(json.dumps(links))
"""


def dag_runs(version: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`airflow dags test` of the DAGs in a real Airflow ``version`` (once per module), then what its database holds."""
    if version in _runs:
        return _runs[version]
    airflow = VENVS[version] / "bin" / "airflow"
    if version == "2.10" and sys.version_info >= (3, 13):
        pytest.skip("Airflow 2.10 supports Python 3.8-3.12; this is Python 3.13+ (Airflow 3 is tested)")
    assert airflow.exists(), f"no Airflow {version} virtualenv: bash dev/test.sh makes {VENVS[version].name}"
    home = tmp_path_factory.mktemp(f"airflow-{version}")
    (home / "dags").mkdir()
    shutil.copy(ROOT / "tests" / "airflow" / "nbrunner_dag.py", home / "dags")
    notebooks = home / "notebooks"
    shutil.copytree(ROOT / "tests" / "notebooks", notebooks, ignore=shutil.ignore_patterns("*.py"))
    out = home / "out"
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "NBRUNNER_TEST_NOTEBOOKS": str(notebooks),
           "NBRUNNER_TEST_OUT": str(out), "SPARK_LOCAL_IP": "127.0.0.1",
           "PATH": f"{airflow.parent}:{os.environ['PATH']}"}  # fmt: skip
    env.pop("VIRTUAL_ENV", None)
    dags = ["nbrunner_cases"]
    if version == "3":  # the README's recipes are written for Airflow 3's imports
        readme_dag(home / "dags" / "readme_recipes.py", notebooks, out)
        env["AIRFLOW_CONN_DB"] = json.dumps({"conn_type": "generic", "password": DB_PASSWORD})
        dags.append("readme_recipes")
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
    if version == "3":  # Airflow 3 computes the links when a task ends and keeps them as XComs the UI reads
        links = {task: value for (task, key), value in xcoms.items() if key == "_link_NotebookLink"}
    else:
        python = VENVS[version] / "bin" / "python"
        found = subprocess.run([str(python), "-c", LINKS_2, str(home / "dags")], env=env, capture_output=True,
                               text=True, timeout=300)  # fmt: skip
        assert found.returncode == 0, found.stderr[-3000:]
        links = json.loads(found.stdout.strip().splitlines()[-1])
    _runs[version] = {"states": states, "xcoms": xcoms, "links": links, "out": out, "log": log}
    return _runs[version]


@pytest.fixture(scope="module", params=list(VENVS))
def dag_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dag_runs(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def airflow3(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dag_runs("3", tmp_path_factory)


DB_PASSWORD = "db-password-from-a-connection"  # noqa: S105 - the test connection's


def readme_dag(path: Path, notebooks: Path, out: Path) -> None:
    """A DAG made of the README's BashOperator recipe as written, only its paths pointed at this test's folders
    (and a notebook declaring what the recipe passes)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell('date = ""\npassword = ""', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("assert len(password) > 5\nprint('report for', date)")]  # fmt: skip
    nbformat.write(nb, notebooks / "daily_report.ipynb")
    readme = (ROOT / "README.md").read_text()
    recipe = next(block for block in readme.split("```python\n")[1:] if "BashOperator(" in block).split("```")[0]
    recipe = recipe.replace("/opt/nb/daily_report.ipynb", str(notebooks / "daily_report.ipynb"))
    recipe = recipe.replace("s3://reports/", f"{out}/readme/")
    assert str(notebooks) in recipe and str(out) in recipe, "the README's recipe changed: update this test"
    body = "\n".join("    " + line if line else line for line in recipe.splitlines())
    path.write_text(
        "from datetime import datetime\n\ntry:\n    from airflow.sdk import DAG\nexcept ImportError:\n"
        "    from airflow import DAG\n\nwith DAG('readme_recipes', start_date=datetime(2026, 11, 1), "
        "schedule=None, catchup=False):\n" + body + "\n"
    )


def test_the_readmes_bashoperator_recipe_works_as_written(airflow3: dict[str, Any]) -> None:
    dag_run = airflow3
    assert dag_run["states"].get("daily_report") == "success", dag_run["log"][-5000:]
    found = dag_run["xcoms"][("daily_report", "return_value")]
    assert isinstance(found, dict), found  # output_processor=json.loads made the record's line a dict
    record = record_of(found)
    assert record["status"] == "succeeded" and record["parameters"]["date"] == "2026-11-20"
    assert record["secrets"] == {"password": "env:DB_PASSWORD"} and record["parameters"]["password"] == "[secret]"
    executed = read_nb(dag_run["out"] / "readme" / "daily_report" / "2026-11-20.ipynb")
    assert "report for 2026-11-20" in str(executed.cells[-1].outputs)
    assert DB_PASSWORD not in json.dumps(record) and DB_PASSWORD not in dag_run["log"]


def test_the_notebook_link_opens_each_runs_html_failures_included(dag_run: dict[str, Any]) -> None:
    """The "Notebook" link as the UI gets it: Airflow 3's link XComs, Airflow 2's get_extra_links on the task
    instance (the webserver's path, reading the pushed record)."""
    links, out = dag_run["links"], dag_run["out"]
    for task_id, html in [("succeeds", out / "2026-11-20" / "ok.html"), ("fails", out / "fails.html"),
                          ("times_out", out / "slow.html")]:  # fmt: skip
        link = links.get(task_id)
        assert link == html.as_uri() and html.exists(), (task_id, link)


def record_of(found: Any) -> dict[str, Any]:
    return found if isinstance(found, dict) else json.loads(found)


def test_the_operators_cases_end_as_airflow_should(dag_run: dict[str, Any]) -> None:
    states, xcoms, out = dag_run["states"], dag_run["xcoms"], dag_run["out"]
    expected = {"succeeds": "success", "fails": "failed", "skips": "skipped",
                "times_out": "failed", "spark": "success", "task_skips": "skipped",
                "task_succeeds": "success"}  # fmt: skip
    states = {task: state for task, state in states.items() if task != "daily_report"}  # the README's DAG (3 only)
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
