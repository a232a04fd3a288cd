"""The notebook document: read it, inject parameters, mark the outcome, write it atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from nbrunner.errors import UsageError

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
BANNER_TAG = "nbrunner-error-banner"
AS_VERSION = 4


def parse(data: bytes, *, source: str) -> Any:
    """A NotebookNode from the bytes of an ``.ipynb`` file, or a one-line UsageError."""
    parse_json(data, source=source)
    return reads(data, source=source)


def reads(data: bytes, *, source: str) -> Any:
    """The NotebookNode of bytes that :func:`parse_json` has already accepted; nbformat's own checks on top."""
    import nbformat

    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=AS_VERSION)
    except Exception as e:  # nbformat raises a variety of errors for malformed documents
        raise UsageError(f"{source}: not a valid notebook: {str(e).splitlines()[0]}") from e
    return nb


def parse_json(data: bytes, *, source: str) -> dict[str, Any]:
    """The raw JSON of an ``.ipynb`` file, checked just enough to read its parameters cell (no nbformat import)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{source}: not a notebook, it is not UTF-8 text ({e.reason} at byte {e.start})") from e
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{source}: not a notebook, invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise UsageError(f"{source}: not a notebook, the JSON has no 'cells'; pass an .ipynb file (nbformat 4)")
    return raw


def raw_parameters_source(raw: dict[str, Any]) -> str | None:
    """The source of the first cell tagged ``parameters`` in raw notebook JSON, or None."""
    for cell in raw["cells"]:
        if isinstance(cell, dict) and PARAMETERS_TAG in tags(cell):
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else str(source)
    return None


def read_local(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise UsageError(f"notebook {str(path)!r} does not exist; check the path") from e
    except IsADirectoryError as e:
        raise UsageError(f"notebook {str(path)!r} is a directory; pass an .ipynb file") from e
    except OSError as e:
        raise UsageError(f"notebook {str(path)!r} cannot be read: {e.strerror}") from e


def tags(cell: Any) -> list[str]:
    found = cell.get("metadata", {}).get("tags", [])
    return list(found) if isinstance(found, list) else []


def parameters_cell_index(nb: Any) -> int | None:
    return next((i for i, cell in enumerate(nb.cells) if PARAMETERS_TAG in tags(cell)), None)


def parameters_source(nb: Any) -> str | None:
    index = parameters_cell_index(nb)
    return None if index is None else str(nb.cells[index].source)


def inject(nb: Any, source: str) -> int:
    """Put ``source`` in a code cell tagged ``injected-parameters``; return its index.

    The cell goes right after the first ``parameters`` cell, or at the top when there is none. An injected cell left
    by an earlier run is removed first, so running an output notebook again does not stack them.
    """
    import nbformat

    nb.cells = [cell for cell in nb.cells if INJECTED_TAG not in tags(cell)]
    cell = nbformat.v4.new_code_cell(source=source, metadata={"tags": [INJECTED_TAG]})
    anchor = parameters_cell_index(nb)
    index = 0 if anchor is None else anchor + 1
    nb.cells.insert(index, cell)
    return index


def remove_banners(nb: Any) -> None:
    nb.cells = [cell for cell in nb.cells if BANNER_TAG not in tags(cell)]


def add_banner(nb: Any, text: str) -> None:
    """A markdown cell at the top that says what went wrong and where; it is not executed."""
    import nbformat

    cell = nbformat.v4.new_markdown_cell(source=text, metadata={"tags": [BANNER_TAG]})
    nb.cells.insert(0, cell)


def write_atomic(path: Path, text: str | Callable[[IO[str]], None]) -> None:
    """Write ``text`` (or what the callable writes) to ``path`` so that a reader sees the old file or the whole
    new one, never half: a temporary file beside it, flushed to disk, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode(path))  # mkstemp makes 0600; a result file is as readable as any other
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
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


_JSON = {"indent": 1, "sort_keys": True, "ensure_ascii": False, "separators": (",", ": ")}


def dump(nb: Any, handle: IO[str]) -> None:
    """Write ``nb`` as nbformat 4 JSON, the same text as ``nbformat.writes``, one cell at a time.

    ``nbformat.writes`` deep-copies the whole notebook and builds one string of it: three times the notebook in
    memory at once. Here only one cell is copied at a time, so a run with hundreds of megabytes of output does not
    need a gigabyte more to be saved.
    """
    import copy

    import nbformat
    from nbformat.v4.rwbase import split_lines, strip_transient

    top = nbformat.from_dict({key: value for key, value in nb.items() if key != "cells"})
    top["cells"] = []
    text = json.dumps(strip_transient(copy.deepcopy(top)), **_JSON)  # type: ignore[arg-type]
    before, after = text.split('"cells": []', 1)
    handle.write(before)
    handle.write('"cells": [')
    for number, cell in enumerate(nb.cells):
        # from_dict copies the containers (strings are shared): split_lines and pop change the copy only
        one = split_lines(nbformat.from_dict({"cells": [cell]})).cells[0]
        one.get("metadata", {}).pop("trusted", None)
        body = json.dumps(one, **_JSON)  # type: ignore[arg-type]
        handle.write(("," if number else "") + "\n  " + body.replace("\n", "\n  "))
    handle.write("\n ]" if nb.cells else "]")
    handle.write(after)


def write(path: Path, nb: Any) -> None:
    write_atomic(path, lambda handle: dump(nb, handle))
