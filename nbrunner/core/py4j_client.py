"""Whether spark-submit started this process (it gives it ``PYSPARK_GATEWAY_PORT`` and ``..._SECRET``), and a Py4J
client to that driver JVM, made as pyspark makes its own: a ``ClientServer`` in pinned-thread mode (pyspark's
default), else a ``JavaGateway``. Used by nbrunner's connection to the driver (:mod:`nbrunner.gateway`), the engines'
detection and the Hadoop store (:mod:`nbrunner.storage.hdfs`), each with a connection of its own; py4j is imported
only when one is made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: what spark-submit gives the Python process it starts: the driver JVM's gateway port and its secret
GATEWAY_VARS = ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET")


def under_spark_submit(environ: Mapping[str, str]) -> bool:
    return all(environ.get(name) for name in GATEWAY_VARS)


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
