"""A local S3 over real HTTP: moto's server app on 127.0.0.1, behind a middleware that counts requests.

boto3 in the process under test talks to it through its endpoint setting; nothing is patched. Used by the tests
and by the benchmark (PUT requests and bytes uploaded per run).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    bytes: int
    status_meta: str | None  # the x-amz-meta-nbrunner-status header, on PUTs


@dataclass
class S3Server:
    url: str
    requests: list[Request] = field(default_factory=list)
    _server: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def puts(self, bucket: str | None = None) -> list[Request]:
        with self._lock:
            found = [r for r in self.requests if r.method == "PUT"]
        return [r for r in found if bucket is None or r.path.startswith(f"/{bucket}/")]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def env(self) -> dict[str, str]:
        """What a process needs to reach this server with boto3's standard settings."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }

    def client(self) -> Any:
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def start() -> S3Server:
    """Start moto's S3 on a free port of 127.0.0.1 in a background thread."""
    import logging

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request on stderr
    app = DomainDispatcherApplication(create_backend_app)
    server = S3Server(url="")

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        meta = environ.get("HTTP_X_AMZ_META_NBRUNNER_STATUS")
        with server._lock:
            server.requests.append(Request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), length, meta))
        return app(environ, start_response)  # type: ignore[no-any-return]

    http = make_server("127.0.0.1", 0, counting, threaded=True)
    server.url = f"http://127.0.0.1:{http.server_port}"
    server._server = http
    threading.Thread(target=http.serve_forever, name="moto-s3", daemon=True).start()
    return server
