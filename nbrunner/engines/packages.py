"""Which release of a Python package a kernel would import (pyspark, pyflink), found without importing it where it
can be: an engine checks it against its JVM's (major.minor must agree) before any kernel starts."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_VERSION = re.compile(r"""__version__[^=]*=\s*["']([^"']+)["']""")


def version_here(package: str) -> tuple[str, str] | None:
    """(version, location) of ``package`` as this interpreter would import it, read from its ``version.py``."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = list(spec.submodule_search_locations)[0]
    path = os.path.join(folder, "version.py")
    loader = spec.loader
    try:
        get_data = getattr(loader, "get_data", None)
        raw = get_data(path) if get_data is not None else Path(path).read_bytes()
    except OSError:
        return None
    found = _VERSION.search(raw.decode("utf-8", errors="replace"))
    return (found.group(1), folder) if found else None


def version_of(argv0: str, env: Mapping[str, str], package: str) -> tuple[str, str] | None:
    """(version, location) of ``package`` as another interpreter imports it, asked in a subprocess."""
    code = (
        f"import json, os, importlib; m = importlib.import_module({package!r}); "
        f"v = getattr(m, '__version__', None) or importlib.import_module({package + '.version'!r}).__version__; "
        "print(json.dumps([v, os.path.dirname(m.__file__)]))"
    )
    try:
        done = subprocess.run(  # noqa: S603 - the kernelspec's own interpreter
            [argv0, "-c", code], env=dict(env), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or not done.stdout.strip():
        return None
    version, where = json.loads(done.stdout.strip().splitlines()[-1])
    return str(version), str(where)


def same_minor(a: str, b: str) -> bool:
    """A JVM and its Python package must agree on major.minor: the Py4J surface changes between minor releases."""
    return a.split(".")[:2] == b.split(".")[:2]


def kernel_version(
    package: str, kernel_spec: Any, env: Mapping[str, str], *, same_interpreter: bool
) -> tuple[str, str] | None:
    """(version, location) of ``package`` as a kernel would import it: this interpreter's (``same_interpreter``),
    else asked of the kernelspec's own Python in ``env``; None where it has none, or the kernel is not a Python."""
    if same_interpreter:
        return version_here(package)
    argv0 = (kernel_spec.argv or [""])[0]
    return version_of(argv0, env, package) if "python" in Path(argv0).name else None
