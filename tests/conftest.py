"""Shared fixtures: run the real CLI in a subprocess, with a real ipykernel."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).parent / "notebooks"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def record(self) -> dict[str, Any]:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, f"no run record on stdout; stderr:\n{self.stderr}"
        return json.loads(lines[-1])


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "nbrunner", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def default_signals(*signums: int) -> Callable[[], None]:
    """A ``preexec_fn`` giving a child the default action of ``signums`` (SIGINT and SIGHUP unless given): a suite
    started under nohup or by a CI runner has them ignored, a child inherits that across exec, and nbrunner rightly
    keeps an ignored signal ignored. A test that sends a child one of them starts it with this, as a scheduler's
    child takes the signal."""
    chosen = signums or (signal.SIGINT, signal.SIGHUP)

    def reset() -> None:
        for signum in chosen:
            signal.signal(signum, signal.SIG_DFL)

    return reset


@pytest.fixture
def notebooks(tmp_path: Path) -> Path:
    """A private copy of the test notebooks, so outputs land in tmp_path."""
    folder = tmp_path / "nbs"
    shutil.copytree(NOTEBOOKS, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


def read_nb(path: Path) -> Any:
    """A notebook nbrunner wrote; every one must be valid nbformat (validated here, for every test)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.nbformat_minor >= 5, (nb.nbformat, nb.nbformat_minor)
    return nb


def invoke(*args: str) -> Result:
    """The real console entry point (``cli.main``) in this process, with click's CliRunner isolation."""
    from click.testing import CliRunner

    from nbrunner.cli import main

    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        return Result(code, out.getvalue().decode(), err.getvalue().decode())
