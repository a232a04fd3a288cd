"""Spark during a run, as engine hooks: attach the kernel, label and cancel each cell's jobs, watch the driver JVM,
and keep the Spark facts (captured as soon as the session exists and after every cell, not only at the end).

The py4j side (connecting, facts, cancelling) is :mod:`nbrunner.gateway`'s; this module decides when.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbrunner import gateway
from nbrunner.core.kernels import SAME_INTERPRETER, KernelChoice
from nbrunner.core.node import Cell, Notebook
from nbrunner.core.py4j_client import under_spark_submit
from nbrunner.core.record import first_line
from nbrunner.core.signals import StopGuard
from nbrunner.engines.base import EngineRun
from nbrunner.engines.parent import watch_parent_jvm
from nbrunner.engines.spark.versions import check_kernel_pyspark
from nbrunner.notebook.document import runs


def attach(environ: Mapping[str, str], kernel: KernelChoice) -> tuple[gateway.Driver, dict[str, str]] | None:
    """Under spark-submit: connect to the driver JVM and check the kernel's pyspark (GatewayError, exit 7), and
    return the connection with the variables the kernel needs. Outside spark-submit: None, nothing Spark happens."""
    if not under_spark_submit(environ):
        return None
    env = gateway.kernel_env(environ)
    same = kernel.name == SAME_INTERPRETER
    if env.get("PYTHONPATH"):
        from nbrunner.engines.spark.pythonpath import interpreter_site, kernel_pythonpath, leave_out

        lean = kernel_pythonpath(env["PYTHONPATH"], interpreter_site(sys.path, env["PYTHONPATH"]))
        leave_out(sys.path, env["PYTHONPATH"], lean)  # nbrunner's own py4j import, before connecting
        if same:
            env["PYTHONPATH"] = lean
    driver = gateway.Driver(environ)
    driver.connect()
    try:
        check_kernel_pyspark(driver, kernel.spec, {**environ, **env}, same_interpreter=same)
    except BaseException:
        driver.close()
        raise
    return driver, env


@dataclass(frozen=True)
class CellLabel:
    index: int
    group: str
    description: str


def labels(run_id: str, notebook: str, cells: Sequence[tuple[int, str]]) -> list[CellLabel]:
    """One job group / description / tag per code cell nbclient will run, in order."""
    found = []
    for index, first in cells:
        group = f"nbrunner-{run_id}-cell-{index}"
        found.append(CellLabel(index, group, f"nbrunner {notebook} cell {index}: {first}"))
    return found


def startup_code(cell_labels: Sequence[CellLabel], *, define_session: bool, pool: str | None = None) -> str:
    """Code the kernel runs, silently, before the first cell, while the driver JVM may still be creating the
    SparkContext (:class:`EarlyContext`): it imports pyspark (the kernel's costliest step, overlapped that way) and
    registers an IPython ``pre_run_cell`` callback that labels each cell's Spark jobs from the thread that runs the
    cell (job groups, descriptions and tags are thread-local in the JVM), and (``pool``: a for-each's iteration) puts
    them in the FAIR scheduler pool of that name. Needs no SparkContext."""
    table = json.dumps([[label.group, label.description] for label in cell_labels], ensure_ascii=False)
    return (
        "def _nbrunner_startup():\n"
        "    import json\n"
        f"    labels = json.loads({table!r})\n"
        "    state = {'n': 0}\n"
        "    def label_jobs(info=None):\n"
        "        n = state['n']\n"
        "        state['n'] = n + 1\n"
        "        if n >= len(labels):\n"
        "            return\n"
        "        from pyspark import SparkContext\n"
        "        sc = SparkContext._active_spark_context\n"
        "        if sc is None:\n"
        "            return\n"
        "        group, description = labels[n]\n"
        "        sc.setJobGroup(group, description, interruptOnCancel=True)\n"
        + (f"        sc.setLocalProperty('spark.scheduler.pool', {pool!r})\n" if pool is not None else "")
        + "        if hasattr(sc, 'addJobTag'):\n"
        "            sc.clearJobTags()\n"
        "            sc.addJobTag(group)\n"
        "    get_ipython().events.register('pre_run_cell', label_jobs)\n"
        + ("    import pyspark.sql\n" if define_session else "")
        + "_nbrunner_startup()\n"
        "del _nbrunner_startup\n"
    )


def session_code(app_name: str, *, isolated: bool = False) -> str:
    """Code the kernel runs, silently, once the start-up code ran: defines ``spark`` and ``sc``.

    It wraps the JVM's SparkContext and default SparkSession when they exist (nbrunner created them, or an earlier
    notebook of the chain did), without options, so wrapping does not build the session state before a cell needs
    it; else it creates them in the driver JVM through the forwarded gateway, named after the notebook unless
    ``--name`` / ``spark.app.name`` named the application (spark-submit's default is the launcher's file name).

    ``isolated`` (an iteration of a for-each, beside others on the application): ``spark`` is a session of its own
    (``newSession()``: its temp views, SQL settings and UDFs unseen by the others), and ``spark.stop()`` /
    ``sc.stop()`` warn in the cell and do nothing, so no iteration can stop the application under its siblings.
    """
    return (
        "def _nbrunner_session():\n"
        "    from pyspark import SparkConf, SparkContext\n"
        "    from pyspark.sql import SparkSession\n"
        "    SparkContext._ensure_initialized()\n"
        "    jvm = SparkContext._jvm\n"
        "    active = getattr(getattr(jvm.org.apache.spark, 'SparkContext$'), 'MODULE$').getActive()\n"
        "    builder = SparkSession.builder\n"
        "    if active.isDefined():\n"
        "        if SparkContext._active_spark_context is None:\n"
        "            SparkContext(jsc=jvm.org.apache.spark.api.java.JavaSparkContext.fromSparkContext(active.get()))\n"
        f"    elif SparkConf().get('spark.app.name', '') in ('', {gateway.LAUNCHER_NAME!r}):\n"
        f"        builder = builder.appName({app_name!r})\n"
        "    spark = builder.getOrCreate()\n"
        + (_ISOLATE if isolated else "")
        + "    get_ipython().user_ns.update(spark=spark, sc=spark.sparkContext)\n"
        "_nbrunner_session()\n"
        "del _nbrunner_session\n"
    )


_ISOLATE = (
    "    spark = spark.newSession()\n"
    "    import warnings\n"
    "    def stop(self, *args, **kwargs):\n"
    "        warnings.warn('nbrunner: stop() ignored: this notebook runs beside others on one Spark application (a '\n"
    "                      'for-each iteration); stopping it would stop theirs', RuntimeWarning, stacklevel=2)\n"
    "    for cls in {SparkSession, type(spark), SparkContext, type(spark.sparkContext)}:\n"
    "        cls.stop = stop\n"
)


class EarlyContext:
    """Creates the SparkContext and SparkSession in the driver JVM on a thread, while the kernel starts."""

    def __init__(self, driver: gateway.Driver, app_name: str):
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._create, args=(driver, app_name), name="nbrunner-spark-context")
        self._thread.daemon = True
        self._thread.start()

    def _create(self, driver: gateway.Driver, app_name: str) -> None:
        try:
            from nbrunner.engines.spark.versions import pyspark_default_configs

            driver.create_session(app_name, pyspark_default_configs(driver.spark_version))
        except BaseException as e:  # handed to wait(), on the run's thread
            self.error = e

    def wait(self, guard: StopGuard) -> None:
        """Until the context exists; a stop (signal, JVM gone) does not wait for it. Raises what creating raised."""
        while self._thread.is_alive():
            self._thread.join(0.05)
            if guard.reason is not None:
                raise guard.reason
        if self.error is not None:
            raise self.error


class SparkRun(EngineRun):
    """One run's Spark: the kernel's start-up code, per-cell labels and job ids, cancellation, facts."""

    def __init__(
        self,
        driver: gateway.Driver,
        *,
        run_id: str,
        notebook: str,
        app_name: str,
        nb: Notebook,
        define_session: bool,
        early: EarlyContext | None = None,
        alone: Callable[[], bool] = lambda: True,
        iteration: str | None = None,
    ):
        self.driver = driver
        cells = [(i, first_line(c.source)) for i, c in enumerate(nb.cells) if runs(c)]
        self.labels = {label.index: label for label in labels(run_id, notebook, cells)}
        self.startup_code = startup_code(list(self.labels.values()), define_session=define_session, pool=iteration)
        self.session_code = session_code(app_name, isolated=iteration is not None) if define_session else None
        self.reason = f"nbrunner {run_id} stopped"
        self.facts: dict[str, Any] = {"spark_version": driver.spark_version, "gateway_port": driver.port}
        self.current: int | None = None
        self.cancelled: dict[str, Any] | None = None
        self._cancel_once = threading.Lock()
        self.jvm_gone: threading.Event | None = None
        self.early = early  # the SparkContext being created while the kernel starts
        self.alone = alone  # whether this run is the only one on the application (then a stop cancels every job)

    def startup(self, guard: StopGuard) -> list[str | Callable[[], None]]:
        """What the kernel runs before the first cell, in order: the imports and job labels (while the JVM creates
        the SparkContext), then, once the early context made it, the session."""
        early = self.early
        steps: list[str | Callable[[], None]] = [self.startup_code]
        if self.session_code is not None:
            if early is not None:
                steps.append(lambda: early.wait(guard))
            steps.append(self.session_code)
        return steps

    def refresh_facts(self) -> None:
        """Keep the facts of the live context; once it is stopped (by the notebook, or with the JVM) keep the last."""
        found = self.driver.facts()
        if found.get("context") == "active" or "application_id" not in self.facts:
            self.facts.update(found)

    def ready(self) -> None:
        """The kernel ran the start-up code: the session exists (unless --no-spark-session)."""
        self.refresh_facts()

    def cell_started(self, index: int, cell: Cell) -> None:
        self.current = index

    def cell_finished(self, index: int, cell: Cell, status: str, seconds: float) -> None:
        self.record_jobs(index, cell)
        self.refresh_facts()

    def record_jobs(self, index: int, cell: Cell) -> None:
        label = self.labels.get(index)
        ids = self.driver.job_ids(label.group) if label is not None else None
        if ids and "nbrunner" in cell.metadata:
            cell.metadata["nbrunner"]["spark_job_ids"] = ids

    def cancel(self) -> None:
        """Cancel the running cell's jobs, then, if no other run shares the application, any other job; once, from
        the stop thread or the failure path."""
        with self._cancel_once:
            if self.cancelled is not None:
                return
            label = self.labels.get(self.current) if self.current is not None else None
            group = label.group if label else None
            self.cancelled = self.driver.cancel(group, reason=self.reason, everything=self.alone())

    def watch(self, guard: StopGuard) -> None:
        """spark-submit's JVM gone (EOF on the stdin pipe it holds): the run is stopped (exit 7)."""
        self.jvm_gone = watch_parent_jvm(guard, "the Spark driver JVM exited during the run (spark-submit was killed?)")

    def after_run(self, nb: Notebook, *, failed: bool) -> dict[str, Any]:
        """Once the cells are done: cancel what a failure left running, and return the facts for the record."""
        if failed:
            self.cancel()  # a cell's Spark jobs do not stop with its kernel
            if self.jvm_gone is not None and self.driver.context_gone():
                # the SparkContext went away under the cell: if the JVM is going too, that is the real cause
                self.jvm_gone.wait(3.0)
            if self.current is not None:
                self.record_jobs(self.current, nb.cells[self.current])
        self.refresh_facts()
        facts = dict(self.facts)
        if self.cancelled:
            facts["cancelled_jobs"] = self.cancelled
        return facts
