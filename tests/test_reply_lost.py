"""A reply that never comes never hangs a run; what widgets showed is kept for every outcome; output that a
background thread prints is kept (nbrunner.run.channels)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import v4

from tests.conftest import Result, default_signals, read_nb, run_cli

pytest.importorskip("ipywidgets")

# the shape of nbclient's own tests/files/Output.ipynb: Output widgets written to with `with out:`, a captured error,
# clear_output with and without wait, display() inside, nested widgets; every one of these cells makes nbclient's
# widget mimic send comm messages on the shell socket while the cell's reply is awaited
WIDGET_CELLS = [
    "import ipywidgets as widgets\nfrom IPython.display import clear_output, display\nout1 = widgets.Output()\nout1",
    'print("hi")\nwith out1:\n    print("in output")',
    'with out1:\n    raise ValueError("trigger msg_type=error")',
    "out2 = widgets.Output()\nout2",
    'print("hi2")\nwith out2:\n    print("in output2")\n    clear_output(wait=True)',
    "out3 = widgets.Output()\nout3",
    'print("hi3")\nwith out3:\n    print("hello")\n    clear_output(wait=True)\n    print("world")',
    "out4 = widgets.Output()\nout4",
    'print("hi4")\nwith out4:\n    print("hello world")\n    clear_output()',
    "out5 = widgets.Output()\nout5",
    'print("hi5")\nwith out5:\n    display("hello world")\nclear_output()',
    "outer = widgets.Output()\ninner = widgets.Output()\ninner",
    "outer",
    'with inner:\n    print("in inner")\n    with outer:\n        print("in outer")\n    print("also in inner")',
]


def write(path: Path, sources: list[str]) -> Path:
    nb = v4.new_notebook(cells=[v4.new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def widget_texts(nb: Any) -> str:
    """Every text the notebook's Output widgets hold (metadata.widgets)."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    texts = []
    for model in state.values():
        for output in model.get("state", {}).get("outputs", []):
            texts.append(str(output.get("text", "")) + str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)


def test_widget_notebooks_end_by_themselves(tmp_path: Path) -> None:
    """nbclient's Output-widget notebook, its cells repeated 8 times in one run (112 chances for the lost reply: the
    old client hung on 1 run in 5 of the 14-cell notebook). The bound is far above a run's own length (~10 s): a
    hang, not a slow machine, is what would cross it."""
    notebook = write(tmp_path / "widgets.ipynb", WIDGET_CELLS * 8)
    result = run_cli("run", str(notebook), "-o", str(tmp_path / "out.ipynb"), timeout=900)
    assert result.code == 0, result.stderr
    nb = read_nb(tmp_path / "out.ipynb")
    assert all(c.metadata.nbrunner["status"] == "ok" for c in nb.cells if c.cell_type == "code")
    assert "in output" in widget_texts(nb) and "also in inner" in widget_texts(nb)
    assert isinstance(result.record["replies_lost"], list)


def drop_own_reply(then: str = "") -> str:
    """A cell that makes its own kernel never send this cell's execute_reply (the message really is never sent)."""
    return (
        "ip = get_ipython()\n"
        "_send = ip.kernel.session.send\n"
        "def send(stream, msg_or_type, *args, **kwargs):\n"
        "    if msg_or_type == 'execute_reply':\n"
        "        ip.kernel.session.send = _send  # only this one\n"
        "        return None\n"
        "    return _send(stream, msg_or_type, *args, **kwargs)\n"
        "ip.kernel.session.send = send\n" + then
    )


def test_a_lost_reply_is_taken_as_finished_and_said(tmp_path: Path) -> None:
    notebook = write(tmp_path / "lost.ipynb", ["x = 1", drop_own_reply("print('dropped')"), "print(x + 1)"])
    result = run_cli("run", str(notebook), "-o", str(tmp_path / "out.ipynb"), timeout=600)
    assert result.code == 0, result.stderr
    assert result.record["replies_lost"] == [1]
    assert "cells [1]: the kernel finished them but their reply never came" in result.stderr
    nb = read_nb(tmp_path / "out.ipynb")
    assert nb.cells[1].metadata.nbrunner["reply_lost"] is True
    assert "".join(o.text for o in nb.cells[1].outputs) == "dropped\n"  # outputs kept (in one message or two)
    assert "".join(o.text for o in nb.cells[2].outputs) == "2\n"  # and the run went on


def test_a_lost_reply_of_a_failing_cell_is_a_cell_failure(tmp_path: Path) -> None:
    notebook = write(tmp_path / "lost.ipynb", [drop_own_reply("raise KeyError('gone')"), "print('never')"])
    result = run_cli("run", str(notebook), "-o", str(tmp_path / "out.ipynb"), timeout=600)
    assert result.code == 4, result.stderr  # a failing cell's documented exit code
    assert result.record["failed_cell"]["index"] == 0 and result.record["replies_lost"] == [0]
    assert "KeyError" in result.record["message"]


def test_a_failed_run_keeps_what_its_widgets_showed(tmp_path: Path) -> None:
    notebook = write(tmp_path / "w.ipynb", [
        "import ipywidgets as widgets\nout = widgets.Output()\nout",
        "with out:\n    print('shown in the widget')",
        "raise RuntimeError('after the widget')",
    ])  # fmt: skip
    result = run_cli("run", str(notebook), "-o", str(tmp_path / "out.ipynb"), timeout=600)
    assert result.code == 4, result.stderr
    nb = read_nb(tmp_path / "out.ipynb")
    assert "shown in the widget" in widget_texts(nb)
    assert "shown in the widget" in (tmp_path / "out.html").read_text(encoding="utf-8")


def test_a_stopped_run_keeps_what_its_widgets_showed(tmp_path: Path) -> None:
    marker = tmp_path / "waiting"
    notebook = write(tmp_path / "w.ipynb", [
        "import ipywidgets as widgets\nout = widgets.Output()\nout",
        "with out:\n    print('shown before the stop')",
        f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\nwhile True:\n    time.sleep(0.1)",
    ])  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbrunner", "run", str(notebook), "-o", str(tmp_path / "out.ipynb")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        preexec_fn=default_signals(),  # noqa: PLW1509 - the default dispositions, whatever the suite was started with
    )  # fmt: skip
    try:
        while not marker.exists():  # the last cell runs
            assert proc.poll() is None, proc.communicate()[1]
            os.sched_yield()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr
    assert Result(proc.returncode, stdout, stderr).record["status"] == "terminated"
    nb = read_nb(tmp_path / "out.ipynb")
    assert "shown before the stop" in widget_texts(nb)


def test_output_of_a_background_thread_is_kept(tmp_path: Path) -> None:
    """A thread started in one cell prints while later cells run: every line lands in the cell then running (nbclient
    drops messages whose parent is not the running cell: 229 of 4,000 lines were lost)."""
    notebook = write(tmp_path / "bg.ipynb", [
        "import threading, time\n"
        "go = threading.Event()\n"
        "def work():\n"
        "    go.wait()\n"
        "    for i in range(4000):\n"
        "        print(f'line {i}', flush=True)\n"
        "        if i % 100 == 0:\n"
        "            time.sleep(0.001)\n"
        "t = threading.Thread(target=work)\n"
        "t.start()",
        "go.set()\nfor _ in range(20):\n    time.sleep(0.01)",
        "t.join()\nimport sys\nsys.stdout.flush()",
    ])  # fmt: skip
    result = run_cli("run", str(notebook), "-o", str(tmp_path / "out.ipynb"), "--no-html", timeout=600)
    assert result.code == 0, result.stderr
    nb = read_nb(tmp_path / "out.ipynb")
    printed = "".join(o.text for c in nb.cells for o in c.outputs if o.output_type == "stream").split("\n")
    assert [line for line in printed if line] == [f"line {i}" for i in range(4000)]
    assert result.record["background_outputs"] > 0
    assert any(c.metadata.nbrunner.get("background_output") for c in nb.cells)


def test_what_a_cell_writes_to_its_file_descriptors_is_all_in_that_cell(tmp_path: Path) -> None:
    """os.write to fd 1 and 2 (as C libraries and subprocesses write) goes through a pipe ipykernel reads a kilobyte at
    a time: the unread tail went out after the cell's idle and was lost (25 KB of 12 MB), silently. A NUL byte and a
    piece of the drain marker in the data pass through unchanged."""
    notebook = write(tmp_path / "fd.ipynb", [
        "import os\nfor i in range(12):\n    os.write(1, b'z' * 1_000_000)\n"
        "os.write(1, b'\\x00\\x1b[nbrunner-dr')\nos.write(2, b'to fd 2\\n')\nos.write(1, b'END\\n')",
        "print('next cell')",
    ])  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # ipykernel captures no fd under pytest
    proc = subprocess.run(
        [sys.executable, "-m", "nbrunner", "run", str(notebook), "-o", str(tmp_path / "out.ipynb"), "--no-html"],
        capture_output=True, text=True, env=env, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    nb = read_nb(tmp_path / "out.ipynb")
    out = "".join(o.text for o in nb.cells[0].outputs if o.output_type == "stream" and o.name == "stdout")
    err = "".join(o.text for o in nb.cells[0].outputs if o.output_type == "stream" and o.name == "stderr")
    assert out == "z" * 12_000_000 + "\x00\x1b[nbrunner-drEND\n"
    assert err == "to fd 2\n"
    # one stream message or two (the kernel flushes "next cell" and its newline apart on a loaded machine): the text
    assert "".join(o.text for o in nb.cells[1].outputs if o.output_type == "stream") == "next cell\n"
