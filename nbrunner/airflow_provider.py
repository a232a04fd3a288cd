"""nbrunner as an Airflow provider: what the ``apache_airflow_provider`` entry point gives Airflow's providers manager.

Kept apart from :mod:`nbrunner.airflow` and importing nothing: Airflow 3 loads provider entry points while its own
configuration is being set up, when importing ``airflow.sdk`` (which :mod:`nbrunner.airflow` needs) would fail.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """The provider's description (Airflow's provider_info.schema.json): the "Notebook" link's class registered,
    without which Airflow 2's webserver drops it from the serialized DAG ("Operator Link class ... not registered")."""
    from importlib.metadata import version

    return {
        "package-name": "nbrunner",
        "name": "nbrunner",
        "description": "Run parameterized Jupyter notebooks unattended (NbrunnerOperator, run_notebook_task).",
        "versions": [version("nbrunner")],
        "extra-links": ["nbrunner.airflow.NotebookLink"],
    }
