"""Reading what a run is given, local or in a store (s3://...), with one set of rules for notebooks and parameters
files.

Every failure is a UsageError (exit 2) naming the input: missing, a folder, not a regular file (a FIFO or a device
would hang the run), unreadable, or not UTF-8 text.
"""

from __future__ import annotations

import stat
from pathlib import Path

from nbrunner.core.location import Location
from nbrunner.errors import UsageError
from nbrunner.storage import Stores


def read_bytes(where: Location, *, what: str, stores: Stores) -> bytes:
    """The bytes of a local file or of a store's object (``stores``: the run's, each built on first use)."""
    if not isinstance(where, Path):
        return stores.of(where).read(where)
    from nbrunner.core.regular import NotRegularFile, read_regular

    name = str(where)
    try:
        mode = where.stat().st_mode
        if stat.S_ISDIR(mode):
            raise UsageError(f"{what} {name!r} is a directory; pass a file")
        if not stat.S_ISREG(mode):
            raise UsageError(f"{what} {name!r} is not a regular file (a pipe or a device); pass a file")
        return read_regular(where)  # checked again on what is opened, without blocking: it may have changed since
    except NotRegularFile as e:
        raise UsageError(f"{what} {name!r} is not a regular file (a pipe or a device); pass a file") from e
    except FileNotFoundError as e:
        raise UsageError(f"{what} {name!r} does not exist; check the path") from e
    except OSError as e:
        raise UsageError(f"{what} {name!r} cannot be read: {e.strerror or e}") from e


def decode(data: bytes, *, what: str, name: str) -> str:
    """UTF-8 text, strictly: the same rule for local and s3:// inputs."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{what} {name!r} is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8") from e


def read_text(where: Location, *, what: str, stores: Stores) -> str:
    return decode(read_bytes(where, what=what, stores=stores), what=what, name=str(where))
