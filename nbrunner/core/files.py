"""Writing a local file so that a reader sees the old one or the whole new one, never half."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomic(path: Path, text: str | Callable[[IO[str]], None], *, errors: str = "backslashreplace") -> None:
    """Write ``text`` (or what the callable writes) to ``path`` so that a reader sees the old file or the whole
    new one, never half: a temporary file beside it, flushed to disk, then renamed over it.

    Text that is not valid Unicode (a lone surrogate a kernel sent) is written as its ``\\udXXXX`` escape, which
    JSON reads back as it was: the file is always complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode(path))  # mkstemp makes 0600; a result file is as readable as any other
        with os.fdopen(fd, "w", encoding="utf-8", errors=errors) as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                text(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _file_mode(path: Path) -> int:
    """The mode of the file being replaced, else what open() would give under the current umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask
