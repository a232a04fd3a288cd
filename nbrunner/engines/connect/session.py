"""Spark Connect (``--remote sc://host:port``, or ``SPARK_REMOTE`` outside spark-submit), from nbrunner's side.

There is no driver JVM beside the notebook, only a server. nbrunner checks it (a bounded call, before any kernel
starts: unreachable, TLS mismatch or token refused is a GatewayError, exit 7), chooses the session id and user id the
kernel's ``spark`` uses, and speaks the Connect protocol itself on that same session to read the server's facts,
interrupt a cell's operations when the run stops, and release the session at the end.

The URL with its token reaches the kernel as a secret (:mod:`nbrunner.inside`'s descriptor), never on a command line
or in an environment; ``SPARK_REMOTE`` and ``SPARK_CONNECT_AUTHENTICATE_TOKEN`` are withheld from the kernel.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlparse

from nbrunner.errors import GatewayError, UsageError, error_line

DEFAULT_PORT = 15002
#: the name the kernel's secrets hold the full URL under (not an identifier, so no parameter can take it)
URL_NAME = "nbrunner:spark_remote"
#: variables that may hold the URL or its token: the kernel (and its children) never inherit them
WITHHELD = ("SPARK_REMOTE", "SPARK_CONNECT_AUTHENTICATE_TOKEN")
#: parameters nbrunner sets itself on the URL it hands the kernel
OWN_PARAMS = ("session_id", "user_id")
USER_ID = "nbrunner"


@dataclass(frozen=True)
class Remote:
    """A Spark Connect address as pyspark reads it (``sc://host:port/;key=value;...``), with the token kept apart."""

    host: str
    port: int
    params: tuple[tuple[str, str], ...] = ()
    token: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> Remote:
        """UsageError (exit 2) for what pyspark would refuse; never shows the token: every message shows the URL
        masked (:func:`~nbrunner.core.urls.masked`), and no piece of it otherwise."""
        from nbrunner.core.urls import masked

        def refused(problem: str, fix: str = "write sc://HOST:PORT/;key=value;...") -> UsageError:
            return UsageError(f"--remote {masked(url, path=False)!r}: {problem}; {fix}")

        if not url.startswith("sc://"):
            raise UsageError(
                "--remote: give a Spark Connect URL, sc://HOST:PORT (for example sc://spark-connect:15002)"
            )
        try:
            parsed = urlparse("http" + url[2:])
        except ValueError:  # an unbalanced '[' (an IPv6 address)
            raise refused("the host is not a name or an address ([IPv6] in brackets)") from None
        if parsed.path not in ("", "/"):
            raise refused("a Spark Connect URL has no path (its parameters follow '/;')")
        params: list[tuple[str, str]] = []
        token = None
        for part in filter(None, parsed.params.split(";")):
            key, sep, value = part.partition("=")
            if not sep or not key or "=" in value:
                raise refused("each parameter must be key=value")
            value = unquote(value)
            if key == "token":
                token = value
            elif key not in OWN_PARAMS:  # nbrunner chooses the session and the user
                params.append((key, value))
        try:
            host, port = parsed.hostname, parsed.port
        except ValueError:
            raise refused("the port is not a number from 0 to 65535") from None
        if not host:
            raise refused("the URL names no host")
        if token is None and environ is not None:
            token = environ.get("SPARK_CONNECT_AUTHENTICATE_TOKEN") or None
        return cls(host, port or DEFAULT_PORT, tuple(params), token)

    @property
    def shown(self) -> str:
        """The address for messages and the record: no token, no parameters."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"sc://{host}:{self.port}"

    @property
    def use_ssl(self) -> bool:
        return dict(self.params).get("use_ssl", "").lower() == "true"

    @property
    def tls(self) -> bool:
        """Whether pyspark talks TLS to it: with use_ssl, or with a token to any host but the literal localhost."""
        return self.use_ssl or (self.token is not None and self.host != "localhost")

    def url(self, session_id: str, user_id: str) -> str:
        """The URL the kernel's pyspark connects with (a secret: it holds the token)."""
        params = [*self.params, ("session_id", session_id), ("user_id", user_id)]
        if self.token is not None:
            params.append(("token", self.token))
        return self.shown + "/;" + ";".join(f"{k}={quote(v, safe='')}" for k, v in params)


def remote_of(given: str | None, environ: Mapping[str, str]) -> Remote | None:
    """``--remote``, else ``SPARK_REMOTE`` when nbrunner does not run under spark-submit (there the driver's own
    pyspark decides)."""
    from nbrunner.core.py4j_client import under_spark_submit

    if given:
        return Remote.parse(given, environ)
    if environ.get("SPARK_REMOTE") and not under_spark_submit(environ):
        return Remote.parse(environ["SPARK_REMOTE"], environ)
    return None


class Session:
    """One Connect session of a run or a chain: its ids, and nbrunner's own protocol client on it."""

    def __init__(self, remote: Remote, *, timeout: float = 10.0):
        self.remote = remote
        self.timeout = timeout
        self.user_id = USER_ID
        self.session_id = str(uuid.uuid4())
        self.released = False
        self.stopped = False  # the notebook called spark.stop(): this id is closed for good
        self._no_status = False
        self._channel: Any = None
        self._stub: Any = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.remote.url(self.session_id, self.user_id)

    def renew(self) -> None:
        """A new session id (the notebook stopped the last one: a closed id never opens again)."""
        self.session_id = str(uuid.uuid4())
        self.released = self.stopped = False
        self.close()  # the channel's metadata named the old session

    def _connect(self) -> Any:
        if self._stub is None:
            # gRPC's C core logs TLS handshake failures at INFO to stderr: the GatewayError says it in one line
            os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
            from pyspark.sql.connect.client.core import DefaultChannelBuilder
            from pyspark.sql.connect.proto import SparkConnectServiceStub

            builder = DefaultChannelBuilder(self.url)
            self._metadata = list(builder.metadata())
            self._channel = builder.toChannel()
            self._stub = SparkConnectServiceStub(self._channel)
        return self._stub

    def _call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        stub = self._connect()
        return getattr(stub, method)(request, metadata=self._metadata, timeout=timeout or self.timeout)

    def _context(self) -> dict[str, Any]:
        from pyspark.sql.connect import proto

        return {"session_id": self.session_id, "user_context": proto.UserContext(user_id=self.user_id)}

    def check(self) -> dict[str, Any]:
        """The server answers on this session: its facts. GatewayError (exit 7) naming what failed."""
        try:
            return self.facts(strict=True)
        except Exception as e:
            raise GatewayError(self.explain(e)) from None

    def explain(self, error: BaseException) -> str:
        import grpc

        where = self.remote.shown
        if not isinstance(error, grpc.RpcError):
            return f"the Spark Connect server at {where} failed: {type(error).__name__}: {error_line(str(error))}"
        code, details = error.code(), str(error.details() or "")
        lowered = details.lower()
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            given = "the token was refused" if self.remote.token else "it needs a token"
            return f"the Spark Connect server at {where} refused the connection: {given} (give token=... in the URL)"
        if any(word in lowered for word in ("ssl", "tls", "handshake", "wrong_version", "certificate")) or (
            code == grpc.StatusCode.DEADLINE_EXCEEDED and self.remote.tls
        ):
            why = "use_ssl=true" if self.remote.use_ssl else "a token turns TLS on for every host but localhost"
            return (
                f"TLS mismatch with the Spark Connect server at {where} ({why}): if the server talks plain gRPC, "
                "connect as sc://localhost:PORT or drop use_ssl; else check its certificate"
            )
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return (
                f"cannot reach the Spark Connect server at {where} within {self.timeout:g} s "
                f"({code.name.lower()}); check the host, the port and that the server runs"
            )
        return f"the Spark Connect server at {where} failed: {code.name}: {error_line(self._clean(details))}"

    def _clean(self, text: str) -> str:
        token = self.remote.token
        from nbrunner.core.secret_values import SHOWN

        return text.replace(token, SHOWN) if token else text

    def facts(self, *, strict: bool = False) -> dict[str, Any]:
        """Spark version, application id, master, server address (no credentials), session and user ids."""
        from pyspark.sql.connect import proto

        found: dict[str, Any] = {"mode": "connect", "server": self.remote.shown, "session_id": self.session_id,
                                 "user_id": self.user_id}  # fmt: skip
        try:
            request = proto.AnalyzePlanRequest(spark_version=proto.AnalyzePlanRequest.SparkVersion(), **self._context())
            found["spark_version"] = self._call("AnalyzePlan", request).spark_version.version
            keys = ["spark.app.id", "spark.app.name", "spark.master"]
            get = proto.ConfigRequest.Operation(get_option=proto.ConfigRequest.GetOption(keys=keys))
            reply = self._call("Config", proto.ConfigRequest(operation=get, **self._context()))
            values = {pair.key: (pair.value if pair.HasField("value") else None) for pair in reply.pairs}
            found.update(application_id=values.get("spark.app.id"), application_name=values.get("spark.app.name"),
                         master=values.get("spark.master"))  # fmt: skip
        except Exception as e:
            if strict:
                raise
            self.stopped = "SESSION_CLOSED" in str(e)  # the notebook called spark.stop(): the id is closed for good
            found["error"] = self._clean(error_line(f"{type(e).__name__}: {e}"))
        return found

    def operations(self) -> dict[str, str] | None:
        """Every operation the server knows of this session, id -> state (``succeeded``, ``running``, ...); None
        when the server cannot say (before Spark 4.1 there is no GetStatus, or the session is gone)."""
        from pyspark.sql.connect import proto

        if self._no_status:
            return None
        ask = proto.GetStatusRequest.OperationStatusRequest()
        try:
            reply = self._call("GetStatus", proto.GetStatusRequest(operation_status=ask, **self._context()))
        except Exception as e:
            import grpc

            self._no_status = isinstance(e, grpc.RpcError) and e.code() == grpc.StatusCode.UNIMPLEMENTED
            return None
        states = proto.GetStatusResponse.OperationStatus.OperationState
        return {op.operation_id: states.Name(op.state).removeprefix("OPERATION_STATE_").lower()
                for op in reply.operation_statuses}  # fmt: skip

    def interrupt(self, tag: str | None) -> list[str]:
        """Interrupt the operations tagged ``tag``, then every operation of the session: the ids interrupted."""
        from pyspark.sql.connect import proto

        kinds = proto.InterruptRequest.InterruptType
        found: list[str] = []
        with self._lock:
            requests = []
            if tag is not None:
                requests.append(proto.InterruptRequest(interrupt_type=kinds.INTERRUPT_TYPE_TAG, operation_tag=tag,
                                                       **self._context()))  # fmt: skip
            requests.append(proto.InterruptRequest(interrupt_type=kinds.INTERRUPT_TYPE_ALL, **self._context()))
            for request in requests:
                try:
                    found += [i for i in self._call("Interrupt", request).interrupted_ids if i not in found]
                except Exception:  # noqa: S112 - the server gone or the session closed: nothing left to interrupt
                    continue
        return found

    def release(self) -> None:
        """Release the session on the server (its temp views, its cache), once; a closed one needs nothing."""
        from pyspark.sql.connect import proto

        if self.released:
            return
        self.released = True
        try:
            self._call("ReleaseSession", proto.ReleaseSessionRequest(**self._context()))
        except Exception:  # noqa: S110 - the notebook stopped it, or the server went away: nothing held
            pass

    def close(self) -> None:
        """Close nbrunner's own channel (never ``stop()``: that would close the kernel's session)."""
        channel, self._channel, self._stub = self._channel, None, None
        if channel is not None:
            channel.close()


def tag_of(run_id: str, index: int) -> str:
    """The tag of a cell's operations (Connect tags: non-empty, no comma)."""
    return f"nbrunner-{run_id}-cell-{index}".replace(",", "_")
