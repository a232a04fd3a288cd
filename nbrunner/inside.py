"""What a notebook calls from inside its kernel: ``nbrunner.output()``, ``nbrunner.skip()``, ``nbrunner.secret()``.

Each speaks to the runner through the notebook's own outputs (a display with a mimetype of nbrunner's, as scrapbook's
``glue`` does), so it works in any kernel on an interpreter where nbrunner is installed, and the notebook shows it.
An output is a scrapbook scrap too (``scrapbook.read_notebook(path).scraps`` reads it), in scrapbook's own payload.
"""

from __future__ import annotations

import json
import os
from typing import Any, NoReturn

OUTPUT_MIME = "application/vnd.nbrunner.output+json"  # an output scrapbook cannot hold (None); older nbrunners'
#: scrapbook's scraps (``scrapbook.glue``, schema version 1): text as text, any other JSON value as JSON
SCRAP_TEXT_MIME = "application/scrapbook.scrap.text+json"
SCRAP_JSON_MIME = "application/scrapbook.scrap.json+json"
SKIP_MIME = "application/vnd.nbrunner.skip+json"
#: the kernel's environment holds one of these, never a secret's value: the number of an inherited descriptor of an
#: anonymous in-memory file (Linux memfd: nothing on disk, gone with the last process holding it), or, where there is
#: no memfd, the path of a private file. Either is read once, then closed or unlinked, and removed from the
#: environment, so the kernel's own child processes find neither.
SECRETS_FD = "NBRUNNER_SECRETS_FD"
SECRETS_FILE = "NBRUNNER_SECRETS_FILE"
_secrets: dict[str, str] | None = None


def output(name: str, value: Any) -> None:
    """State a result for the next task: it lands in the run record under ``outputs`` (JSON, size-capped)."""
    if not isinstance(name, str) or not name:
        raise ValueError("nbrunner.output(name, value): name must be a non-empty string")
    json.dumps(value, allow_nan=False)  # a JSON value, or a clear error here rather than a lost output later
    from IPython.display import display

    bundle, metadata = output_bundle(name, value)
    display(bundle, metadata=metadata, raw=True)


def output_bundle(name: str, value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The display data and metadata of ``nbrunner.output(name, value)``: a scrap exactly as ``scrapbook.glue``
    writes one (a string with its ``text`` encoder, which reads it back as the same string; any other value with
    its ``json`` encoder), shown as one line of text. ``None``, which a scrap cannot hold, keeps nbrunner's own
    mimetype: the record has it, scrapbook does not."""
    shown = {"text/plain": f"nbrunner output {name} = {repr(value)[:200]}"}
    if value is None:
        return {OUTPUT_MIME: {"name": name, "value": value}, **shown}, {}
    encoder, mime = ("text", SCRAP_TEXT_MIME) if isinstance(value, str) else ("json", SCRAP_JSON_MIME)
    scrap = {"name": name, "data": value, "encoder": encoder, "version": 1}
    return {mime: scrap, **shown}, {"scrapbook": {"name": name, "data": True, "display": False}}


def skip(reason: str = "") -> NoReturn:
    """Stop the run here and report it skipped (exit code 99, Airflow's default skip code); the notebook is kept."""
    from IPython.display import display

    display({SKIP_MIME: {"reason": str(reason)}, "text/plain": f"nbrunner: skipped: {reason}"}, raw=True)
    raise SystemExit(0)


def secret(name: str) -> str:
    """The value of the secret parameter ``name`` given with ``--secret``; read from a private file, not the
    environment, so child processes do not inherit it."""
    values = take_secrets()
    if not values:
        raise KeyError(f"no secrets were given to this run (--secret {name}=env:VAR)")
    if name not in values:
        raise KeyError(f"no secret named {name!r} was given to this run")
    return str(values[name])


def take_secrets() -> dict[str, str]:
    """Read the run's secrets once, from what nbrunner handed the kernel, and leave nothing behind: the descriptor
    closed, the file unlinked, the variable gone. Called at the kernel's start (ipykernel's exec_lines) and by
    :func:`secret`."""
    global _secrets
    if _secrets is not None:
        return _secrets
    found: dict[str, str] = {}
    fd_text, path = os.environ.pop(SECRETS_FD, None), os.environ.pop(SECRETS_FILE, None)
    if fd_text is not None and fd_text.isdigit():
        fd = int(fd_text)
        try:
            chunks, offset = [], 0
            while chunk := os.pread(fd, 1 << 16, offset):
                chunks.append(chunk)
                offset += len(chunk)
            found = json.loads(b"".join(chunks))
        finally:
            os.close(fd)
    elif path:
        from nbrunner.core.regular import read_regular

        try:  # nbrunner's own 0600 file in its private folder, read without blocking all the same
            found = json.loads(read_regular(path))
        finally:
            os.unlink(path)
    _secrets = found
    return found
