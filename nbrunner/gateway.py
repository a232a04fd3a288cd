"""Spark: attach the notebook's kernel to the driver JVM that spark-submit started.

Under spark-submit, PythonRunner starts a Py4J server in the driver JVM and runs nbrunner with
``PYSPARK_GATEWAY_PORT`` and ``PYSPARK_GATEWAY_SECRET``. nbrunner:

- connects to that gateway itself (py4j only, no pyspark import, no SparkContext) to check it before any kernel
  starts, to read the Spark facts, to find each cell's jobs and to cancel them when the run stops;
- forwards the gateway and the driver's environment to the kernel explicitly, so the kernel's pyspark joins the same
  JVM: one Spark application, every spark-submit option in force, no second JVM;
- (with :mod:`nbrunner.engines.spark.hooks`) runs a short start-up in the kernel that defines ``spark`` and ``sc``
  and labels each cell's jobs.

py4j's errors are translated here, and only here, into GatewayError (exit 7).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nbrunner.core.py4j_client import GATEWAY_VARS, pinned
from nbrunner.errors import GatewayError, error_line

#: What the driver's Python got from spark-submit (and what a Spark driver needs) that the kernel must see too.
#: They are set on purpose in the kernel's environment and protected from a kernelspec's ``env`` stanza.
FORWARDED = (
    *GATEWAY_VARS,
    "PYTHONPATH",  # --py-files, then pyspark.zip and py4j
    "SPARK_HOME",
    "SPARK_CONF_DIR",
    "SPARK_ENV_LOADED",
    "SPARK_SCALA_VERSION",
    "PYSPARK_PYTHON",
    "PYSPARK_DRIVER_PYTHON",
    "PYSPARK_PIN_THREAD",
    "PYTHONHASHSEED",
    "PYTHONUNBUFFERED",
    "OMP_NUM_THREADS",
    "MASTER",
    "HADOOP_CONF_DIR",
    "YARN_CONF_DIR",
    "HADOOP_USER_NAME",
    "SPARK_USER",
    "KRB5CCNAME",
    "JAVA_HOME",
    "SPARK_LOCAL_DIRS",
    "SPARK_LOCAL_IP",
    "SPARK_REMOTE",
    "LD_LIBRARY_PATH",
)


#: the launcher's file name: also the name spark-submit gives an application started without --name
LAUNCHER_NAME = "nbrunner_main.py"


def launcher_path() -> Path:
    """The ``.py`` file spark-submit runs; it sits in a folder of its own and only calls the CLI."""
    return Path(__file__).resolve().parent / "launcher" / LAUNCHER_NAME


def kernel_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The driver's variables the kernel must get, exactly as nbrunner got them."""
    return {name: environ[name] for name in FORWARDED if name in environ}


#: held while one run creates the SparkContext, so runs in other threads find it made instead of making a second
_CREATING = threading.Lock()


class Driver:
    """nbrunner's own connection to the driver JVM's Py4J gateway. It creates a SparkContext only when asked
    (:meth:`create_session`)."""

    def __init__(self, environ: Mapping[str, str]):
        self.port = int(environ["PYSPARK_GATEWAY_PORT"])
        self.secret = environ["PYSPARK_GATEWAY_SECRET"]
        self.pinned = pinned(environ)
        self.connect_mode = any(environ.get(name) for name in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"))
        self._gateway: Any = None

    def connect(self) -> None:
        """Connect with the secret and make one call; GatewayError (exit 7) when unreachable or refused."""
        from nbrunner.core.py4j_client import open_client

        try:
            self._gateway = open_client(self.port, self.secret, pinned_thread=self.pinned)
            self.spark_version = str(self._package().SPARK_VERSION())
        except Exception as e:
            raise GatewayError(self._explain(e)) from e

    def _explain(self, error: BaseException) -> str:
        from py4j.protocol import Py4JAuthenticationError, Py4JNetworkError

        where = f"127.0.0.1:{self.port}"
        if isinstance(error, Py4JAuthenticationError):
            return (
                f"the Spark driver's gateway at {where} refused PYSPARK_GATEWAY_SECRET; run nbrunner from spark-submit"
            )
        if isinstance(error, Py4JNetworkError | OSError):
            return (
                f"cannot reach the Spark driver's gateway at {where} ({error}); "
                "run nbrunner as spark-submit's primary resource, or unset PYSPARK_GATEWAY_PORT"
            )
        first = str(error).splitlines()[0] if str(error) else ""
        return f"the Spark driver's gateway at {where} failed: {type(error).__name__}: {first}"

    @property
    def jvm(self) -> Any:
        return self._gateway.jvm

    def _package(self) -> Any:
        return getattr(getattr(self.jvm.org.apache.spark, "package$"), "MODULE$")

    def context(self) -> Any:
        """The JVM's active SparkContext, or None (not created yet, or stopped)."""
        try:
            active = getattr(getattr(self.jvm.org.apache.spark, "SparkContext$"), "MODULE$").getActive()
            return active.get() if active.isDefined() else None
        except Exception:
            return None

    def create_session(self, app_name: str, defaults: Mapping[str, str]) -> None:
        """Create the SparkContext and the default SparkSession in the driver JVM, as pyspark's
        ``SparkSession.builder.getOrCreate()`` would: spark-submit's conf (the JVM's system properties), pyspark's
        defaults for this Spark (``defaults``: :func:`~nbrunner.engines.spark.versions.pyspark_default_configs`), and
        the notebook's name unless ``--name``/``spark.app.name`` gave one. The kernel then wraps them
        (``SparkContext(jsc=...)``), so this costly step overlaps the kernel's start. GatewayError when it fails.

        Nothing is created when a context exists (an earlier notebook of the chain made it: the kernel wraps that
        one) or when Spark Connect is asked for (pyspark's builder then starts its own server, in the kernel)."""
        with _CREATING:  # several runs at once (a for-each's iterations): one creates it, the others wrap it
            self._create_session(app_name, defaults)

    def _create_session(self, app_name: str, defaults: Mapping[str, str]) -> None:
        if not self.context_gone() or self.connect_mode:
            return
        try:
            jvm = self.jvm
            conf = jvm.org.apache.spark.SparkConf(True)
            if conf.get("spark.api.mode", "classic").lower() == "connect" or conf.contains("spark.remote"):
                return
            for key, value in defaults.items():
                conf.setIfMissing(key, value)
            if conf.get("spark.app.name", "") in ("", LAUNCHER_NAME):
                conf.setAppName(app_name)
            jsc = jvm.org.apache.spark.api.java.JavaSparkContext(conf)
            sql = jvm.org.apache.spark.sql
            session_class = sql.classic.SparkSession if int(self.spark_version.split(".")[0]) >= 4 else sql.SparkSession
            session_class.setDefaultSession(session_class(jsc.sc(), {}))
        except Exception as e:
            raise GatewayError(f"could not create the SparkContext: {type(e).__name__}: {error_line(str(e))}") from e

    def context_gone(self) -> bool:
        """Whether the SparkContext is stopped or stopping, or the JVM no longer answers."""
        sc = self.context()
        try:
            return sc is None or bool(sc.isStopped())
        except Exception:
            return True

    def facts(self) -> dict[str, Any]:
        """Application id, name, master, deploy mode, Spark version, UI address: what the record keeps."""
        found: dict[str, Any] = {"spark_version": self.spark_version, "gateway_port": self.port}
        sc = self.context()
        if sc is None:
            found["context"] = None
            return found
        try:
            ui = sc.uiWebUrl()
            found.update(
                application_id=sc.applicationId(),
                application_name=sc.appName(),
                master=sc.master(),
                deploy_mode=sc.deployMode(),
                ui_url=ui.get() if ui.isDefined() else None,
                context="active",
            )
        except Exception as e:
            found["error"] = f"{type(e).__name__}: {e}"
        return found

    def job_ids(self, group: str) -> list[int] | None:
        sc = self.context()
        if sc is None:
            return None
        try:
            return sorted(int(i) for i in sc.statusTracker().getJobIdsForGroup(group))
        except Exception:
            return None

    def cancel(self, group: str | None, *, reason: str, everything: bool = True) -> dict[str, Any]:
        """Cancel the running cell's jobs (by group and tag), then, when ``everything`` (the run is the only one on
        this application), any other job of the application (a background thread's, which carries no cell's group).

        Returns the cell's job ids with their status once cancelled (waits up to 5 s for them to end).
        """
        sc = self.context()
        if sc is None:
            return {}
        calls: list[tuple[str, tuple[Any, ...]]] = []
        if group is not None:
            calls += [("cancelJobGroup", (group, reason)), ("cancelJobGroup", (group,))]
            calls += [("cancelJobsWithTag", (group, reason)), ("cancelJobsWithTag", (group,))]
        if everything:
            calls += [("cancelAllJobs", ())]
        done: set[str] = set()
        for method, args in calls:
            if method in done:
                continue
            try:
                getattr(sc, method)(*args)
                done.add(method)
            except Exception:  # noqa: S112 - an overload or a method this Spark version lacks: try the next
                continue
        return self._settled(sc, group) if group is not None else {}

    def _settled(self, sc: Any, group: str, wait: float = 5.0) -> dict[str, Any]:
        import time

        deadline = time.monotonic() + wait
        while True:
            try:
                tracker = sc.statusTracker()
                statuses = {}
                for job in tracker.getJobIdsForGroup(group):
                    info = tracker.getJobInfo(job)
                    statuses[str(job)] = str(info.get().status()) if info.isDefined() else "UNKNOWN"
            except Exception as e:
                return {"error": f"{type(e).__name__}: {e}"}
            if "RUNNING" not in statuses.values() or time.monotonic() > deadline:
                return statuses
            time.sleep(0.05)

    def close(self) -> None:
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            try:
                gateway.close()  # never shutdown(): that would stop the JVM's gateway server
            except Exception:  # noqa: S110 - closing on the way out
                pass
