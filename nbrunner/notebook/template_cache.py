"""The HTML templates' compiled code, kept between runs: Jinja's bytecode cache in the user's cache folder.

Compiling nbconvert's and nbrunner's templates is a third of what rendering a small notebook costs (about 0.045
CPU-s in every run). Jinja's ``FileSystemBytecodeCache`` writes each entry to a temporary file and renames it into
place, so concurrent runs see a whole entry or none; an entry is keyed by the template's name, file and source, and
tagged with the Python version. The folder is ``$XDG_CACHE_HOME/nbrunner/templates`` (``~/.cache/...``), private
to the user (0700, owned by them), or no cache at all: a read-only home, a folder another user could write to, or a
damaged entry only costs the compilation, never the HTML. An entry is read only if it is a regular file, opened
without blocking (:mod:`nbrunner.core.regular`): a FIFO there never holds the run.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any


def cache_folder(environ: dict[str, str] | None = None) -> Path | None:
    """The cache's folder, made if missing; None where no private folder can be had."""
    env = os.environ if environ is None else environ
    try:
        base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    except (RuntimeError, KeyError):  # no home
        return None
    if not base.is_absolute():
        # a relative XDG_CACHE_HOME is to be ignored (XDG's rule), and without HOME or a passwd entry (a pod's
        # unknown uid) Python 3.11 gives "~" unexpanded: neither may make folders in the run's working directory
        return None
    folder = base / "nbrunner" / "templates"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError:  # a read-only file system, the place taken by a file
        return None
    private = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077
    return folder if private else None


def bytecode_cache() -> Any:
    """A Jinja bytecode cache that never fails a rendering; None where there is no private folder."""
    folder = cache_folder()
    if folder is None:
        return None
    from jinja2 import FileSystemBytecodeCache

    from nbrunner.core.regular import open_regular

    class QuietCache(FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            # never Jinja's own open(): a FIFO put at an entry's name would block the run for good
            try:
                with open_regular(self._get_cache_filename(bucket)) as handle:
                    bucket.load_bytecode(handle)
            except Exception:  # missing, a FIFO or device, damaged or foreign: compile the template again
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:  # full or read-only: the next run compiles again
                pass

    return QuietCache(str(folder))
