"""NbrunnerOperator's own behaviour in a real Airflow 3 (.venv-airflow, made by dev/test.sh), its execute() called
with a task instance of the test's: a retry's output does not overwrite the try before it, and spark-submit's
driver logs only warnings unless the user configured log4j2. The operator runs the real nbrunner CLI and
spark-submit (tests/test_airflow.py runs it under `airflow dags test`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NOTEBOOKS, read_nb

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_PYTHON = ROOT / ".venv-airflow" / "bin" / "python"
needs_airflow = pytest.mark.skipif(not AIRFLOW_PYTHON.exists(), reason="no .venv-airflow: bash dev/test.sh makes it")

RUN = """
import json, logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.INFO)
from nbrunner.airflow import NbrunnerOperator

class TaskInstance:
    def __init__(self, try_number):
        self.try_number = try_number
    def xcom_push(self, key, value):
        pass

for kwargs, try_number in json.loads(sys.argv[1]):
    NbrunnerOperator(task_id="t", **kwargs).execute({"ti": TaskInstance(try_number)})
"""


def run_operator(tmp_path: Path, *cases: tuple[dict[str, object], int]) -> str:
    """Each case's operator executed in turn as try ``try_number``; what the task log showed."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "SPARK_LOCAL_IP": "127.0.0.1"}  # fmt: skip
    env.pop("VIRTUAL_ENV", None)
    env.pop("NBRUNNER_OUTPUT", None)
    done = subprocess.run([str(AIRFLOW_PYTHON), "-c", RUN, json.dumps(cases)], capture_output=True, text=True,
                          timeout=600, env=env)  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-5000:]
    return log


@needs_airflow
def test_a_retry_does_not_overwrite_the_try_before_it(tmp_path: Path) -> None:
    """No output given: the first try writes nbrunner's default <name>.out.ipynb, the second <name>.try2.out.ipynb;
    ``{try_number}`` in ``output_path`` is Airflow's try number (``{{`` stays a brace)."""
    notebook = tmp_path / "ok.ipynb"
    shutil.copy(NOTEBOOKS / "ok.ipynb", notebook)
    templated = f"{tmp_path}/try-{{try_number}}/{{{{try_number}}}}-{{notebook}}.ipynb"
    run_operator(tmp_path, ({"notebook": str(notebook)}, 1), ({"notebook": str(notebook)}, 2),
                 ({"notebook": str(notebook), "output_path": templated}, 3))  # fmt: skip
    for name in ("ok.out", "ok.try2.out"):
        for suffix in (".ipynb", ".html", ".run.json"):
            assert (tmp_path / (name + suffix)).exists(), name + suffix
    first, second = (read_nb(tmp_path / f"{name}.ipynb").metadata.nbrunner for name in ("ok.out", "ok.try2.out"))
    assert first["status"] == second["status"] == "succeeded" and first["run_id"] != second["run_id"]
    assert read_nb(tmp_path / "try-3" / "{try_number}-ok.ipynb").metadata.nbrunner["status"] == "succeeded"


#: a log4j2 line as Spark's pattern writes it: "26/12/07 01:50:00 INFO SparkContext: ..."
SPARK_INFO = re.compile(r"\d\d/\d\d/\d\d \d\d:\d\d:\d\d INFO \S+: ")
#: Spark's own default configuration (INFO), a resource of its jars: as a user would ask for Spark's lines back
SPARKS_OWN = "-Dlog4j2.configurationFile=org/apache/spark/log4j2-defaults.properties"


@needs_airflow
@pytest.mark.spark
def test_spark_submits_info_lines_stay_out_of_the_task_log_unless_asked_for(tmp_path: Path) -> None:
    """spark_submit=True: the driver's log4j2 is at WARN by default (Spark's own default, INFO, made most of the task
    log); a user's own log4j2 configuration (here Spark's default, through spark.driver.extraJavaOptions) wins."""
    spark = {"notebook": str(NOTEBOOKS / "chain_a.ipynb"), "spark_submit": True, "master": "local[1]"}
    conf = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.showConsoleProgress": "false"}  # fmt: skip
    quiet_log = run_operator(tmp_path, ({**spark, "output_path": f"{tmp_path}/quiet.ipynb", "conf": conf}, 1))
    own = {**conf, "spark.driver.extraJavaOptions": SPARKS_OWN}
    loud_log = run_operator(tmp_path, ({**spark, "output_path": f"{tmp_path}/loud.ipynb", "conf": own}, 1))
    for name in ("quiet", "loud"):
        assert read_nb(tmp_path / f"{name}.ipynb").metadata.nbrunner["status"] == "succeeded"
    quiet, told = (len(SPARK_INFO.findall(log)) for log in (quiet_log, loud_log))
    assert quiet == 0, [line for line in quiet_log.splitlines() if SPARK_INFO.search(line)][:20]
    assert told > 20, loud_log[-5000:]  # Spark at INFO: SparkContext, executors, block manager, ...


@needs_airflow
def test_for_each_through_the_operator(tmp_path: Path) -> None:
    """for_each as the command line takes it: a text SPEC as it is, a list of values through a JSON file; every
    iteration's notebook written, the run a success."""
    notebook = tmp_path / "params.ipynb"
    shutil.copy(NOTEBOOKS / "params.ipynb", notebook)
    out = tmp_path / "each"
    run_operator(tmp_path, ({"notebook": str(notebook), "output_path": f"{out}/{{date}}-{{label}}.ipynb",
                             "for_each": {"date": "2026-11-01..2026-11-02", "label": ["a b", "c"]}, "parallel": 2},
                            1))  # fmt: skip
    made = sorted(p.name for p in out.glob("*.ipynb"))
    assert made == ["2026-11-01-a b.ipynb", "2026-11-01-c.ipynb", "2026-11-02-a b.ipynb", "2026-11-02-c.ipynb"]
    for name in made:
        record = read_nb(out / name).metadata.nbrunner
        assert record["status"] == "succeeded" and record["for_each"]["size"] == 4
