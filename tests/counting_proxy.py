"""A counting HTTP proxy on 127.0.0.1 in front of a store's emulator (fake-gcs-server, Azurite): every request is
passed on as it came and noted (method, path, body size, and which object it uploads, if any). The benchmark counts
a store's uploads with it, as tests/s3_server.py counts moto's in process; nothing in the client is patched, its
endpoint is the proxy's."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str  # with the query
    bytes: int  # the body's size
    uploads: str | None  # "/bucket/key" of the object this request writes whole, else None
    object_bytes: int  # the object's own bytes in the body (a GCS multipart upload's body also holds its metadata)


#: what a request uploads: (method, path with the query, headers, body) -> ("/bucket/key", object bytes) or None
Upload = Callable[[str, str, Any, bytes], "tuple[str, int] | None"]


@dataclass
class Proxy:
    url: str
    upstream: str  # host:port
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def uploads(self, bucket: str | None = None) -> list[Request]:
        """The requests that wrote an object whole (of ``bucket``), in order."""
        with self._lock:
            found = [r for r in self.requests if r.uploads is not None]
        return [r for r in found if bucket is None or (r.uploads or "").startswith(f"/{bucket}/")]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def gcs_upload(method: str, path: str, headers: Any, body: bytes) -> tuple[str, int] | None:
    """A one-request upload of the JSON API (``uploadType=multipart``: the object's metadata, then its bytes)."""
    parts = urlsplit(path)
    if method != "POST" or not parts.path.startswith("/upload/storage/v1/b/"):
        return None
    if parse_qs(parts.query).get("uploadType") != ["multipart"]:
        return None  # a resumable upload's start: its bytes come in later requests (not above 8 MiB here)
    bucket = parts.path.split("/")[5]
    boundary = headers.get_param("boundary").encode()
    _, meta, media, *_ = body.split(b"--" + boundary)
    name = json.loads(meta.split(b"\r\n\r\n", 1)[1])["name"]
    content = media.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
    return f"/{bucket}/{name}", len(content)


def azure_upload(method: str, path: str, headers: Any, body: bytes) -> tuple[str, int] | None:
    """A Put Blob (one request, below the SDK's single-put size): ``PUT /ACCOUNT/CONTAINER/BLOB`` with no ``comp``."""
    parts = urlsplit(path)
    if method != "PUT" or "comp" in parse_qs(parts.query) or headers.get("x-ms-blob-type") is None:
        return None
    _, _account, blob = parts.path.split("/", 2)
    return f"/{blob}", len(body)


def start(upstream: str, upload: Upload) -> Proxy:
    """A proxy on a free port of 127.0.0.1 to ``upstream`` (``http://host:port``), in background threads."""
    target = urlsplit(upstream).netloc
    proxy = Proxy(url="", upstream=target)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' sessions expect

        def log_message(self, format: str, *args: Any) -> None:  # no line per request on stderr
            pass

        def body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)

        def relay(self) -> None:
            body = self.body()
            found = upload(self.command, self.path, self.headers, body)
            with proxy._lock:
                proxy.requests.append(Request(self.command, self.path, len(body), *(found or (None, 0))))
            connection = http.client.HTTPConnection(target, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "transfer-encoding")}
                connection.request(self.command, self.path, body=body or None, headers={**headers, "Host": target})
                reply = connection.getresponse()
                data = reply.read()
            finally:
                connection.close()
            self.send_response_only(reply.status, reply.reason)
            head = self.command == "HEAD"  # no body, and the object's own Content-Length
            dropped = {"transfer-encoding", "connection"} | (set() if head else {"content-length"})
            for name, value in reply.getheaders():
                if name.lower() not in dropped:
                    self.send_header(name, value.replace(target, proxy.url.split("//", 1)[1]))
            if not head:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = relay

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_port}"
    proxy._server = server
    threading.Thread(target=server.serve_forever, name="counting-proxy", daemon=True).start()
    return proxy
