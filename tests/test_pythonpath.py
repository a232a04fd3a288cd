"""The kernel's PYTHONPATH under spark-submit: a zip that repeats the installed release is dropped, no other."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import pytest

from nbrunner.engines.spark.pythonpath import interpreter_site, kernel_pythonpath, leave_out

pyspark = pytest.importorskip("pyspark")
SPARK_LIB = Path(pyspark.__file__).parent / "python" / "lib"  # pip's pyspark is its own SPARK_HOME
PYSPARK_ZIP = SPARK_LIB / "pyspark.zip"
PY4J_ZIP = next(SPARK_LIB.glob("py4j-*-src.zip"))
SITE = interpreter_site(sys.path, "")


def copy_zip(source: Path, target: Path, change: dict[str, bytes]) -> Path:
    """``source`` with some members' content replaced, as ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, change.get(info.filename, src.read(info)))
    return target


def test_the_zips_of_the_installed_release_are_dropped_and_the_rest_kept_in_order(tmp_path: Path) -> None:
    given = os.pathsep.join([str(tmp_path / "deps.zip"), str(PYSPARK_ZIP), str(PY4J_ZIP), "/opt/old/path"])
    assert kernel_pythonpath(given, SITE) == os.pathsep.join([str(tmp_path / "deps.zip"), "/opt/old/path"])


def test_a_patched_copy_of_the_same_release_is_kept(tmp_path: Path) -> None:
    with zipfile.ZipFile(PYSPARK_ZIP) as archive:
        session = archive.read("pyspark/sql/session.py")
    patched = copy_zip(PYSPARK_ZIP, tmp_path / "patched" / "pyspark.zip", {
        "pyspark/sql/session.py": session + b"\n# a vendor's fix\n",
    })  # fmt: skip
    assert kernel_pythonpath(str(patched), SITE) == str(patched)


def test_another_release_is_kept(tmp_path: Path) -> None:
    other = tmp_path / "spark-3.0" / "pyspark.zip"
    other.parent.mkdir()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("pyspark/__init__.py", "")
        archive.writestr("pyspark/version.py", '__version__ = "3.0.0"\n')
    assert kernel_pythonpath(str(other), SITE) == str(other)


def test_a_zip_is_kept_when_the_interpreter_has_no_such_package_installed(tmp_path: Path) -> None:
    given = os.pathsep.join([str(PYSPARK_ZIP), str(PY4J_ZIP)])
    assert kernel_pythonpath(given, [str(tmp_path)]) == given


def test_an_earlier_entry_holding_another_pyspark_keeps_the_zip(tmp_path: Path) -> None:
    # with the zip gone, an older pyspark later on PYTHONPATH would win: keep the zip
    old = tmp_path / "old"
    (old / "pyspark").mkdir(parents=True)
    (old / "pyspark" / "__init__.py").write_text("")
    (old / "pyspark" / "version.py").write_text('__version__ = "3.1.0"\n')
    given = os.pathsep.join([str(PYSPARK_ZIP), str(old)])
    assert kernel_pythonpath(given, SITE) == given


def test_the_interpreter_site_leaves_out_the_script_folder_and_pythonpath() -> None:
    assert interpreter_site(["/launcher", "/from/pythonpath", "", "/usr/lib/python3"], "/from/pythonpath") == [
        "/usr/lib/python3"
    ]


def test_nbrunner_leaves_the_dropped_zips_out_of_its_own_import_path(tmp_path: Path) -> None:
    deps = str(tmp_path / "deps.zip")
    given = os.pathsep.join([deps, str(PYSPARK_ZIP), str(PY4J_ZIP)])
    path = ["/launcher", deps, str(PYSPARK_ZIP), str(PY4J_ZIP), "", "/usr/lib/python3"]
    leave_out(path, given, kernel_pythonpath(given, SITE))
    assert path == ["/launcher", deps, "", "/usr/lib/python3"]


def test_nothing_leaves_the_import_path_when_every_zip_is_kept(tmp_path: Path) -> None:
    path = ["/launcher", str(PYSPARK_ZIP), str(PY4J_ZIP)]
    given = os.pathsep.join(path[1:])
    leave_out(path, given, kernel_pythonpath(given, [str(tmp_path)]))  # no installed pyspark or py4j to use
    assert path == ["/launcher", str(PYSPARK_ZIP), str(PY4J_ZIP)]
