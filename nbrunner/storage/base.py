"""The store seam: what a store of ``scheme://bucket/key`` objects does (:class:`Store`), which class keeps which
scheme (:data:`STORES`), a location from text (:func:`locate`), and a run's stores built on first use (:class:`Stores`).

Every module outside ``storage/`` goes through these: a local :class:`~pathlib.Path` is handled by the caller, anything
else by the store its scheme names. A store translates its library's failures, and only it: reading and listing fail
with a UsageError (exit 2), storing with a StorageError (exit 8).
"""

from __future__ import annotations

import builtins
import importlib
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from nbrunner.config import StorageOptions
from nbrunner.core.location import Location, Uri
from nbrunner.errors import NbrunnerError, StorageError, UsageError

#: URI scheme -> the class of its store, as ``"module:Class"``, imported on first use (a run without the scheme never
#: imports its library). Registering a store is one line here.
STORES: dict[str, str] = {
    "s3": "nbrunner.storage.s3:S3Store",
    "s3a": "nbrunner.storage.s3:S3Store",
    "gs": "nbrunner.storage.gcs:GcsStore",
    "abfs": "nbrunner.storage.azure:AzureStore",
    "abfss": "nbrunner.storage.azure:AzureStore",
    "az": "nbrunner.storage.azure:AzureStore",
    "hdfs": "nbrunner.storage.hdfs:HadoopStore",
    "viewfs": "nbrunner.storage.hdfs:HadoopStore",
}

_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
T = TypeVar("T")


class Store(Protocol):
    """A store of objects named ``scheme://bucket/key``, one per run's options (built by :meth:`connect`)."""

    @property
    def where(self) -> str:
        """The endpoint shown in messages and the record (never a credential)."""
        ...

    @property
    def timeout(self) -> float:
        """Seconds for reading an input, and for storing all of a run's results (``--store-timeout``)."""
        ...

    @classmethod
    def connect(cls, options: StorageOptions, environ: Mapping[str, str]) -> Store:
        """The store for these options (a client on the library's own credential chain); the variables it reads
        itself (an endpoint, a connection string) from ``environ``, the run's environment; UsageError (exit 2)."""
        ...

    @classmethod
    def check_uri(cls, uri: Uri, what: str, *, prefix: bool = False) -> Uri:
        """The scheme's naming rules, with no call to the store: UsageError (exit 2) naming ``what``. Returns the URI
        as the store names it (``s3a://`` is ``s3://``). ``prefix``: a folder to list (the key may be empty)."""
        ...

    def read(self, uri: Uri) -> bytes:
        """An object's bytes within :attr:`timeout`; any failure is a UsageError (exit 2)."""
        ...

    def check_target(self, uri: Uri) -> str | None:
        """Before the run: StorageError (exit 8) when the output surely cannot be stored there (no such bucket,
        refused credentials); a warning's text when the store could not say; None when it is fine."""
        ...

    def put_file(self, path: Path, uri: Uri, metadata: dict[str, str], *, timeout: float) -> None:
        """One finished file to one object, with its metadata, within ``timeout``: StorageError (exit 8)."""
        ...

    def put_text(self, text: str, uri: Uri, *, suffix: str) -> None:
        """A small text (an outputs file, a page) to one object, its type from ``suffix``: StorageError (exit 8)."""
        ...

    def list(self, prefix: Uri, suffix: str) -> builtins.list[Uri]:
        """The objects under ``prefix`` whose names end in ``suffix``, in one listing; UsageError (exit 2)."""
        ...


def schemes() -> list[str]:
    return sorted(STORES)


def store_class(scheme: str, *, what: str = "location") -> type[Store]:
    """The class of ``scheme``'s store, imported now; UsageError naming the supported schemes."""
    target = STORES.get(scheme)
    if target is None:
        supported = ", ".join(f"{name}://" for name in schemes())
        raise UsageError(f"{what}: {scheme}:// is not supported; use a local path or one of {supported}")
    module, _, name = target.partition(":")
    return cast("type[Store]", getattr(importlib.import_module(module), name))


def scheme_of(text: str) -> str | None:
    """The URL scheme ``text`` starts with (``scheme://``), or None (a local path)."""
    found = _URL.match(text)
    return found.group(1) if found else None


def locate(text: str, *, what: str, prefix: bool = False) -> Location:
    """A local path, or a registered scheme's URI checked by its store's :meth:`Store.check_uri`; any other
    ``scheme://`` is a UsageError (exit 2) naming the supported schemes."""
    scheme = scheme_of(text)
    if scheme is None:
        return Path(text)
    if scheme not in STORES:
        supported = ", ".join(f"{name}://" for name in schemes())
        raise UsageError(f"{what} {text!r}: {scheme}:// is not supported; use a local path or one of {supported}")
    bucket, _, key = text[len(scheme) + 3 :].partition("/")
    return store_class(scheme).check_uri(Uri(scheme, bucket, key), what, prefix=prefix)


class Stores:
    """A run's (or a process's) stores: one per store class, built on first use (thread-safe), on one set of options."""

    def __init__(self, options: StorageOptions, environ: Mapping[str, str] | None = None):
        self.options = options
        self.environ: Mapping[str, str] = environ if environ is not None else os.environ  # the run's, or ours
        self._built: dict[str, Store] = {}
        self._lock = threading.Lock()

    def of(self, uri: Uri) -> Store:
        """The store that keeps ``uri`` (``s3://`` and ``s3a://`` share one)."""
        cls = store_class(uri.scheme, what=str(uri))
        key = STORES[uri.scheme]
        with self._lock:
            store = self._built.get(key)
            if store is None:
                store = self._built[key] = cls.connect(self.options, self.environ)
            return store


def bounded(seconds: float, call: Callable[[], T]) -> T:
    """``call()`` on a worker thread, given at most ``seconds``: TimeoutError past that (the thread is abandoned; the
    library's own timeouts end it). The caller's thread stays interruptible: a signal's stop wins."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    worker = threading.Thread(target=target, name="nbrunner-store", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {seconds:g}s")
    if "error" in outcome:
        raise outcome["error"]
    return cast(T, outcome["value"])


def stored(
    uri: Uri,
    seconds: float,
    call: Callable[[], object],
    *,
    where: str,
    timeout: float,
    explain: Callable[[BaseException, Uri, str], str],
) -> None:
    """``call()`` (an upload to ``uri``) within ``seconds``: every store's one translation of a failure into exit 8,
    a StorageError naming ``--store-timeout`` when ``where`` gave no answer, else the store's ``explain``-ed error.
    nbrunner's own errors pass as they are."""
    try:
        bounded(seconds, call)
    except NbrunnerError:
        raise
    except TimeoutError as e:
        raise StorageError(f"cannot store {uri}: no answer from {where} within --store-timeout {timeout:g}s") from e
    except Exception as e:
        raise StorageError(explain(e, uri, "store")) from e


def first_line(error: BaseException) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__
