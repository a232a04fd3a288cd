"""Runs as scopes of one process: the Python API called from several threads at once keeps each run's parameters,
outputs, records and stops apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat import v4

from tests.conftest import default_signals, read_nb


def notebook(path: Path, body: str) -> Path:
    nb = v4.new_notebook(cells=[v4.new_code_cell("name = 'x'\nmarker = ''", metadata={"tags": ["parameters"]}),
                                v4.new_code_cell(body)])  # fmt: skip
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_runs_in_threads_keep_their_own_parameters_and_results(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from nbrunner import run_notebook

    source = notebook(tmp_path / "n.ipynb", "import nbrunner, os\nnbrunner.output('seen', name)\nprint(name)")
    names = [f"run{i}" for i in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        records = list(pool.map(lambda n: run_notebook(source, tmp_path / f"{n}.ipynb", {"name": n}), names))
    for name, record in zip(names, records, strict=True):
        assert record.status == "succeeded" and record.parameters == {"name": name}
        assert record.outputs == {"seen": name}
        outputs = read_nb(tmp_path / f"{name}.ipynb").cells[-1].outputs
        assert [o.text for o in outputs if o.output_type == "stream"] == [f"{name}\n"]
    assert len({record.run_id for record in records}) == 3


def test_a_signal_stops_every_run_of_the_process_and_keeps_each_partial_notebook(tmp_path: Path) -> None:
    """The main thread's guard holds the handlers (as a "for each" does) and hands SIGTERM to the runs in its
    worker threads: each stops, each partial notebook and record is written."""
    notebook(tmp_path / "slow.ipynb", "import pathlib, time\npathlib.Path(marker).touch()\ntime.sleep(600)")
    script = tmp_path / "many.py"
    script.write_text(
        textwrap.dedent(f"""
        import json, os, signal, sys, threading, time
        from pathlib import Path
        from nbrunner import run_notebook
        from nbrunner.core.signals import StopGuard
        from nbrunner.errors import NbrunnerError
        folder = Path({str(tmp_path)!r})
        results = {{}}
        def one(i):
            try:
                results[i] = run_notebook(folder / "slow.ipynb", folder / f"out{{i}}.ipynb",
                                          {{"marker": str(folder / f"started{{i}}")}}).status
            except NbrunnerError as e:
                results[i] = e.record.status if e.record else repr(e)
        with StopGuard() as guard:
            guard.orchestrating()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            while not all((folder / f"started{{i}}").exists() for i in range(2)):
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGTERM)
            for t in threads:
                t.join()
        print(json.dumps(results))
    """)
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                          preexec_fn=default_signals(), stdin=subprocess.DEVNULL)  # noqa: PLW1509  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"0": "terminated", "1": "terminated"}
    for i in range(2):
        nb = read_nb(tmp_path / f"out{i}.ipynb")
        assert nb.cells[-1].metadata.nbrunner["status"] == "terminated"
        assert json.loads((tmp_path / f"out{i}.run.json").read_text())["status"] == "terminated"
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_kernel_of(p, str(tmp_path))]


def _is_kernel_of(pid: str, folder: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read().decode(errors="replace")
        with open(f"/proc/{pid}/environ", "rb") as handle:
            environ = handle.read().decode(errors="replace")
    except OSError:
        return False
    return "kernel_app" in cmdline and folder in environ
