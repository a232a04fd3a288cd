"""What a notebook calls from inside its kernel: ``nbrunner.output()``, ``nbrunner.skip()``, ``nbrunner.secret()``.

Each speaks to the runner through the notebook's own outputs (a display with a mimetype of nbrunner's, as scrapbook's
``glue`` does), so it works in any kernel on an interpreter where nbrunner is installed, and the notebook shows it.
"""

from __future__ import annotations

import json
import os
from typing import Any, NoReturn

OUTPUT_MIME = "application/vnd.nbrunner.output+json"
SKIP_MIME = "application/vnd.nbrunner.skip+json"
SECRETS_FILE = "NBRUNNER_SECRETS_FILE"  # the kernel's environment holds this path, never a secret's value


def output(name: str, value: Any) -> None:
    """State a result for the next task: it lands in the run record under ``outputs`` (JSON, size-capped)."""
    if not isinstance(name, str) or not name:
        raise ValueError("nbrunner.output(name, value): name must be a non-empty string")
    json.dumps(value, allow_nan=False)  # a JSON value, or a clear error here rather than a lost output later
    from IPython.display import display

    shown = repr(value)
    display({OUTPUT_MIME: {"name": name, "value": value}, "text/plain": f"nbrunner output {name} = {shown[:200]}"},
            raw=True)  # fmt: skip


def skip(reason: str = "") -> NoReturn:
    """Stop the run here and report it skipped (exit code 99, Airflow's default skip code); the notebook is kept."""
    from IPython.display import display

    display({SKIP_MIME: {"reason": str(reason)}, "text/plain": f"nbrunner: skipped: {reason}"}, raw=True)
    raise SystemExit(0)


def secret(name: str) -> str:
    """The value of the secret parameter ``name`` given with ``--secret``; read from a private file, not the
    environment, so child processes do not inherit it."""
    path = os.environ.get(SECRETS_FILE)
    if not path:
        raise KeyError(f"no secrets were given to this run (--secret {name}=env:VAR)")
    with open(path, encoding="utf-8") as handle:
        values = json.load(handle)
    if name not in values:
        raise KeyError(f"no secret named {name!r} was given to this run")
    return str(values[name])
