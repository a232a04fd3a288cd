"""spark-submit as an engine: nbrunner runs inside the Python process spark-submit started, and the kernel joins the
driver JVM through the Py4J gateway (:mod:`nbrunner.gateway`), so one Spark application runs and every spark-submit
option applies. Its run is :class:`~nbrunner.engines.spark.hooks.SparkRun`.

Several runs may go on at once in threads of one process (one application): each run's connection, kernel
variables and early context are its own (kept per thread), and a stop cancels every job of the application only when
no other run shares it."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbrunner.config import RunConfig
from nbrunner.core.kernels import KernelChoice
from nbrunner.core.node import Notebook
from nbrunner.engines.base import EngineRun
from nbrunner.engines.spark import hooks


@dataclass
class _Attached:
    driver: Any = None
    env: dict[str, str] = field(default_factory=dict)
    early: hooks.EarlyContext | None = None
    started: bool = False


class SparkSubmitEngine:
    """The driver JVM spark-submit started: attached before each run's kernel starts, released after it."""

    kind = "spark-submit"
    concurrent = True

    def __init__(self, environ: Mapping[str, str], kernel: KernelChoice):
        self.environ = environ
        self.kernel = kernel
        self._runs: dict[int, _Attached] = {}  # by the thread that runs each
        self._lock = threading.Lock()

    @classmethod
    def detect(cls, config: RunConfig, kernel: KernelChoice, environ: Mapping[str, str]) -> SparkSubmitEngine | None:
        from nbrunner.core.py4j_client import under_spark_submit

        return cls(environ, kernel) if under_spark_submit(environ) else None

    @property
    def key(self) -> object:
        return (self.kind,)

    def _mine(self) -> _Attached:
        with self._lock:
            return self._runs.setdefault(threading.get_ident(), _Attached())

    def alone(self) -> bool:
        """Whether at most one run is going on on the application."""
        with self._lock:
            return sum(1 for run in self._runs.values() if run.started) <= 1

    def check(self) -> None:
        """Connect to the driver JVM and check the kernel's pyspark against it (GatewayError, exit 7)."""
        attached = hooks.attach(self.environ, self.kernel)
        if attached is not None:
            mine = self._mine()
            mine.driver, mine.env = attached

    def kernel_env(self) -> dict[str, str]:
        return dict(self._mine().env)

    def kernel_secrets(self) -> dict[str, str]:
        return {}

    def withheld(self) -> frozenset[str]:
        return frozenset()

    def hidden(self) -> list[str]:
        return []

    def prepare(self, app_name: str, config: RunConfig) -> None:
        """The SparkContext and SparkSession created in the JVM while the kernel starts and imports pyspark."""
        mine = self._mine()
        if mine.driver is not None and config.spark.define_session and config.spark.early_context:
            mine.early = hooks.EarlyContext(mine.driver, app_name)

    def start_run(self, *, run_id: str, notebook: str, app_name: str, nb: Notebook, config: RunConfig) -> EngineRun:
        mine = self._mine()
        mine.started = True
        return hooks.SparkRun(
            mine.driver, run_id=run_id, notebook=notebook, nb=nb, app_name=app_name,
            define_session=config.spark.define_session, early=mine.early, alone=self.alone,
            iteration=config.spark.iteration,
        )  # fmt: skip

    def end_run(self, *, in_chain: bool) -> None:
        with self._lock:
            mine = self._runs.pop(threading.get_ident(), None)
        if mine is not None and mine.driver is not None:
            mine.driver.close()

    def end_chain(self) -> None:
        """Nothing is shared between a chain's notebooks but the JVM, which spark-submit owns."""
