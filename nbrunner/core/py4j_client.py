"""A Py4J client to the Spark driver JVM spark-submit started (``PYSPARK_GATEWAY_PORT`` and ``..._SECRET``), made as
pyspark makes its own: a ``ClientServer`` in pinned-thread mode (pyspark's default), else a ``JavaGateway``. Used by
nbrunner's connection to the driver (:mod:`nbrunner.gateway`) and by the Hadoop store (:mod:`nbrunner.storage.hdfs`),
each with a connection of its own; py4j is imported only when one is made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def pinned(environ: Mapping[str, str]) -> bool:
    return environ.get("PYSPARK_PIN_THREAD", "true").lower() == "true"


def open_client(port: int, secret: str, *, pinned_thread: bool) -> Any:
    """A Py4J client with the secret and no callback server of its own; py4j's errors as they are."""
    if pinned_thread:
        from py4j.clientserver import ClientServer, JavaParameters, PythonParameters

        return ClientServer(
            java_parameters=JavaParameters(port=port, auth_token=secret, auto_convert=True),
            python_parameters=PythonParameters(port=0, eager_load=False),
        )
    from py4j.java_gateway import GatewayParameters, JavaGateway

    return JavaGateway(gateway_parameters=GatewayParameters(port=port, auth_token=secret, auto_convert=True))
