"""The kernel's PYTHONPATH under spark-submit, without zips that only repeat what the interpreter has installed.

spark-submit puts ``$SPARK_HOME/python/lib/pyspark.zip`` and the py4j zip on PYTHONPATH. Python compiles modules
imported from a zip on every import (it never writes their ``.pyc``), so ``import pyspark.sql`` costs about three
times what it costs from an installed package: 0.5 s of CPU in every kernel, while the driver JVM needs both cores
to create the SparkContext. When a zip holds the same release as the package the kernel's interpreter finds without
it (pip's pyspark is its own ``SPARK_HOME``, so this is the usual case), the zip is dropped from the kernel's
PYTHONPATH: the kernel imports the same code, compiled once. Any other zip (a separate Spark distribution, another
release) is kept where spark-submit put it. nbrunner's own process leaves such zips out of its ``sys.path`` alike,
before it imports py4j (0.05 s of compiling, at the moment the driver JVM waits for nbrunner to start the context).
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

_VERSION = re.compile(rb"""__version__[^=\n]*=\s*["']([^"']+)["']""")


def _package_of(zip_name: str) -> str | None:
    if zip_name == "pyspark.zip":
        return "pyspark"
    if zip_name.startswith("py4j-") and zip_name.endswith(".zip"):
        return "py4j"
    return None


def _version(data: bytes) -> bytes | None:
    found = _VERSION.search(data)
    return found.group(1) if found else None


def _installed_folder(package: str, search: Sequence[str]) -> str | None:
    spec = importlib.machinery.PathFinder.find_spec(package, list(search))
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = str(list(spec.submodule_search_locations)[0])
    return None if ".zip" in folder else folder  # found in another zip: nothing gained


def same_release(zip_path: str, package: str, folder: str) -> bool:
    """Whether the zip's ``package`` and the one installed in ``folder`` are the same release: the same version,
    and every module both hold of the same size (a patched copy keeps its zip)."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            zipped = _version(archive.read(f"{package}/version.py"))
            installed = _version(Path(folder, "version.py").read_bytes())
            if zipped is None or zipped != installed:
                return False
            root = os.path.dirname(folder)
            for info in archive.infolist():
                if not info.filename.endswith(".py"):
                    continue
                try:
                    size = os.stat(os.path.join(root, *info.filename.split("/"))).st_size
                except OSError:
                    continue  # in the zip only (its tests, benchmarks): nothing a notebook imports
                if size != info.file_size:
                    return False
    except (OSError, KeyError, zipfile.BadZipFile):
        return False
    return True


def kernel_pythonpath(pythonpath: str, site: Sequence[str]) -> str:
    """``pythonpath`` without the pyspark and py4j zips whose release the interpreter, searching the rest of
    ``pythonpath`` then ``site`` (its own sys.path without PYTHONPATH's entries), finds installed."""
    entries = pythonpath.split(os.pathsep)
    kept = list(entries)
    for entry in entries:
        package = _package_of(os.path.basename(entry))
        if package is None:
            continue
        rest = [e for e in kept if e != entry]
        folder = _installed_folder(package, [*rest, *site])
        if folder is not None and same_release(entry, package, folder):
            kept = rest
    return os.pathsep.join(kept)


def interpreter_site(sys_path: Sequence[str], pythonpath: str) -> list[str]:
    """This interpreter's own import path: sys.path without the script's folder and PYTHONPATH's entries."""
    given = set(pythonpath.split(os.pathsep))
    return [p for p in sys_path[1:] if p and p not in given]


def leave_out(sys_path: list[str], pythonpath: str, lean: str) -> None:
    """Remove from ``sys_path`` (in place) the entries of ``pythonpath`` that ``lean`` left out."""
    dropped = {os.path.abspath(p) for p in set(pythonpath.split(os.pathsep)) - set(lean.split(os.pathsep)) if p}
    sys_path[:] = [p for p in sys_path if not p or os.path.abspath(p) not in dropped]
