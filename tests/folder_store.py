"""A store for tests only: ``fake://bucket/key`` objects as files under ``$NBRUNNER_TEST_STORE`` (a bucket is a folder
that exists there). Registered by a test with one line in ``nbrunner.storage.STORES``: a store is new files plus
that line."""

from __future__ import annotations

import builtins
import shutil
from collections.abc import Mapping
from pathlib import Path

from nbrunner.config import StorageOptions
from nbrunner.core.location import Uri
from nbrunner.errors import StorageError, UsageError

#: what the store was asked, in order: (method, uri)
CALLS: list[tuple[str, str]] = []


class FolderStore:
    def __init__(self, root: Path, options: StorageOptions):
        self.root = root
        self.timeout = options.timeout
        self.where = f"the test folder {root}"

    @classmethod
    def connect(cls, options: StorageOptions, environ: Mapping[str, str]) -> FolderStore:
        return cls(Path(environ["NBRUNNER_TEST_STORE"]), options)

    @classmethod
    def check_uri(cls, uri: Uri, what: str, *, prefix: bool = False) -> Uri:
        if not uri.bucket.isalnum() or (not prefix and not uri.key):
            raise UsageError(f"{what} {str(uri)!r}: write fake://BUCKET/KEY")
        return uri

    def _path(self, uri: Uri) -> Path:
        return self.root / uri.bucket / uri.key

    def read(self, uri: Uri) -> bytes:
        CALLS.append(("read", str(uri)))
        try:
            return self._path(uri).read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read {uri}: {e.strerror}") from e

    def check_target(self, uri: Uri) -> str | None:
        CALLS.append(("check_target", str(uri)))
        if not (self.root / uri.bucket).is_dir():
            raise StorageError(f"cannot store results in {uri}: bucket {uri.bucket!r} does not exist")
        return None

    def put_file(self, path: Path, uri: Uri, metadata: dict[str, str], *, timeout: float) -> None:
        CALLS.append(("put_file", str(uri)))
        target = self._path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)

    def put_text(self, text: str, uri: Uri, *, suffix: str) -> None:
        CALLS.append(("put_text", str(uri)))
        target = self._path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def list(self, prefix: Uri, suffix: str) -> builtins.list[Uri]:
        CALLS.append(("list", str(prefix)))
        bucket = self.root / prefix.bucket
        keys = sorted(path.relative_to(bucket).as_posix() for path in bucket.rglob("*") if path.is_file())
        return [
            Uri(prefix.scheme, prefix.bucket, key)
            for key in keys
            if key.startswith(prefix.key) and key.endswith(suffix)
        ]
