"""Airflow: :class:`NbrunnerOperator` and, for ``@task`` users, :func:`run_notebook_task`.

    pip install 'nbrunner[airflow]'      # Airflow 2.10+ or 3.x; Airflow is imported only by this module

The operator runs ``nbrunner run`` (or, with ``spark_submit=True``, ``spark-submit`` of the installed pyspark with
nbrunner's launcher) in a process group of its own: the exit code decides the task (0 success, 99 skipped, anything
else failed), the run record is the task's XCom ``return_value`` (a dict) on success and is pushed as
``nbrunner_record`` in every case, ``on_kill`` (an ``execution_timeout``, a cleared task) stops the run as SIGTERM
does (partial notebook stored, kernel and Spark jobs gone), and the "Notebook" link opens the run's HTML.
The link's class is registered with Airflow by the ``apache_airflow_provider`` entry point
(:mod:`nbrunner.airflow_provider`), so Airflow 2's webserver keeps it when it reads the serialized DAG.
"""

from __future__ import annotations

import json
import os
import signal
import string
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

try:  # Airflow 3
    from airflow.sdk import BaseOperator, BaseOperatorLink
    from airflow.sdk.exceptions import AirflowSkipException, AirflowTaskTimeout
except ImportError:  # Airflow 2.10
    from airflow.exceptions import AirflowSkipException, AirflowTaskTimeout
    from airflow.models import BaseOperator
    from airflow.models.baseoperatorlink import BaseOperatorLink

from airflow.exceptions import AirflowException

if TYPE_CHECKING:
    from nbrunner.engines.spark.local_host import Loopback

RECORD_KEY = "nbrunner_record"
SKIPPED = 99
#: ``flink run``'s exit code for any failure of its Python process (the record carries nbrunner's own)
FLINK_FAILED = 31
#: how a secret reference starts: the operator's ``secrets`` take nothing else (a template that rendered to a value)
SECRET_KINDS = ("env:", "file:", "conn:")
#: ``--conf`` keys whose values the task log never shows
_SECRET_WORDS = ("secret", "password", "token", "credential", "passwd", "key")
#: the driver's log4j2 configuration the operator's spark-submit gets unless the user gave one: warnings and errors
QUIET_LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n%ex
"""


def with_try_number(template: str, try_number: int) -> str:
    """``{try_number}`` in an ``-o`` template filled with Airflow's try number; every other placeholder (and ``{{``)
    left for nbrunner. A template nbrunner cannot parse is returned as given: nbrunner says what is wrong."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return template
    out = []
    for literal, name, spec, conversion in parsed:
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        if name == "try_number" and not spec and not conversion:
            out.append(str(try_number))
        else:
            out.append("{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return "".join(out)


def output_for_try(output: str | None, notebook: str, try_number: int | None) -> str | None:
    """The ``-o`` of a run under Airflow: ``{try_number}`` filled in; with none given, nbrunner's default
    (``<name>.out.ipynb`` beside the notebook) on the first try and ``<name>.try<N>.out.ipynb`` on a retry, so a retry
    never overwrites what the try before it left. ``$NBRUNNER_OUTPUT`` is left to the caller."""
    if try_number is None:
        return output
    if output is not None:
        return with_try_number(output, try_number)
    if try_number <= 1:
        return None
    from nbrunner.core.location import output_location, stem
    from nbrunner.errors import NbrunnerError
    from nbrunner.storage import locate

    try:
        source = locate(notebook, what="notebook")
        first = output_location(None, source, {}, locate=lambda text: locate(text, what="output"))
    except NbrunnerError:  # nbrunner says what is wrong with the notebook's name
        return None
    return str(first.with_name(f"{stem(source)}.try{try_number}.out.ipynb")).replace("{", "{{").replace("}", "}}")


def _environ_for_try(environ: Mapping[str, str], try_number: int | None) -> dict[str, str]:
    found = dict(environ)
    if try_number is not None and found.get("NBRUNNER_OUTPUT"):
        found["NBRUNNER_OUTPUT"] = with_try_number(found["NBRUNNER_OUTPUT"], try_number)
    return found


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


def _names_client_python(flink_args: Sequence[str]) -> bool:
    """Whether ``flink run``'s arguments choose the Python that runs nbrunner already."""
    return any(arg in ("-pyclientexec", "--pyClientExecutable") or "python.client.executable" in arg
               for arg in flink_args)  # fmt: skip


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


def html_link(record: Mapping[str, Any] | None, url_template: str | None, file_url_template: str | None = None) -> str:
    """Where the run's HTML opens: a store's object (s3://) through ``url_template`` ({bucket}, {key}); a local file
    through ``file_url_template`` ({path}: its absolute path without the leading /, URL-quoted), else as a file://
    URL (which Airflow 3's UI does not show)."""
    from nbrunner.storage.base import scheme_of

    where = str((record or {}).get("html") or "")
    if scheme_of(where) is not None:
        if not url_template:
            return ""
        bucket, _, key = where.split("://", 1)[1].partition("/")
        return url_template.format(bucket=bucket, key=key)
    if not where:
        return ""
    path = Path(where).absolute()
    if file_url_template:
        return file_url_template.format(path=quote(str(path).lstrip("/")))
    return path.as_uri()


class NotebookLink(BaseOperatorLink):  # type: ignore[misc]
    name = "Notebook"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        try:
            from airflow.sdk.execution_time.xcom import XCom
        except ImportError:
            from airflow.models.xcom import XCom
        record = XCom.get_value(ti_key=ti_key, key=RECORD_KEY)
        return html_link(
            record if isinstance(record, dict) else None,
            getattr(operator, "html_url_template", None),  # Airflow 2's serialized operator has its template fields
            getattr(operator, "file_url_template", None),
        )


class NbrunnerOperator(BaseOperator):  # type: ignore[misc]
    """Run a notebook with nbrunner. ``output_path`` is nbrunner's ``-o`` (``output`` is BaseOperator's own), with
    ``{try_number}`` (Airflow's) besides nbrunner's placeholders; without it, a retry's default name has the try number.

    ``parameters`` are passed as a JSON parameters file (typed as given); ``secrets`` map parameter names to
    references: ``env:VAR``, ``file:/path``, or ``conn:CONN_ID`` (that connection's password, read when the task
    runs and handed over in the child's environment only, never in the command or the logs). With ``spark_submit``,
    the driver logs warnings and errors only unless the user gives a log4j2 configuration of their own.
    ``html_url_template`` ({bucket}, {key}) and ``file_url_template`` ({path}) make the "Notebook" link's URL.
    """

    template_fields: Sequence[str] = ("notebook", "output_path", "parameters", "parameter_files", "secrets",
                                      "conf", "name", "html_url_template", "file_url_template", "for_each")  # fmt: skip
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
        file_url_template: str | None = None,
        for_each: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        parallel: int = 1,
        keep_going: bool = False,
        retries: int = 0,
        flink_run: bool = False,
        flink_args: Sequence[str] = (),
        flink: str | None = None,
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
        self.file_url_template = file_url_template
        # For each (docs/foreach.md): {name: "a,b" | "2026-11-01..2026-11-30" | [values]} or a list of mappings
        self.for_each = for_each
        self.parallel = parallel
        self.keep_going = keep_going
        self.retries = retries
        # under `flink run` (docs/flink.md): its options (-t, -D...) and CLI (default: flink on PATH, else pyflink's)
        self.flink_run = flink_run
        self.flink_args = list(flink_args)
        self.flink = flink
        if flink_run and spark_submit:
            raise ValueError("NbrunnerOperator: spark_submit and flink_run exclude each other")
        self._process: subprocess.Popen[str] | None = None
        self._context: Any = None

    def command(
        self,
        params_file: str | None,
        secret_env: Mapping[str, str],
        loopback: Loopback | None = None,
        *,
        try_number: int | None = None,
        folder: str | None = None,
    ) -> list[str]:
        """The child's command line; ``loopback``: what :meth:`local_driver` decided for spark-submit;
        ``try_number``: Airflow's, for the output's name (:func:`output_for_try`)."""
        run = ["run", self.notebook]
        output = output_for_try(self.output_path or None, self.notebook, try_number)
        if output:
            run += ["-o", output]
        for name in self.parameter_files:
            run += ["-f", name]
        if params_file:
            run += ["-f", params_file]
        for name, ref in self.secrets.items():
            variable = next((v for v, n in secret_env.items() if n == name), None)
            run += ["--secret", f"{name}=env:{variable}" if variable else f"{name}={ref}"]
        run += self.for_each_args(folder)
        run += self.nbrunner_args
        from nbrunner.gateway import launcher_path

        if self.flink_run:
            client = [] if _names_client_python(self.flink_args) else ["-pyclientexec", sys.executable]
            return [self.flink_cli(), "run", *self.flink_args, *client, "-py", str(launcher_path()), *run]
        if not self.spark_submit:
            return [sys.executable, "-m", "nbrunner", *run]
        import pyspark

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

    def flink_cli(self) -> str:
        """The ``flink`` command: the operator's ``flink``, else ``flink`` on PATH, else the one in pyflink's wheel."""
        if self.flink:
            return self.flink
        import shutil

        found = shutil.which("flink")
        if found:
            return found
        try:
            import pyflink
        except ImportError:
            raise ValueError("NbrunnerOperator(flink_run=True): no flink command on PATH and no pyflink installed; "
                             "give flink='/path/to/flink/bin/flink'") from None  # fmt: skip
        return str(Path(pyflink.__file__).parent / "bin" / "flink")

    def for_each_args(self, folder: str | None) -> list[str]:
        """``--for-each`` as the command line takes it: a text SPEC as it is, a list of values or a list of parameter
        mappings through a JSON file in ``folder`` (the task's temporary folder); ``--parallel``, ``--keep-going``,
        ``--retries``."""
        if not self.for_each:
            return []
        args: list[str] = []

        def written(name: str, value: Any) -> str:
            path = os.path.join(folder or tempfile.gettempdir(), f"for-each-{name}.json")
            Path(path).write_text(json.dumps(value), encoding="utf-8")
            return f"@{path}"

        if isinstance(self.for_each, Mapping):
            for name, spec in self.for_each.items():
                args += ["--for-each", f"{name}={spec if isinstance(spec, str) else written(name, list(spec))}"]
        else:
            args += ["--for-each", written("iterations", [dict(item) for item in self.for_each])]
        args += ["--parallel", str(self.parallel)]
        if self.retries:
            args += ["--retries", str(self.retries)]
        if self.keep_going:
            args.append("--keep-going")
        return args

    def local_driver(self, environ: Mapping[str, str]) -> Loopback | None:
        """nbrunner's host-name rule for this operator's spark-submit (:mod:`nbrunner.engines.spark.local_host`)."""
        if not self.spark_submit:
            return None
        import pyspark

        from nbrunner.engines.spark.local_host import loopback_driver, master_of

        home = {"SPARK_HOME": str(Path(pyspark.__file__).parent)}  # the spark-submit command() runs
        master = self.master or master_of(self.spark_args, self.conf, {**home, **environ})
        return loopback_driver(master, self.conf, environ)

    def own_logging(self, environ: Mapping[str, str]) -> bool:
        """Whether the user configured the driver's log4j2 already (their java options, spark-submit arguments or
        $SPARK_CONF_DIR/log4j2.properties): then the operator leaves Spark's logging alone."""
        import pyspark

        options = [environ.get("SPARK_SUBMIT_OPTS", ""), *self.spark_args]
        options += [value for key, value in self.conf.items() if "javaoptions" in key.lower()]
        if any("log4j" in option for option in options):
            return True
        folders = [environ.get("SPARK_CONF_DIR"), str(Path(pyspark.__file__).parent / "conf")]
        return any(folder and (Path(folder) / "log4j2.properties").exists() for folder in folders)

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
            try_number = _try_number(context)
            env = _environ_for_try({**os.environ, **self.env}, try_number)
            loopback = self.local_driver(env)
            command = self.command(params_file, secret_env, loopback, try_number=try_number, folder=folder)
            if self.spark_submit:  # spark-submit finds SPARK_HOME and the driver's python through PATH
                env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
                env.setdefault("PYSPARK_PYTHON", sys.executable)
                if not self.own_logging(env):  # the driver's INFO lines would be most of the task log
                    config = Path(folder) / "log4j2.properties"
                    config.write_text(QUIET_LOG4J2, encoding="utf-8")
                    # the driver's JVM in client mode is spark-submit's: its options are SPARK_SUBMIT_OPTS too
                    option = f"-Dlog4j2.configurationFile={config.as_uri()}"
                    env["SPARK_SUBMIT_OPTS"] = f"{env.get('SPARK_SUBMIT_OPTS', '')} {option}".strip()
            if loopback is not None:  # its JVM resolves the host name as it starts: only the environment helps
                self.log.warning("%s", loopback.warning)
                env = loopback.applied(env)
            self.log.info("running %s", shown_command(command))
            self._process = subprocess.Popen(  # noqa: S603 - our own command line, no shell
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            record, code = self._follow(self._process)
        if self.flink_run and code == FLINK_FAILED:  # flink run says 31 for every failure: the record says which
            code = int(record["exit_code"]) if record is not None and record.get("exit_code") else code
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


def run_notebook_task(
    input: str | os.PathLike[str],  # noqa: A002 - run_notebook's name for it
    output: str | os.PathLike[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`nbrunner.run_notebook` for ``@task`` users: the record (a dict) is returned, a skip raises Airflow's
    skip exception, and on failure the record is pushed (``nbrunner_record``) before the error is raised.

    ``output`` may hold ``{try_number}``; without it, a retry's default name has the try number
    (:func:`output_for_try`). An ``execution_timeout`` stops the run as SIGTERM does (the partial notebook and the
    record are written, the record pushed), then raises Airflow's AirflowTaskTimeout.
    """
    from nbrunner import run_notebook
    from nbrunner.errors import NbrunnerError, Skipped

    try:
        try_number = _try_number(_current_context())
    except Exception:  # called outside a task: no try number
        try_number = None
    target = output_for_try(os.fspath(output) if output is not None else None, os.fspath(input), try_number)
    environ = kwargs.get("environ") or os.environ
    if try_number is not None and "{" in environ.get("NBRUNNER_OUTPUT", ""):
        kwargs["environ"] = _environ_for_try(environ, try_number)
    with _TimeoutStopsTheRun() as timeout:
        try:
            record = dict(run_notebook(input, target, parameters, **kwargs).as_json())
        except NbrunnerError as e:
            if e.record is not None:
                _push(RECORD_KEY, e.record.as_json())
            if timeout.fired:
                raise AirflowTaskTimeout(f"execution_timeout: the run was stopped; {_kept(e.record)}") from e
            if isinstance(e, Skipped):
                raise AirflowSkipException(str(e)) from e
            raise
    if timeout.fired:  # the alarm came as the run ended: its outcome stands, the task still timed out
        _push(RECORD_KEY, record)
        raise AirflowTaskTimeout(f"execution_timeout: {_kept(record)}")
    return record


def _kept(record: Any) -> str:
    found = record.as_json() if hasattr(record, "as_json") else record
    if not found:
        return "it had not started: no notebook was written"
    return f"the notebook and record are kept (notebook: {found.get('output')})"


class _TimeoutStopsTheRun:
    """Airflow's ``execution_timeout`` is a SIGALRM whose handler raises AirflowTaskTimeout, a BaseException that no
    ``except Exception`` stops: raised inside a run, it would leave no notebook and no record. While the run's stop
    guard is in place (from the plan to the stored results) the alarm stops the run as SIGTERM does instead, and
    :attr:`fired` says so; before and after, Airflow's own handler raises as it would."""

    def __init__(self) -> None:
        self.fired = False
        self._previous: Any = None

    def __enter__(self) -> _TimeoutStopsTheRun:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGALRM)
            if callable(previous):  # Airflow's timeout is armed
                self._previous = previous
                signal.signal(signal.SIGALRM, self._alarm)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGALRM, self._previous)

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        from nbrunner.core.signals import StopGuard

        stop = signal.getsignal(signal.SIGTERM)
        if callable(stop) and isinstance(getattr(stop, "__self__", None), StopGuard):
            self.fired = True
            stop(signal.SIGTERM, frame)
        else:
            self._previous(signum, frame)


def _current_context() -> Any:
    try:
        from airflow.sdk import get_current_context
    except ImportError:
        from airflow.operators.python import get_current_context
    return get_current_context()


def _try_number(context: Any) -> int | None:
    """The task instance's try number (1 on the first try), None outside a task."""
    try:
        number = context["ti"].try_number
    except (KeyError, TypeError, AttributeError):
        return None
    return number if isinstance(number, int) else None


def _push(key: str, value: Any) -> None:
    _current_context()["ti"].xcom_push(key=key, value=value)
