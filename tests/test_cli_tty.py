"""The command line on a terminal: ``run`` shows one line updated in place (``\\r``), coloured unless NO_COLOR, and
ending with the run's final state; the grouped ``--help``; ``-V``. Run under a real pseudo-terminal (pexpect)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pexpect
import pytest

from tests.conftest import run_cli

ESCAPE = "\x1b"


def _notebook(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("print('\\x1b[31mred\\x1b[0m text')"),
        nbformat.v4.new_code_cell("y = x + 1"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "tty.ipynb"
    nbformat.write(nb, path)
    return path


def _on_terminal(folder: Path, *args: str, **env: str) -> tuple[int, str]:
    """``nbrunner ARGS`` with stdout and stderr on one pseudo-terminal: its exit status and everything it showed."""
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | {"TERM": "xterm", **env}
    child = pexpect.spawn(sys.executable, ["-m", "nbrunner", *args], cwd=str(folder), env=environ,
                          encoding="utf-8", timeout=120, dimensions=(24, 200))  # fmt: skip
    shown = child.read()
    child.close()
    assert child.exitstatus is not None, shown
    return child.exitstatus, shown


def test_run_on_a_terminal_updates_one_line_in_place_and_ends_with_the_final_state(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path)
    code, shown = _on_terminal(tmp_path, "run", str(notebook), "--no-html", "--log-output")
    assert code == 0, shown
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert "\r[nbrunner] cell 0/2 running 0:00 x = 1" in plain
    assert not re.search(r"cell 0/2 ok [0-9.]+s", plain)  # the per-cell lines of logs give way to the updating line
    # the state is coloured: running cyan, ok green
    assert f"{ESCAPE}[36mrunning{ESCAPE}[0m" in shown and f"{ESCAPE}[32mok{ESCAPE}[0m" in shown
    # the last state the line showed is the last cell's end, then the line is ended before the record
    states = re.findall(r"\r(\[nbrunner\] cell [^\r\n]*?)(?:\x1b\[K)?(?=\r|\n)", shown)
    assert states and re.sub(r"\x1b\[[0-9;]*m", "", states[-1]).startswith("[nbrunner] cell 2/2 ok")
    record_line = shown.splitlines()[-1]
    assert record_line.startswith('{"') and '"status":"succeeded"' in record_line
    # a cell's output is echoed without its colour codes (nbconvert's strip_ansi)
    assert "[cell 1] red text" in shown and f"{ESCAPE}[31mred" not in shown


def test_no_color_gives_no_escape_codes(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path)
    code, shown = _on_terminal(tmp_path, "run", str(notebook), "--no-html", NO_COLOR="1")
    assert code == 0, shown
    assert ESCAPE not in shown
    assert "\r[nbrunner] cell 2/2 ok" in shown


def test_not_a_terminal_keeps_the_progress_lines(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path)
    result = run_cli("run", str(notebook), "--no-html")
    assert result.code == 0, result.stderr
    assert re.search(r"^\[nbrunner\] cell 2/2 ok [0-9.]+s In \[3\] y = x \+ 1$", result.stderr, re.M)
    assert "\r" not in result.stderr and ESCAPE not in result.stderr


def test_quiet_on_a_terminal_shows_no_progress(tmp_path: Path) -> None:
    notebook = _notebook(tmp_path)
    code, shown = _on_terminal(tmp_path, "run", str(notebook), "--no-html", "-q")
    assert code == 0, shown
    assert "[nbrunner] cell" not in shown


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag: str) -> None:
    from nbrunner import __version__

    result = run_cli(flag)
    assert result.code == 0 and result.stdout.strip() == f"nbrunner, version {__version__}"


def test_run_help_is_grouped() -> None:
    from nbrunner.options import RUN_GROUPS

    result = run_cli("run", "--help")
    assert result.code == 0
    headings = [line[:-1] for line in result.stdout.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert headings[: len(RUN_GROUPS)] == list(RUN_GROUPS)
    section = result.stdout.split("Limits:", 1)[1]
    assert "--cell-timeout" in section.split("\n\n", 1)[0]


def test_shell_completion_script() -> None:
    result = run_cli(env={"_NBRUNNER_COMPLETE": "bash_source"})
    assert result.code == 0 and "_nbrunner_completion" in result.stdout


def test_a_long_cell_s_elapsed_time_is_updated_while_it_runs(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(2.5)")]
    nbformat.write(nb, tmp_path / "slow.ipynb")
    code, shown = _on_terminal(tmp_path, "run", "slow.ipynb", "--no-html", NO_COLOR="1")
    assert code == 0, shown
    running = re.findall(r"\r\[nbrunner\] cell 0/0 running (\d+:\d\d) import time", shown)
    assert running[0] == "0:00" and len(set(running)) >= 2, shown  # redrawn with the time going on
    assert "\r[nbrunner] cell 0/0 ok 0:0" in shown


def test_a_caller_that_never_draws_the_updating_line_keeps_the_per_cell_lines() -> None:
    """Several runs at once (--for-each --parallel) cannot share one line: their progress lines are written."""
    import io

    from nbrunner.core.report import StreamReporter

    stream = io.StringIO()
    reporter = StreamReporter(stream, live=True, colour=False)
    reporter.progress("[nbrunner x=1] cell 0/1 ok 0.10s In [1] a = 1")
    reporter.live("[nbrunner] cell 0/1 running a = 1", "running")
    reporter.progress("[nbrunner] cell 0/1 ok 0.10s In [1] a = 1")  # the updating line shows it instead
    reporter.live("[nbrunner] cell 0/1 ok a = 1", "ok")
    reporter.warning("careful")
    reporter.finish()
    assert stream.getvalue() == (
        "[nbrunner x=1] cell 0/1 ok 0.10s In [1] a = 1\n"
        "\r[nbrunner] cell 0/1 running 0:00 a = 1"
        "\r[nbrunner] cell 0/1 ok 0:00 a = 1     \n"
        "nbrunner: warning: careful\n"
    )
