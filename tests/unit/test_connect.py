"""spark.connect: Spark Connect URLs as pyspark reads them, with the token kept apart."""

from __future__ import annotations

import pytest

from nbrunner.engines.connect.session import DEFAULT_PORT, Remote, remote_of
from nbrunner.errors import UsageError


def test_the_token_is_kept_apart_and_the_url_rebuilt_for_the_kernel_as_pyspark_reads_it() -> None:
    from pyspark.sql.connect.client.core import DefaultChannelBuilder

    remote = Remote.parse("sc://spark.internal:443/;use_ssl=true;token=a%3Bb%3Dc%2Fd;session_id=theirs;x-h=v")
    assert remote.token == "a;b=c/d" and remote.shown == "sc://spark.internal:443"
    assert "a;b" not in repr(remote) and remote.tls
    builder = DefaultChannelBuilder(remote.url("0b6a7b0e-5b7a-4d7e-9d53-6c6b9b1f0a11", "nbrunner"))
    assert builder.token == "a;b=c/d" and builder.session_id == "0b6a7b0e-5b7a-4d7e-9d53-6c6b9b1f0a11"
    assert builder.userId == "nbrunner" and ("x-h", "v") in list(builder.metadata())  # the caller's own header kept


@pytest.mark.parametrize(
    "url, tls",
    [("sc://localhost:1/;token=t0ken-xyz", False), ("sc://127.0.0.1:1/;token=t0ken-xyz", True),
     ("sc://h:1", False), ("sc://localhost:1/;use_ssl=true", True)],
)  # fmt: skip
def test_tls_is_decided_as_pyspark_decides_it(url: str, tls: bool) -> None:
    from pyspark.sql.connect.client.core import DefaultChannelBuilder

    assert Remote.parse(url).tls is tls
    assert DefaultChannelBuilder(url).secure is (tls or "token" in url)


def test_spark_remote_applies_outside_spark_submit_only_and_the_token_may_come_from_the_environment() -> None:
    env = {"SPARK_REMOTE": "sc://h", "SPARK_CONNECT_AUTHENTICATE_TOKEN": "from-the-env"}
    remote = remote_of(None, env)
    assert remote is not None and remote.port == DEFAULT_PORT and remote.token == "from-the-env"
    assert remote_of(None, {**env, "PYSPARK_GATEWAY_PORT": "1", "PYSPARK_GATEWAY_SECRET": "s"}) is None
    assert remote_of(None, {}) is None


@pytest.mark.parametrize("url", ["sc://", "sc://h:99999999", "sc://h/;=v", "grpc://h:1"])
def test_malformed_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError):
        Remote.parse(url)
