"""A real Spark Connect server from the pyspark wheel, on 127.0.0.1 with a token, for the Spark Connect tests."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.spark_support import BIN, free_port, spark_env

TOKEN = "nbr-connect-token-5f3a9c"  # the test server's own


@dataclass(frozen=True)
class Server:
    port: int
    ui_port: int
    token: str

    @property
    def url(self) -> str:
        # with a token, pyspark talks TLS to every host but the literal localhost; this server is plain gRPC
        return f"sc://localhost:{self.port}/;token={self.token}"

    def rest(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/api/v1/{path}", timeout=10) as reply:  # noqa: S310
            return json.load(reply)

    def jobs(self, status: str | None = None) -> list[dict[str, Any]]:
        (app,) = self.rest("applications")
        return list(self.rest(f"applications/{app['id']}/jobs" + (f"?status={status}" if status else "")))

    def running_jobs(self) -> list[dict[str, Any]]:
        return self.jobs("running")

    def jobs_still_running(self, wait: float = 60) -> list[dict[str, Any]]:
        """The jobs still running once they had ``wait`` seconds to end: a cancelled job reaches the UI's REST API
        through Spark's listener bus, which lags under load (an empty answer comes as soon as it is true)."""
        deadline = time.monotonic() + wait
        while (running := self.running_jobs()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return running


def connect_server(workdir: Path) -> Iterator[Server]:
    """spark-submit ... SparkConnectServer on an ephemeral port (port 0), ready when its log says so."""
    ui_port = free_port()
    log_path = workdir / "connect-server.log"
    cmd = [
        str(BIN / "spark-submit"), "--master", "local[2]",
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1", "--conf", "spark.connect.grpc.binding.port=0",
        "--conf", f"spark.connect.authenticate.token={TOKEN}", "--conf", f"spark.ui.port={ui_port}",
        "--conf", "spark.ui.showConsoleProgress=false", "--conf", "spark.driver.host=127.0.0.1",
        "--conf", "spark.driver.bindAddress=127.0.0.1",
    ]  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=spark_env(), start_new_session=True,
                                stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (found := re.search(r"Spark Connect server started at: [^:\s]+:(\d+)", log_path.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Spark Connect server did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        server = Server(int(found.group(1)), ui_port, TOKEN)
        warm_up(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def warm_up(server: Server) -> None:
    """The server's first query is slow (seconds of JIT and class loading): pay it here, not in a test's cell."""
    code = (
        "import sys\nfrom pyspark.sql import SparkSession\n"
        "spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()\n"
        "assert spark.range(100).selectExpr('sum(id) s').collect()[0].s == 4950\nspark.stop()\n"
    )
    subprocess.run([str(BIN / "python"), "-c", code, server.url], check=True, timeout=300, env=spark_env(),
                   capture_output=True)  # fmt: skip
