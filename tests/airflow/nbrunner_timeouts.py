"""A DAG of its own for run_notebook_task under ``execution_timeout`` (tests/test_airflow.py): Airflow 2.10's
`airflow dags test` stops the whole DAG run at a timeout (AirflowTaskTimeout is a BaseException), so it cannot share
nbrunner_cases with the operator's timeout. Paths come from the environment the test sets."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from nbrunner.airflow import run_notebook_task

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10
    from airflow import DAG
    from airflow.decorators import task

NB = os.environ["NBRUNNER_TEST_NOTEBOOKS"]
OUT = os.environ["NBRUNNER_TEST_OUT"]

with DAG("nbrunner_timeouts", start_date=datetime(2026, 11, 1), schedule=None, catchup=False):

    @task(task_id="task_times_out", multiple_outputs=False, execution_timeout=timedelta(seconds=30), retries=0)
    def task_times_out() -> dict[str, object]:
        return run_notebook_task(f"{NB}/slow.ipynb", f"{OUT}/task-slow-{{try_number}}.ipynb", {"seconds": 600})

    task_times_out()
