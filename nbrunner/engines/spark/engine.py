"""spark-submit as an engine: nbrunner runs inside the Python process spark-submit started, and the kernel joins the
driver JVM through the Py4J gateway (:mod:`nbrunner.gateway`), so one Spark application runs and every spark-submit
option applies. Its run is :class:`~nbrunner.engines.spark.hooks.SparkRun`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nbrunner.config import RunConfig
from nbrunner.core.kernels import KernelChoice
from nbrunner.core.node import Notebook
from nbrunner.engines.base import EngineRun
from nbrunner.engines.spark import hooks


class SparkSubmitEngine:
    """The driver JVM spark-submit started: attached before each run's kernel starts, released after it."""

    kind = "spark-submit"

    def __init__(self, environ: Mapping[str, str], kernel: KernelChoice):
        self.environ = environ
        self.kernel = kernel
        self.driver: Any = None
        self.env: dict[str, str] = {}
        self.early: hooks.EarlyContext | None = None

    @classmethod
    def detect(cls, config: RunConfig, kernel: KernelChoice, environ: Mapping[str, str]) -> SparkSubmitEngine | None:
        from nbrunner.gateway import under_spark_submit

        return cls(environ, kernel) if under_spark_submit(environ) else None

    @property
    def key(self) -> object:
        return (self.kind,)

    def check(self) -> None:
        """Connect to the driver JVM and check the kernel's pyspark against it (GatewayError, exit 7)."""
        attached = hooks.attach(self.environ, self.kernel)
        if attached is not None:
            self.driver, self.env = attached

    def kernel_env(self) -> dict[str, str]:
        return dict(self.env)

    def kernel_secrets(self) -> dict[str, str]:
        return {}

    def withheld(self) -> frozenset[str]:
        return frozenset()

    def hidden(self) -> list[str]:
        return []

    def prepare(self, app_name: str, config: RunConfig) -> None:
        """The SparkContext and SparkSession created in the JVM while the kernel starts and imports pyspark."""
        if self.driver is not None and config.spark.define_session and config.spark.early_context:
            self.early = hooks.EarlyContext(self.driver, app_name)

    def start_run(self, *, run_id: str, notebook: str, app_name: str, nb: Notebook, config: RunConfig) -> EngineRun:
        return hooks.SparkRun(
            self.driver, run_id=run_id, notebook=notebook, nb=nb, app_name=app_name,
            define_session=config.spark.define_session, early=self.early,
        )  # fmt: skip

    def end_run(self, *, in_chain: bool) -> None:
        driver, self.driver, self.early = self.driver, None, None
        if driver is not None:
            driver.close()

    def end_chain(self) -> None:
        """Nothing is shared between a chain's notebooks but the JVM, which spark-submit owns."""
