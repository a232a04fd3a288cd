"""The DAG tests/test_airflow.py runs with `airflow dags test` in a real Airflow (SQLite): NbrunnerOperator in its
five cases, and the @task helper. Paths come from the environment the test sets."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from nbrunner.airflow import NbrunnerOperator, run_notebook_task

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.10
    from airflow import DAG
    from airflow.decorators import task

NB = os.environ["NBRUNNER_TEST_NOTEBOOKS"]
OUT = os.environ["NBRUNNER_TEST_OUT"]

with DAG("nbrunner_cases", start_date=datetime(2026, 11, 1), schedule=None, catchup=False) as dag:
    NbrunnerOperator(task_id="succeeds", notebook=f"{NB}/ok.ipynb", output_path=f"{OUT}/{{{{ ds }}}}/ok.ipynb",
                     parameters={"greeting": "hi {{ ds }}"})  # fmt: skip
    NbrunnerOperator(task_id="to_s3", notebook=f"{NB}/ok.ipynb", output_path="s3://reports/airflow/{{ ds }}/ok.ipynb",
                     html_url_template="https://s3.console.example/{bucket}/{key}")  # fmt: skip
    NbrunnerOperator(task_id="fails", notebook=f"{NB}/fails.ipynb", output_path=f"{OUT}/fails.ipynb", retries=0,
                     file_url_template="https://reports.internal/{path}")  # fmt: skip
    NbrunnerOperator(task_id="skips", notebook=f"{NB}/skip.ipynb", output_path=f"{OUT}/skip.ipynb")
    # last (after every other task, whatever their ends): Airflow 2's AirflowTaskTimeout is a BaseException, and
    # `airflow dags test` of Airflow 2.10 stops the whole DAG run at it (the task itself is marked failed first)
    times_out = NbrunnerOperator(task_id="times_out", notebook=f"{NB}/slow.ipynb", output_path=f"{OUT}/slow.ipynb",
                                 parameters={"seconds": 600}, execution_timeout=timedelta(seconds=45), retries=0,
                                 trigger_rule="all_done")  # fmt: skip
    NbrunnerOperator(task_id="spark", notebook=f"{NB}/chain_a.ipynb", output_path=f"{OUT}/spark.ipynb",
                     spark_submit=True, master="local[2]",
                     conf={"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                           "spark.ui.showConsoleProgress": "false"})  # fmt: skip

    if os.environ.get("NBRUNNER_TEST_FLINK"):  # the flink command and its Python (.venv-flink), where there is one
        flink_args = ["-t", "local", "-pyclientexec", os.environ["NBRUNNER_TEST_FLINK_PYTHON"],
                      "-pyexec", os.environ["NBRUNNER_TEST_FLINK_PYTHON"]]  # fmt: skip
        NbrunnerOperator(task_id="flink", notebook=f"{NB}/ok.ipynb", output_path=f"{OUT}/flink.ipynb",
                         flink_run=True, flink=os.environ["NBRUNNER_TEST_FLINK"], flink_args=flink_args)  # fmt: skip
        NbrunnerOperator(task_id="flink_fails", notebook=f"{NB}/fails.ipynb", output_path=f"{OUT}/flink-fails.ipynb",
                         flink_run=True, flink=os.environ["NBRUNNER_TEST_FLINK"], flink_args=flink_args,
                         retries=0)  # fmt: skip

    @task(task_id="task_skips", multiple_outputs=False)
    def task_skips() -> dict[str, object]:
        return run_notebook_task(f"{NB}/skip.ipynb", f"{OUT}/task-skip.ipynb")

    @task(task_id="task_succeeds", multiple_outputs=False)  # a dict return would be split into one XCom a key
    def task_succeeds() -> dict[str, object]:
        return run_notebook_task(f"{NB}/ok.ipynb", f"{OUT}/task-ok.ipynb", {"greeting": "from a task"})

    others = [task for task in dag.tasks if task is not times_out]
    others.extend([task_skips(), task_succeeds()])
    others >> times_out
