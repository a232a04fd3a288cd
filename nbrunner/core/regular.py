"""Reading a local file that must not block: never a FIFO, a device or a folder.

Opening a FIFO for reading waits for a writer, forever, and Python retries the call after a signal handler that
does not raise, so not even SIGTERM ends the wait. Every file nbrunner reads on its own account (its template
cache, a secret's file, a record or notebook it is given) is opened with ``O_NONBLOCK``, then checked with
``fstat`` on what was opened (a check before opening could be raced): a regular file, or :class:`NotRegularFile`.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO

#: never wait in open(), never take a terminal as the controlling one, never leak into a child
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


class NotRegularFile(OSError):
    """What was opened is a FIFO, a device, a socket or a folder."""


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` open for reading in binary, without ever blocking; :class:`NotRegularFile` (an OSError) unless it
    is a regular file; the OSError of ``open`` otherwise (missing, no permission)."""
    fd = os.open(path, _FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file (a FIFO, a device or a folder)", os.fspath(path))
        os.set_blocking(fd, True)  # a regular file never blocks; reads then behave as usual
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit`` + 1 of them, so a caller can tell it is larger)."""
    with open_regular(path) as handle:
        return handle.read() if limit is None else handle.read(limit + 1)
