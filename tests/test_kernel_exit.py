"""The end of a run's kernel: asked to shut down, it exits by itself, or it is terminated; the notebook is blamed
only when a thread its own code started is what kept it, by name. The kernel says which threads are left (and
whose code started them) once its shutdown has run; nbrunner decides on that, never on one second of clock."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from tests.conftest import Result, read_nb, run_cli

BLAME = "the notebook's thread"


def run(tmp_path: Path, *cells: str) -> tuple[Result, int]:
    """The real CLI on a notebook of ``cells`` (the first prints the kernel's pid): the result and that pid, gone."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell("import os\nprint(os.getpid())"),
                *(nbformat.v4.new_code_cell(cell) for cell in cells)]  # fmt: skip
    nbformat.write(nb, tmp_path / "n.ipynb")
    result = run_cli("run", str(tmp_path / "n.ipynb"), "-o", str(tmp_path / "out.ipynb"), "--no-html", cwd=tmp_path)
    assert result.code == 0, result.stderr
    pid = int(read_nb(tmp_path / "out.ipynb").cells[0].outputs[0].text.split()[0])
    with pytest.raises(ProcessLookupError):  # no kernel outlives the run, whatever kept it
        os.kill(pid, 0)
    return result, pid


def test_a_thread_started_by_a_cell_is_named_when_it_keeps_the_kernel(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "import threading, time\n\nthreading.Thread(target=time.sleep, args=(600,), "
                              "name='lingerer').start()")  # fmt: skip
    assert f"{BLAME} 'lingerer' (started in a cell, line 3) was still running" in result.stderr


def test_a_thread_started_by_the_notebooks_own_module_is_the_notebooks(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text(
        "import threading, time\n\n"
        "def start():\n    threading.Thread(target=time.sleep, args=(600,), name='helped').start()\n"
    )
    result, _ = run(tmp_path, "import helper\nhelper.start()")
    assert f"{BLAME} 'helped' (started in helper) was still running" in result.stderr


def test_a_librarys_threads_are_not_blamed_on_the_notebook(tmp_path: Path) -> None:
    """asyncio's default executor, a thread pool the library starts (as pyspark's Connect client does), kept busy:
    the kernel is terminated, and nothing blames the notebook."""
    result, _ = run(tmp_path, "import asyncio, time\nloop = asyncio.new_event_loop()\n"
                              "busy = loop.run_in_executor(None, time.sleep, 600)")  # fmt: skip
    assert BLAME not in result.stderr and "did not exit" not in result.stderr, result.stderr


def test_a_kernel_slow_to_exit_with_no_thread_left_is_waited_for_not_blamed(tmp_path: Path) -> None:
    """An atexit handler that takes longer than the first second (as a loaded machine does): the kernel has said it
    has no thread left, so it is given its bounded time, exits by itself, and no warning is written."""
    done = tmp_path / "exited-by-itself"
    result, _ = run(tmp_path, f"import atexit, time\n\ndef slow():\n    time.sleep(3)\n    open({str(done)!r}, 'w')\n\n"
                              "atexit.register(slow)")  # fmt: skip
    assert done.exists(), result.stderr  # the handler ran to its end: the kernel was not terminated
    assert "did not exit" not in result.stderr and BLAME not in result.stderr


def test_a_stop_signal_ends_the_wait_for_a_slow_kernel(tmp_path: Path) -> None:
    """SIGTERM while nbrunner waits for a kernel that does not exit (an atexit handler that never returns): the
    wait ends there, the kernel is killed, and the stop (not the kernel) is the reason: no warning about it."""
    import signal
    import subprocess
    import sys
    import time

    started = tmp_path / "in-atexit"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell(
        f"import atexit, os, time\nprint(os.getpid())\n\ndef stuck():\n    open({str(started)!r}, 'w')\n"
        "    time.sleep(600)\n\natexit.register(stuck)"
    )]  # fmt: skip
    nbformat.write(nb, tmp_path / "n.ipynb")
    proc = subprocess.Popen([sys.executable, "-m", "nbrunner", "run", str(tmp_path / "n.ipynb"), "-o",
                             str(tmp_path / "out.ipynb"), "--no-html"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    while not started.exists() and proc.poll() is None:  # the kernel is in its handler: nbrunner is waiting
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert "did not exit" not in stderr, stderr  # the wait did not run to its end
    assert read_nb(tmp_path / "out.ipynb").metadata.nbrunner["status"] == "succeeded"  # the files were whole
    pid = int(read_nb(tmp_path / "out.ipynb").cells[0].outputs[0].text.split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
