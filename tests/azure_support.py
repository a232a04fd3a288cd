"""A local Azure Blob Storage over real HTTP: Azurite (npm, installed into the repository's ``.node/`` by
``dev/setup.sh --test``) on 127.0.0.1, in memory. azure-storage-blob in the process under test reaches it through
``AZURE_STORAGE_CONNECTION_STRING``; nothing is patched."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.spark_support import free_port
from tests.store_support import kill, listening

AZURITE = Path(__file__).resolve().parent.parent / ".node" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (published in its README): a credential as far as nbrunner can tell
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    """An :class:`~tests.store_support.Emulated` Azure Blob Storage."""

    port: int
    proc: subprocess.Popen[bytes]
    scheme = "abfs"
    extra = "azure"
    blocked = "azure.storage.blob"
    secret = KEY  # in the connection string: never printed nor stored

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                f"BlobEndpoint={self.url};")  # fmt: skip

    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string()}

    def client(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string())

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client().get_blob_client(bucket, key).upload_blob(data, overwrite=True)

    def get(self, bucket: str, key: str) -> bytes:
        return bytes(self.client().get_blob_client(bucket, key).download_blob().readall())

    def head(self, bucket: str, key: str) -> tuple[str, dict[str, str]]:
        """Metadata names as nbrunner gives them (Azure's are identifiers: ``nbrunner_run_id``)."""
        props = self.client().get_blob_client(bucket, key).get_blob_properties()
        names = {name.replace("_", "-"): value for name, value in (props.metadata or {}).items()}
        return str(props.content_settings.content_type), names

    def kill(self) -> None:
        kill(self.proc)


def start(workspace: Path) -> Azurite:
    """Azurite's blob service on a free port of 127.0.0.1, accepting connections before this returns; skipped with
    the reason when node or Azurite is missing."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: Azurite (the Azure Storage emulator) needs it; run dev/setup.sh --test")
    if not AZURITE.exists():
        pytest.skip(f"Azurite is not installed at {AZURITE}; run dev/setup.sh --test (npm install azurite)")
    port = free_port()
    proc = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(workspace),
         "--skipApiVersionCheck", "--loose", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    listening(proc, port, "Azurite")
    return Azurite(port, proc)
