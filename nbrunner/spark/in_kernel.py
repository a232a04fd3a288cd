"""Run inside the notebook's kernel under Spark Connect: define ``spark`` on nbrunner's session, label each cell.

Called once, silently, before the first cell (:class:`nbrunner.spark.connect_run.ConnectRun`). Imports nothing of
nbrunner's but :mod:`nbrunner.inside`, so the kernel pays only for pyspark's Connect client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn


class SparkContextUnavailable(RuntimeError):
    """Raised on any use of ``sc`` under Spark Connect."""


class NoSparkContext:
    """The notebook's ``sc`` under Spark Connect: there is no SparkContext on the client side."""

    def _refuse(self, what: str) -> NoReturn:
        raise SparkContextUnavailable(
            f"sc.{what}: the SparkContext (sc) is not available under Spark Connect (nbrunner --remote); "
            "use the spark session instead, for example spark.range(10) or spark.createDataFrame(rows)"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._refuse(name)

    def __repr__(self) -> str:
        return "<sc: not available under Spark Connect; use spark>"


def start(secret_key: str, tags: Sequence[str]) -> None:
    """Define ``spark`` (a Connect session on the URL nbrunner handed over as a secret) and ``sc`` (a stand-in),
    and tag each cell's operations from the thread that runs the cell (Connect tags are thread-local)."""
    from IPython import get_ipython

    from nbrunner.inside import take_secrets

    url = take_secrets().pop(secret_key)
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(url).getOrCreate()
    del url
    state = {"n": 0}

    def tag_cell(info: Any = None) -> None:
        n = state["n"]
        state["n"] = n + 1
        if n >= len(tags):
            return
        try:
            spark.clearTags()
            spark.addTag(tags[n])
        except Exception:  # noqa: S110 - the notebook stopped the session: its cells fail on their own
            pass

    shell = get_ipython()
    shell.events.register("pre_run_cell", tag_cell)
    shell.user_ns.update(spark=spark, sc=NoSparkContext())
