"""``gs://`` through google-cloud-storage: the one module that talks to the GCS client library, a
:class:`~nbrunner.storage.base.Store`.

google-cloud-storage rather than gcsfs: its calls are synchronous and each takes a timeout and a retry deadline (gcsfs
runs an asyncio loop on a thread of its own, which a deadline cannot abandon cleanly), it sets content types and
metadata directly, and it reads the standard chain (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's application default
credentials, the metadata server) and ``STORAGE_EMULATOR_HOST`` itself. Its errors are translated here, and only here,
into one-line UsageError (inputs, exit 2) or StorageError (outputs, exit 8).
"""

from __future__ import annotations

import builtins
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbrunner.config import StorageOptions
from nbrunner.core.location import Uri
from nbrunner.core.urls import without_credentials
from nbrunner.errors import StorageError, UsageError
from nbrunner.storage.base import bounded, first_line, stored
from nbrunner.storage.s3 import CONTENT_TYPES

# https://cloud.google.com/storage/docs/buckets#naming: 3-63 characters (222 with dots) of lowercase letters, digits,
# dashes, underscores and dots, starting and ending with a letter or digit
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
EXTRA = "pip install 'nbrunner[gcs]'"


def check_key(uri: Uri, what: str, *, limit: int = 1024) -> None:
    """An object name every store here takes: not empty, no empty, '.' or '..' segment, at most ``limit`` bytes."""
    text, key = str(uri), uri.key
    if not key or key.endswith("/") and what != "output":
        raise UsageError(f"{what} {text!r}: no object name after the bucket; write {uri.scheme}://{uri.bucket}/a/b")
    if key.startswith("/") or "//" in key or "/./" in f"/{key}" or "/../" in f"/{key}" or re.search(r"[\r\n]", key):
        raise UsageError(f"{what} {text!r}: the name has an empty, '.' or '..' segment or a line break; "
                         f"write {uri.scheme}://{uri.bucket}/a/b")  # fmt: skip
    if len(key.encode("utf-8")) + len(".run.json") + 14 > limit:
        raise UsageError(f"{what} {text}: the object name is longer than {limit} bytes; shorten it")


class GcsStore:
    """Every GCS call of a run, on one client: the store of ``gs://``."""

    def __init__(self, client: Any, options: StorageOptions, where: str):
        self.client = client
        self.options = options
        self.where = where

    @classmethod
    def connect(cls, options: StorageOptions, environ: Mapping[str, str]) -> GcsStore:
        """A client on the SDK's own chain; the emulator's (anonymous) when ``STORAGE_EMULATOR_HOST`` is set in the
        run's ``environ``."""
        try:
            from google.auth.exceptions import GoogleAuthError
            from google.cloud import storage  # type: ignore[import-untyped]
        except ImportError as e:
            raise UsageError(f"gs:// needs the gcs extra: {EXTRA}") from e
        emulator = environ.get("STORAGE_EMULATOR_HOST")
        where = without_credentials(emulator) if emulator else "Google Cloud Storage"
        try:
            if emulator and emulator != os.environ.get("STORAGE_EMULATOR_HOST"):  # the run's, not this process's
                from google.auth.credentials import AnonymousCredentials

                client = storage.Client(
                    project=environ.get("GOOGLE_CLOUD_PROJECT") or "<none>",
                    credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                    client_options={"api_endpoint": emulator},
                )
            else:
                client = storage.Client()
        except GoogleAuthError as e:  # DefaultCredentialsError: no credentials anywhere on the chain
            raise UsageError(
                f"gs://: no Google credentials found ({without_credentials(first_line(e))}); set "
                "GOOGLE_APPLICATION_CREDENTIALS to a key file, or run 'gcloud auth application-default login'"
            ) from e
        except Exception as e:
            raise UsageError(f"gs://: cannot make a client for {where}: {without_credentials(first_line(e))}") from e
        return cls(client, options, where)

    @property
    def timeout(self) -> float:
        return self.options.timeout

    @classmethod
    def check_uri(cls, uri: Uri, what: str, *, prefix: bool = False) -> Uri:
        """GCS's naming rules, no call to the store."""
        if not _BUCKET.match(uri.bucket) or ".." in uri.bucket or (len(uri.bucket) > 63 and "." not in uri.bucket):
            form = "gs://BUCKET/PREFIX" if prefix else "gs://BUCKET/OBJECT"
            raise UsageError(
                f"{what} {str(uri)!r}: {uri.bucket!r} is not a valid bucket name; write {form} with a bucket of "
                "3-63 lowercase letters, digits, dashes, underscores or dots"
            )
        if not prefix:
            check_key(uri, what)
        return uri

    def _retry(self, seconds: float) -> Any:
        """The library's default retry (transient errors, backoff) with a deadline: ``seconds``."""
        from google.cloud.storage.retry import DEFAULT_RETRY  # type: ignore[import-untyped]

        return DEFAULT_RETRY.with_timeout(seconds)

    def explain(self, error: BaseException, uri: Uri, action: str) -> str:
        """A one-line account of a google-cloud-storage failure, with the likely fix; never a credential."""
        from google.api_core import exceptions as api
        from google.auth.exceptions import GoogleAuthError

        what = f"cannot {action} {uri}"
        if isinstance(error, api.RetryError) and error.cause is not None:
            error = error.cause
        if isinstance(error, api.NotFound):
            if action == "store results in" or "bucket" in str(error.message).lower():
                return f"{what}: bucket {uri.bucket!r} does not exist at {self.where}; create it or fix the name"
            return f"{what}: no object {uri.key!r} in bucket {uri.bucket!r} (or no such bucket); check the name"
        if isinstance(error, api.Unauthorized | GoogleAuthError):
            return f"{what}: the credentials were refused; check GOOGLE_APPLICATION_CREDENTIALS"
        if isinstance(error, api.Forbidden):
            return f"{what}: access denied; the credentials in use need storage permissions on {uri.bucket}"
        if isinstance(error, api.GoogleAPICallError):
            message = str(error.message or "").splitlines()
            return f"{what}: {error.code} {without_credentials(message[0] if message else type(error).__name__)}"
        if isinstance(error, ConnectionError | OSError) or "connection" in type(error).__name__.lower():
            return f"{what}: {self.where} is unreachable ({type(error).__name__}); check STORAGE_EMULATOR_HOST"
        return f"{what}: {without_credentials(first_line(error))}"

    def read(self, uri: Uri) -> bytes:
        """A gs:// input within ``--store-timeout``; any failure is a UsageError naming the URI."""
        seconds = self.options.timeout
        blob = self.client.bucket(uri.bucket).blob(uri.key)
        try:
            return bytes(bounded(seconds, lambda: blob.download_as_bytes(timeout=seconds, retry=self._retry(seconds))))
        except TimeoutError as e:
            raise UsageError(f"cannot read {uri}: {self.where} gave {e}; check it or --store-timeout") from e
        except Exception as e:
            raise UsageError(self.explain(e, uri, "read")) from e

    def check_target(self, target: Uri) -> str | None:
        """Before the run: no such bucket or refused credentials is a StorageError (exit 8); silence, a 403 (a key
        that may write objects but not read the bucket) or a network error is a warning, and the run goes on."""
        from google.api_core import exceptions as api
        from google.auth.exceptions import GoogleAuthError

        seconds = self.options.check_timeout
        try:
            bounded(seconds, lambda: self.client.get_bucket(target.bucket, timeout=seconds, retry=self._retry(seconds)))
        except TimeoutError as e:
            return f"{self.where} gave {e} about bucket {target.bucket!r}; running anyway, storing will tell"
        except (api.NotFound, api.Unauthorized, GoogleAuthError) as e:
            raise StorageError(self.explain(e, target, "store results in")) from e
        except Exception as e:  # not definitive: the final store will say
            return f"could not check bucket {target.bucket!r} at {self.where} ({type(e).__name__}); running anyway"
        return None

    def put_text(self, text: str, uri: Uri, *, suffix: str) -> None:
        """A small text (an outputs file, an index page) to one object, within ``--store-timeout``."""
        data = text.encode("utf-8", errors="xmlcharrefreplace")
        content_type = CONTENT_TYPES.get(suffix, "application/octet-stream")
        self._put(uri, self.options.timeout, {}, lambda blob, seconds, retry: blob.upload_from_string(
            data, content_type=content_type, timeout=seconds, retry=retry))  # fmt: skip

    def put_file(self, path: Path, uri: Uri, metadata: dict[str, str], *, timeout: float) -> None:
        """One file to one object within ``timeout`` seconds (resumable above the library's 8 MiB threshold)."""
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        self._put(uri, timeout, metadata, lambda blob, seconds, retry: blob.upload_from_filename(
            str(path), content_type=content_type, timeout=seconds, retry=retry))  # fmt: skip

    def _put(self, uri: Uri, seconds: float, metadata: dict[str, str], upload: Any) -> None:
        blob = self.client.bucket(uri.bucket).blob(uri.key)
        blob.metadata = metadata or None
        # an upload of the same bytes to the same name is idempotent: retried as any transient error is
        stored(uri, seconds, lambda: upload(blob, seconds, self._retry(seconds)), where=self.where,
               timeout=self.options.timeout, explain=self.explain)  # fmt: skip

    def list(self, prefix: Uri, suffix: str) -> builtins.list[Uri]:
        """One listing of the prefix (all pages, within ``--store-timeout``), keeping the names ending in ``suffix``."""
        seconds = self.options.timeout

        def names() -> builtins.list[str]:
            blobs = self.client.list_blobs(
                prefix.bucket, prefix=prefix.key, timeout=seconds, retry=self._retry(seconds)
            )
            return [str(blob.name) for blob in blobs]

        try:
            listed = bounded(seconds, names)
        except Exception as e:
            raise UsageError(self.explain(e, prefix, "list")) from e
        return [Uri("gs", prefix.bucket, name) for name in listed if name.endswith(suffix)]


if TYPE_CHECKING:  # GcsStore is a Store: mypy says so here
    from nbrunner.storage.base import Store

    _STORE: type[Store] = GcsStore
