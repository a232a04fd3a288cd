"""A Spark Connect server as an engine (``--remote sc://...``, else ``SPARK_REMOTE`` outside spark-submit): one
session for a run, or for every notebook of a chain (temp views carry over), its URL and token handed to the kernel as
a secret, never in its environment. Its run is :class:`~nbrunner.engines.connect.hooks.ConnectRun`."""

from __future__ import annotations

from collections.abc import Mapping

from nbrunner.config import RunConfig
from nbrunner.core.kernels import KernelChoice
from nbrunner.core.node import Notebook
from nbrunner.engines.base import EngineRun
from nbrunner.engines.connect.hooks import ConnectRun
from nbrunner.engines.connect.session import URL_NAME, WITHHELD, Session, remote_of
from nbrunner.errors import UsageError


class ConnectEngine:
    kind = "spark-connect"
    concurrent = True

    def __init__(self, session: Session):
        self.session = session

    @classmethod
    def detect(cls, config: RunConfig, kernel: KernelChoice, environ: Mapping[str, str]) -> ConnectEngine | None:
        """The server a run uses, if any. A malformed URL, ``--remote`` under spark-submit and a kernel that is not
        Python's are refused here (exit 2), before anything runs."""
        from nbrunner.core.py4j_client import under_spark_submit

        if config.spark.remote and under_spark_submit(environ):
            raise UsageError("--remote runs against a Spark Connect server: start nbrunner without spark-submit")
        remote = remote_of(config.spark.remote, environ)
        if remote is None:
            return None
        if not kernel.is_python:
            raise UsageError(f"Spark Connect (--remote) needs a Python kernel; this notebook runs in {kernel.language}")
        return cls(Session(remote, timeout=config.spark.connect_timeout))

    @property
    def key(self) -> object:
        """Runs on the same server share one engine (a chain's notebooks: one session)."""
        return (self.kind, self.session.remote)

    def check(self) -> None:
        """The server answers, on this session, before any kernel starts (else GatewayError, exit 7)."""
        self.session.check()

    def kernel_env(self) -> dict[str, str]:
        return {}

    def kernel_secrets(self) -> dict[str, str]:
        return {URL_NAME: self.session.url}  # the URL with its token: a secret, never in the environment

    def withheld(self) -> frozenset[str]:
        return frozenset(WITHHELD)

    def hidden(self) -> list[str]:
        token = self.session.remote.token
        return [token] if token else []

    def prepare(self, app_name: str, config: RunConfig) -> None:
        """Nothing to overlap with the kernel's start: the session exists on the server already."""

    def start_run(self, *, run_id: str, notebook: str, app_name: str, nb: Notebook, config: RunConfig) -> EngineRun:
        return ConnectRun(self.session, run_id=run_id, nb=nb)

    def end_run(self, *, in_chain: bool) -> None:
        if not in_chain:
            self.end_chain()
        elif self.session.stopped:  # the notebook stopped it: the next notebook gets a new one
            self.session.renew()

    def end_chain(self) -> None:
        self.session.release()
        self.session.close()
