"""Run inside the notebook's kernel under Spark Connect: define ``spark`` on nbrunner's session, hand the same session
to the notebook's own ``SparkSession.builder...getOrCreate()``, label each cell.

Called once, silently, before the first cell (:class:`nbrunner.engines.connect.hooks.ConnectRun`). Imports nothing of
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


def share_with_builder() -> None:
    """Make a notebook's own ``SparkSession.builder[.appName(...)...].getOrCreate()`` return nbrunner's session, as
    under spark-submit.

    ``SparkSession.getActiveSession()`` and ``SparkSession.active()`` already do: once a Connect session exists in the
    process, pyspark sends them to Connect's, whose default session is nbrunner's. pyspark's builder does not: given
    neither ``spark.remote`` nor ``SPARK_REMOTE`` it refuses (``CONNECT_URL_NOT_SET``) before it asks Connect's
    builder, and either would have to carry the token. So a builder with no URL of its own goes to Connect's builder
    while that has a session to return: it returns it with the builder's options applied (``appName``, ``config``;
    as classic ``getOrCreate()`` on an existing session, the server ignores what cannot change). Anything else (a URL
    of the notebook's own, or nbrunner's session stopped by the notebook) is pyspark's to answer."""
    import os

    from pyspark.errors import PySparkRuntimeError
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    pyspark_get_or_create = SparkSession.Builder.getOrCreate

    def get_or_create(builder: Any) -> Any:
        if "spark.remote" not in builder._options and "SPARK_REMOTE" not in os.environ:
            try:
                ConnectSession.active()
            except PySparkRuntimeError:  # nbrunner's session stopped (spark.stop()): nothing of ours to give
                pass
            else:
                return ConnectSession.builder.config(map=dict(builder._options)).getOrCreate()
        return pyspark_get_or_create(builder)

    get_or_create.__doc__ = pyspark_get_or_create.__doc__
    SparkSession.Builder.getOrCreate = get_or_create  # type: ignore[method-assign, assignment]


def start(secret_key: str, tags: Sequence[str]) -> None:
    """Define ``spark`` (a Connect session on the URL nbrunner handed over as a secret) and ``sc`` (a stand-in),
    and tag each cell's operations from the thread that runs the cell (Connect tags are thread-local)."""
    from IPython import get_ipython

    from nbrunner.inside import take_secrets

    url = take_secrets().pop(secret_key)
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(url).getOrCreate()  # the process's default and active Connect session
    del url
    share_with_builder()
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
