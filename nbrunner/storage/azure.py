"""``abfs://``, ``abfss://`` and ``az://`` through azure-storage-blob: the one module that talks to the Azure SDK, a
:class:`~nbrunner.storage.base.Store`.

``abfs://container/path`` and ``az://container/path`` name a blob in a container, as adlfs reads them; the account is
in the URL as adlfs and Hadoop write it (``abfs://container@account.dfs.core.windows.net/path``), else the connection
string's or ``AZURE_STORAGE_ACCOUNT_NAME``. ADLS Gen2 accounts answer the Blob API, so one client serves all three
schemes. azure-storage-blob rather than adlfs: synchronous calls with timeouts, content types and metadata set
directly, and no asyncio loop to abandon at a deadline. Credentials, in this order: ``AZURE_STORAGE_CONNECTION_STRING``
(Azurite's too), ``AZURE_STORAGE_ACCOUNT_KEY`` with the account's name, else azure-identity's DefaultAzureCredential.
None is ever printed: messages show the account's endpoint only. Errors are translated here, and only here.
"""

from __future__ import annotations

import builtins
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbrunner.config import StorageOptions
from nbrunner.core.location import Uri
from nbrunner.core.urls import without_credentials
from nbrunner.errors import StorageError, UsageError
from nbrunner.storage.base import bounded, first_line, stored
from nbrunner.storage.gcs import check_key
from nbrunner.storage.s3 import CONTENT_TYPES

EXTRA = "pip install 'nbrunner[azure]'"
# https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata
_CONTAINER = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$|^\$(root|web|logs)$")
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
# container@account.dfs.core.windows.net (or .blob., or a sovereign cloud's suffix)
_AT = re.compile(r"^([^@]+)@([a-z0-9]{3,24})\.(?:dfs|blob)\.([a-z0-9.-]+)$")
# what may stand in an SDK's message and is a credential: a connection string's key, a SAS signature
_SECRET = re.compile(r"(AccountKey=|SharedAccessSignature=|sig=)[^;&\s]*", re.IGNORECASE)


def scrubbed(text: str) -> str:
    return _SECRET.sub(r"\1***", without_credentials(text))


def parts(uri: Uri) -> tuple[str, str | None, str]:
    """(container, account or None, endpoint suffix) of ``scheme://container[@account.dfs.SUFFIX]/path``."""
    found = _AT.match(uri.bucket)
    if found:
        return found.group(1), found.group(2), found.group(3)
    return uri.bucket, None, "core.windows.net"


def metadata_names(metadata: dict[str, str]) -> dict[str, str]:
    """Azure's metadata names are C# identifiers: ``nbrunner-run-id`` is stored as ``nbrunner_run_id``."""
    return {name.replace("-", "_"): value for name, value in metadata.items()}


class AzureStore:
    """Every Azure Blob call of a run: the store of ``abfs://``, ``abfss://`` and ``az://``, a client per account."""

    def __init__(self, options: StorageOptions, environ: Mapping[str, str]):
        self.options = options
        self.environ = environ
        self._clients: dict[tuple[str | None, str], Any] = {}
        self._lock = threading.Lock()
        connection = self.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        self.where = "Azure Blob Storage"
        if connection:
            self.where = self._client(None, "core.windows.net").url.rstrip("/")

    @classmethod
    def connect(cls, options: StorageOptions, environ: Mapping[str, str]) -> AzureStore:
        try:
            import azure.storage.blob  # noqa: F401 - the extra is there
        except ImportError as e:
            raise UsageError(f"abfs://, abfss:// and az:// need the azure extra: {EXTRA}") from e
        return cls(options, environ)

    @property
    def timeout(self) -> float:
        return self.options.timeout

    @classmethod
    def check_uri(cls, uri: Uri, what: str, *, prefix: bool = False) -> Uri:
        """Azure's naming rules, no call to the store."""
        container, account, _ = parts(uri)
        if "@" in uri.bucket and account is None or not _CONTAINER.match(container):
            form = f"{uri.scheme}://CONTAINER[@ACCOUNT.dfs.core.windows.net]/{'PREFIX' if prefix else 'PATH'}"
            raise UsageError(
                f"{what} {str(uri)!r}: {uri.bucket!r} is not a container (3-63 lowercase letters, digits or single "
                f"hyphens) with an optional account (3-24 lowercase letters or digits); write {form}"
            )
        if not prefix:
            check_key(uri, what)
        return uri

    def _client(self, account: str | None, suffix: str) -> Any:
        """The account's BlobServiceClient, built once; UsageError (exit 2) when no credentials can be chosen."""
        with self._lock:
            client = self._clients.get((account, suffix))
            if client is None:
                client = self._clients[(account, suffix)] = self._make(account, suffix)
            return client

    def _make(self, account: str | None, suffix: str) -> Any:
        from azure.storage.blob import BlobServiceClient

        settings: dict[str, Any] = {"connection_timeout": 10, "read_timeout": 60}
        connection = self.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        if connection:
            try:
                client = BlobServiceClient.from_connection_string(connection, **settings)
            except Exception as e:  # its text may quote the string: never shown
                raise UsageError(
                    f"AZURE_STORAGE_CONNECTION_STRING cannot be read ({type(e).__name__}); check its form"
                ) from None
            if account is None or account == client.account_name:
                return client
        name = account or self.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
        if not name or not _ACCOUNT.match(name):
            raise UsageError(
                "Azure: no storage account named; write abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH, or set "
                "AZURE_STORAGE_ACCOUNT_NAME or AZURE_STORAGE_CONNECTION_STRING"
            )
        url = f"https://{name}.blob.{suffix}"
        key = self.environ.get("AZURE_STORAGE_ACCOUNT_KEY")
        if key:
            return BlobServiceClient(url, credential={"account_name": name, "account_key": key}, **settings)
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as e:
            raise UsageError(f"Azure without a connection string or account key needs azure-identity: {EXTRA}") from e
        return BlobServiceClient(url, credential=DefaultAzureCredential(), **settings)

    def _blob(self, uri: Uri) -> Any:
        container, account, suffix = parts(uri)
        return self._client(account, suffix).get_blob_client(container, uri.key)

    def _container(self, uri: Uri) -> Any:
        container, account, suffix = parts(uri)
        return self._client(account, suffix).get_container_client(container)

    def _at(self, uri: Uri) -> str:
        _, account, suffix = parts(uri)
        return str(self._client(account, suffix).url).rstrip("/")

    def explain(self, error: BaseException, uri: Uri, action: str) -> str:
        """A one-line account of an Azure SDK failure, with the likely fix; never a credential."""
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
        )

        what = f"cannot {action} {uri}"
        container, _, _ = parts(uri)
        code = str(getattr(error, "error_code", "") or "")
        if isinstance(error, ResourceNotFoundError) or code == "ContainerNotFound":
            if code == "ContainerNotFound" or action == "store results in":
                return f"{what}: container {container!r} does not exist at {self._at(uri)}; create it or fix the name"
            return f"{what}: no blob {uri.key!r} in container {container!r}; check the path"
        if isinstance(error, ClientAuthenticationError) or code in (
            "AuthenticationFailed",
            "InvalidAuthenticationInfo",
        ):
            return (f"{what}: the credentials were refused; check AZURE_STORAGE_CONNECTION_STRING, "
                    "AZURE_STORAGE_ACCOUNT_KEY or the identity in use")  # fmt: skip
        if isinstance(error, HttpResponseError) and error.status_code == 403:
            return f"{what}: access denied ({code or 403}); the identity in use needs a Storage Blob Data role"
        if isinstance(error, HttpResponseError):
            return f"{what}: {error.status_code} {code or scrubbed(first_line(error))}"
        if isinstance(error, ServiceRequestError | ConnectionError):
            return f"{what}: {self._at(uri)} is unreachable ({type(error).__name__})"
        return f"{what}: {scrubbed(first_line(error))}"

    def read(self, uri: Uri) -> bytes:
        """An abfs:// / az:// input within ``--store-timeout``; any failure is a UsageError naming the URI."""
        seconds = self.options.timeout
        try:
            blob = self._blob(uri)
            return bytes(bounded(seconds, lambda: blob.download_blob(timeout=int(seconds) + 1).readall()))
        except UsageError:
            raise
        except TimeoutError as e:
            raise UsageError(f"cannot read {uri}: {self._at(uri)} gave {e}; check it or --store-timeout") from e
        except Exception as e:
            raise UsageError(self.explain(e, uri, "read")) from e

    def check_target(self, target: Uri) -> str | None:
        """Before the run: no such container or refused credentials is a StorageError (exit 8); silence, a 403 (an
        identity that may write blobs but not read the container) or a network error is a warning."""
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

        seconds = self.options.check_timeout
        container = self._container(target)
        try:
            bounded(seconds, lambda: container.get_container_properties(timeout=int(seconds) + 1))
        except TimeoutError as e:
            return (
                f"{self._at(target)} gave {e} about container {parts(target)[0]!r}; running anyway, storing will tell"
            )
        except (ResourceNotFoundError, ClientAuthenticationError) as e:
            raise StorageError(self.explain(e, target, "store results in")) from e
        except HttpResponseError as e:
            if getattr(e, "error_code", None) in (
                "ContainerNotFound",
                "AuthenticationFailed",
                "InvalidAuthenticationInfo",
            ):
                raise StorageError(self.explain(e, target, "store results in")) from e
            return f"could not check container {parts(target)[0]!r} at {self._at(target)} ({e.status_code}); go on"
        except Exception as e:  # not definitive: the final store will say
            return f"could not check container {parts(target)[0]!r} at {self._at(target)} ({type(e).__name__}); go on"
        return None

    def put_text(self, text: str, uri: Uri, *, suffix: str) -> None:
        """A small text (an outputs file, an index page) to one blob, within ``--store-timeout``."""
        data = text.encode("utf-8", errors="xmlcharrefreplace")
        self._put(uri, self.options.timeout, {}, CONTENT_TYPES.get(suffix, "application/octet-stream"), lambda: data)

    def put_file(self, path: Path, uri: Uri, metadata: dict[str, str], *, timeout: float) -> None:
        """One file to one blob within ``timeout`` seconds (in blocks above the SDK's single-put size)."""
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        self._put(uri, timeout, metadata, content_type, lambda: path.open("rb"))

    def _put(self, uri: Uri, seconds: float, metadata: dict[str, str], content_type: str, body: Any) -> None:
        from azure.storage.blob import ContentSettings

        def upload() -> None:
            data = body()
            try:
                self._blob(uri).upload_blob(
                    data, overwrite=True, metadata=metadata_names(metadata) or None, max_concurrency=1,
                    content_settings=ContentSettings(content_type=content_type), timeout=int(seconds) + 1,
                )  # fmt: skip
            finally:
                if hasattr(data, "close"):
                    data.close()

        stored(uri, seconds, upload, where=self._at(uri), timeout=self.options.timeout, explain=self.explain)

    def list(self, prefix: Uri, suffix: str) -> builtins.list[Uri]:
        """One listing of the prefix (all pages, within ``--store-timeout``), keeping the names ending in ``suffix``."""
        seconds = self.options.timeout
        try:
            container = self._container(prefix)
            listed = bounded(seconds, lambda: [str(b.name) for b in container.list_blobs(name_starts_with=prefix.key)])
        except UsageError:
            raise
        except Exception as e:
            raise UsageError(self.explain(e, prefix, "list")) from e
        return [Uri(prefix.scheme, prefix.bucket, name) for name in listed if name.endswith(suffix)]


if TYPE_CHECKING:  # AzureStore is a Store: mypy says so here
    from nbrunner.storage.base import Store

    _STORE: type[Store] = AzureStore
