"""NbrunnerOperator and secrets in a real Airflow 3 (.venv-airflow, made by dev/test.sh): a ``secrets`` entry that
is not a reference (a template that rendered to the value) is refused before any command is built, resolved or
logged; the command line the task log shows masks what may be secret. The operator runs the real nbrunner CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import NOTEBOOKS

pytestmark = pytest.mark.airflow

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_PYTHON = ROOT / ".venv-airflow" / "bin" / "python"

SCRIPT = """
import logging, sys
logging.basicConfig(stream=sys.stdout, level=logging.DEBUG)
from airflow.exceptions import AirflowException
from nbrunner.airflow import NbrunnerOperator

class TaskInstance:  # what execute() pushes the record to
    def xcom_push(self, key, value):
        print("pushed", key, value.get("exit_code"))

notebook, out = sys.argv[1:3]
cases = {
    "rendered": dict(secrets={"password": "hunter2-rendered-value"}),
    "spaced": dict(secrets={"password": "env: hunter2 value"}),
    "args": dict(nbrunner_args=["--secret", "x=hunter2-typed", "--secret=y=hunter2-too", "--remote",
                                "sc://h:1/;token=hunter2tok", "--endpoint-url", "http://u:hunter2pw@h:1"]),
}
for case, kwargs in cases.items():
    op = NbrunnerOperator(task_id=case, notebook=notebook, output_path=out, **kwargs)
    try:
        op.execute({"ti": TaskInstance()})
    except AirflowException as e:
        print("refused", case, e)
"""


@pytest.mark.skipif(not AIRFLOW_PYTHON.exists(), reason="no .venv-airflow: bash dev/test.sh makes it")
def test_a_secret_given_as_a_value_is_refused_before_anything_is_logged(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run([str(AIRFLOW_PYTHON), "-c", SCRIPT, str(NOTEBOOKS / "ok.ipynb"), str(tmp_path / "o.ipynb")],
                          capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    assert "hunter2" not in log, log[-3000:]
    for case in ("rendered", "spaced"):
        assert f"refused {case} secrets['password']: give a reference" in log
    assert "--secret x=[secret] --secret=y=[secret] --remote sc://h:1/;token=[secret] --endpoint-url http://h:1" in log
    assert "refused args nbrunner exited 3" in log and "pushed nbrunner_record 3" in log
    assert not (tmp_path / "o.ipynb").exists()
