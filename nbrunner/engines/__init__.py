"""The engines that run a notebook's work: spark-submit's driver JVM (``spark/``), a Spark Connect server
(``connect/``) and ``flink run``'s client JVM (``flink/``), each behind the one protocol in
:mod:`nbrunner.engines.base`.

Adding an engine is a folder of its own plus one line in :data:`ENGINES`; the plan asks each, in order, whether a run
uses it (``detect``), and nothing else of nbrunner names an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbrunner.config import RunConfig
    from nbrunner.core.kernels import KernelChoice
    from nbrunner.engines.base import Engine

#: the engines, as "module:class", asked in this order (an explicit --remote wins over running under spark-submit)
ENGINES = (
    "nbrunner.engines.connect.engine:ConnectEngine",
    "nbrunner.engines.spark.engine:SparkSubmitEngine",
    "nbrunner.engines.flink.engine:FlinkEngine",
)


def choose(config: RunConfig, kernel: KernelChoice, environ: Mapping[str, str]) -> Engine | None:
    """The engine a run uses (None: the kernel alone). UsageError (exit 2) for a request an engine refuses."""
    import importlib

    for entry in ENGINES:
        module, _, name = entry.partition(":")
        engine: Engine | None = getattr(importlib.import_module(module), name).detect(config, kernel, environ)
        if engine is not None:
            return engine
    return None
