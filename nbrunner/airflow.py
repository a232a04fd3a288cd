"""Airflow: :class:`NbrunnerOperator` and, for ``@task`` users, :func:`run_notebook_task`.

    pip install 'nbrunner[airflow]'      # Airflow 2.10+ or 3.x; Airflow is imported only by this module

The operator runs ``nbrunner run`` (or, with ``spark_submit=True``, ``spark-submit`` of the installed pyspark with
nbrunner's launcher) in a process group of its own: the exit code decides the task (0 success, 99 skipped, anything
else failed), the run record is the task's XCom ``return_value`` (a dict) on success and is pushed as
``nbrunner_record`` in every case, ``on_kill`` (an ``execution_timeout``, a cleared task) stops the run as SIGTERM
does (partial notebook stored, kernel and Spark jobs gone), and the "Notebook" link opens the run's HTML.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:  # Airflow 3
    from airflow.sdk import BaseOperator, BaseOperatorLink
    from airflow.sdk.exceptions import AirflowSkipException
except ImportError:  # Airflow 2.10
    from airflow.exceptions import AirflowSkipException
    from airflow.models import BaseOperator
    from airflow.models.baseoperatorlink import BaseOperatorLink

from airflow.exceptions import AirflowException

if TYPE_CHECKING:
    from nbrunner.engines.spark.local_host import Loopback

RECORD_KEY = "nbrunner_record"
SKIPPED = 99
#: how a secret reference starts: the operator's ``secrets`` take nothing else (a template that rendered to a value)
SECRET_KINDS = ("env:", "file:", "conn:")
#: ``--conf`` keys whose values the task log never shows
_SECRET_WORDS = ("secret", "password", "token", "credential", "passwd", "key")


def check_secret_references(secrets: Mapping[str, Any]) -> None:
    """Each of the operator's ``secrets`` is a reference (``env:VAR``, ``file:/path``, ``conn:ID``), checked before
    any command is built or logged: an AirflowException otherwise, naming the parameter, never what was given (a
    template that rendered to the secret's value)."""
    for name, ref in secrets.items():
        kind = next((k for k in SECRET_KINDS if isinstance(ref, str) and ref.startswith(k)), None)
        if kind is None or not ref[len(kind) :] or any(ch.isspace() for ch in ref[len(kind) :]):
            raise AirflowException(
                f"secrets[{str(name)!r}]: give a reference, env:VARIABLE, file:/path or conn:CONNECTION_ID, not the "
                "value itself (what was given is not shown)"
            )


def shown_command(command: Sequence[str]) -> str:
    """``command`` as the task log shows it: a ``--secret`` that is not a reference, a ``--conf`` whose key names a
    secret and every URL's credentials and token parameters masked (:func:`nbrunner.core.urls.masked`)."""
    from nbrunner.core.urls import MASK, masked

    shown: list[str] = []
    for arg in command:
        before = shown[-1] if shown else ""
        if arg.startswith("--secret="):
            shown.append("--secret=" + _shown_secret(arg[len("--secret=") :]))
            continue
        if before == "--secret":
            arg = _shown_secret(arg)
        elif before == "--conf" and "=" in arg:
            key, _, value = arg.partition("=")
            arg = f"{key}={MASK}" if any(word in key.lower() for word in _SECRET_WORDS) else f"{key}={masked(value)}"
        elif "://" in arg:
            arg = masked(arg)
        shown.append(arg)
    return " ".join(shown)


def _shown_secret(assignment: str) -> str:
    from nbrunner.core.urls import MASK

    name, _, ref = assignment.partition("=")
    is_ref = any(ref.startswith(k) and ref[len(k) :] for k in SECRET_KINDS) and not any(c.isspace() for c in ref)
    return assignment if is_ref else f"{name}={MASK}"


def html_link(record: Mapping[str, Any] | None, url_template: str | None) -> str:
    """Where the run's HTML opens: a local file, or a store's object (s3://) through ``url_template`` ({bucket},
    {key})."""
    from nbrunner.storage.base import scheme_of

    where = str((record or {}).get("html") or "")
    if scheme_of(where) is not None:
        if not url_template:
            return ""
        bucket, _, key = where.split("://", 1)[1].partition("/")
        return url_template.format(bucket=bucket, key=key)
    return Path(where).absolute().as_uri() if where else ""


class NotebookLink(BaseOperatorLink):  # type: ignore[misc]
    name = "Notebook"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        try:
            from airflow.sdk.execution_time.xcom import XCom
        except ImportError:
            from airflow.models.xcom import XCom
        record = XCom.get_value(ti_key=ti_key, key=RECORD_KEY)
        return html_link(record if isinstance(record, dict) else None, getattr(operator, "html_url_template", None))


class NbrunnerOperator(BaseOperator):  # type: ignore[misc]
    """Run a notebook with nbrunner. ``output_path`` is nbrunner's ``-o`` (``output`` is BaseOperator's own).

    ``parameters`` are passed as a JSON parameters file (typed as given); ``secrets`` map parameter names to
    references: ``env:VAR``, ``file:/path``, or ``conn:CONN_ID`` (that connection's password, read when the task
    runs and handed over in the child's environment only, never in the command or the logs).
    """

    template_fields: Sequence[str] = ("notebook", "output_path", "parameters", "parameter_files", "secrets",
                                      "conf", "name")  # fmt: skip
    operator_extra_links = (NotebookLink(),)
    ui_color = "#f0e4ff"

    def __init__(
        self,
        *,
        notebook: str,
        output_path: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        parameter_files: Sequence[str] = (),
        secrets: Mapping[str, str] | None = None,
        spark_submit: bool = False,
        master: str | None = None,
        conf: Mapping[str, str] | None = None,
        py_files: Sequence[str] = (),
        spark_args: Sequence[str] = (),
        name: str | None = None,
        nbrunner_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        html_url_template: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.notebook = notebook
        self.output_path = output_path
        self.parameters = dict(parameters or {})
        self.parameter_files = list(parameter_files)
        self.secrets = dict(secrets or {})
        self.spark_submit = spark_submit
        self.master = master
        self.conf = dict(conf or {})
        self.py_files = list(py_files)
        self.spark_args = list(spark_args)
        self.name = name
        self.nbrunner_args = list(nbrunner_args)
        self.env = dict(env or {})
        self.html_url_template = html_url_template
        self._process: subprocess.Popen[str] | None = None
        self._context: Any = None

    def command(
        self, params_file: str | None, secret_env: Mapping[str, str], loopback: Loopback | None = None
    ) -> list[str]:
        """The child's command line; ``loopback``: what :meth:`local_driver` decided for spark-submit."""
        run = ["run", self.notebook]
        if self.output_path:
            run += ["-o", self.output_path]
        for name in self.parameter_files:
            run += ["-f", name]
        if params_file:
            run += ["-f", params_file]
        for name, ref in self.secrets.items():
            variable = next((v for v, n in secret_env.items() if n == name), None)
            run += ["--secret", f"{name}=env:{variable}" if variable else f"{name}={ref}"]
        run += self.nbrunner_args
        if not self.spark_submit:
            return [sys.executable, "-m", "nbrunner", *run]
        import pyspark

        from nbrunner.gateway import launcher_path

        submit = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit")]
        if self.master:
            submit += ["--master", self.master]
        stem = Path(self.notebook).name.removesuffix(".ipynb")
        submit += ["--name", self.name or stem]
        for key, value in self.conf.items():
            submit += ["--conf", f"{key}={value}"]
        if loopback is not None:
            submit += loopback.conf_args()
        if self.py_files:
            submit += ["--py-files", ",".join(self.py_files)]
        return [*submit, *self.spark_args, str(launcher_path()), *run]

    def local_driver(self, environ: Mapping[str, str]) -> Loopback | None:
        """nbrunner's host-name rule for this operator's spark-submit (:mod:`nbrunner.engines.spark.local_host`)."""
        if not self.spark_submit:
            return None
        import pyspark

        from nbrunner.engines.spark.local_host import loopback_driver, master_of

        home = {"SPARK_HOME": str(Path(pyspark.__file__).parent)}  # the spark-submit command() runs
        master = self.master or master_of(self.spark_args, self.conf, {**home, **environ})
        return loopback_driver(master, self.conf, environ)

    def _secret_values(self) -> dict[str, str]:
        """``conn:ID`` secrets resolved now, into variables of the child's environment: {variable: parameter}."""
        found = {}
        for name, ref in self.secrets.items():
            if ref.startswith("conn:"):
                from airflow.hooks.base import BaseHook

                variable = f"NBRUNNER_AIRFLOW_SECRET_{name.upper()}"
                self.env[variable] = BaseHook.get_connection(ref[len("conn:") :]).password or ""
                found[variable] = name
        return found

    def execute(self, context: Any) -> Any:
        self._context = context
        check_secret_references(self.secrets)  # before any command is built, resolved or logged
        secret_env = self._secret_values()
        with tempfile.TemporaryDirectory(prefix="nbrunner-airflow-") as folder:
            params_file = None
            if self.parameters:
                params_file = os.path.join(folder, "parameters.json")
                Path(params_file).write_text(json.dumps(self.parameters), encoding="utf-8")
            env = {**os.environ, **self.env}
            loopback = self.local_driver(env)
            command = self.command(params_file, secret_env, loopback)
            if self.spark_submit:  # spark-submit finds SPARK_HOME and the driver's python through PATH
                env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
                env.setdefault("PYSPARK_PYTHON", sys.executable)
            if loopback is not None:  # its JVM resolves the host name as it starts: only the environment helps
                self.log.warning("%s", loopback.warning)
                env.update(loopback.env)
            self.log.info("running %s", shown_command(command))
            self._process = subprocess.Popen(  # noqa: S603 - our own command line, no shell
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            record, code = self._follow(self._process)
        if record is not None:
            context["ti"].xcom_push(key=RECORD_KEY, value=record)
        message = (record or {}).get("message") or f"nbrunner exited {code}"
        if code == SKIPPED:
            raise AirflowSkipException(str(message))
        if code != 0:
            raise AirflowException(f"nbrunner exited {code}: {message} (notebook: {(record or {}).get('output')})")
        return record

    def _follow(self, process: subprocess.Popen[str]) -> tuple[dict[str, Any] | None, int]:
        """Log what nbrunner prints as it comes; the run record is the last JSON line."""
        record = None
        assert process.stdout is not None  # noqa: S101
        for line in process.stdout:
            text = line.rstrip("\n")
            if text.startswith("{"):
                from nbrunner.core.record_schema import BadRecord, parse

                try:
                    record = parse(text)  # the one schema every reader of records checks
                    continue
                except BadRecord:
                    pass
            self.log.info("%s", text)
        return record, process.wait()

    def on_kill(self) -> None:
        """Stop the run as SIGTERM does: nbrunner stores the partial notebook and ends its kernel and Spark jobs."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        record, _ = self._follow(process)  # the rest of what it printed: the stopped run's record
        if record is not None and self._context is not None:
            try:
                self._context["ti"].xcom_push(key=RECORD_KEY, value=record)
            except Exception as e:  # the task is being killed: its record is in the stored files anyway
                self.log.warning("could not push the stopped run's record: %s", e)


def run_notebook_task(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """:func:`nbrunner.run_notebook` for ``@task`` users: the record (a dict) is returned, a skip raises Airflow's
    skip exception, and on failure the record is pushed (``nbrunner_record``) before the error is raised."""
    from nbrunner import run_notebook
    from nbrunner.errors import NbrunnerError, Skipped

    try:
        return dict(run_notebook(*args, **kwargs).as_json())
    except NbrunnerError as e:
        if e.record is not None:
            _push(RECORD_KEY, e.record.as_json())
        if isinstance(e, Skipped):
            raise AirflowSkipException(str(e)) from e
        raise


def _push(key: str, value: Any) -> None:
    try:
        from airflow.sdk import get_current_context
    except ImportError:
        from airflow.operators.python import get_current_context
    get_current_context()["ti"].xcom_push(key=key, value=value)
