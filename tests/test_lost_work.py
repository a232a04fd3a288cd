"""Nothing silently lost: the caller's folder vanishing, SIGHUP, names that pass the checks and then fail, Unicode
names, and what the log says of cells that were stopped or timed out."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbrunner.errors import RunTimeout, error_line
from nbrunner.run.execute import Progress, Settings, _Engine
from tests.conftest import Result, default_signals, invoke, read_nb, run_cli


@pytest.mark.parametrize(("signum", "code", "status"), [(signal.SIGHUP, 129, "hung-up"),
                                                        (signal.SIGTERM, 143, "terminated")])  # fmt: skip
def test_a_stop_after_the_callers_folder_was_deleted_still_saves_the_notebook(
    notebooks: Path, tmp_path: Path, signum: int, code: int, status: str
) -> None:
    """Airflow's BashOperator deletes the task's working folder, then signals the process group."""
    work = tmp_path / "airflow-task-tmp"
    work.mkdir()
    out = tmp_path / "out" / "slow.ipynb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbrunner", "run", str(notebooks / "slow.ipynb"), "-r",
         f"pid_file={tmp_path / 'kernel.pid'}", "-o", str(out), "--log-output"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, cwd=work,
        preexec_fn=default_signals(),  # noqa: PLW1509 - as a scheduler's child, even where the suite runs under nohup
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # wait until the slow cell runs
        seen.append(line)
        if line.startswith("[cell 3] sleeping"):
            break
    shutil.rmtree(work)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    stderr = "".join(seen) + stderr
    assert proc.returncode == code, stderr
    record = Result(proc.returncode, stdout, stderr).record
    assert record["status"] == status and record["exit_code"] == code
    nb = read_nb(out)
    assert nb.cells[4].metadata.nbrunner["status"] == status
    assert f"cell 3/4 {status}" in stderr  # the progress line says what the record says
    own = [line for line in stderr.splitlines() if not line.startswith("[cell ")]  # not the cell's logged outputs
    assert "Traceback" not in "\n".join(own)


def test_names_that_would_fail_after_the_run_are_refused_before_it(notebooks: Path, tmp_path: Path) -> None:
    long_stem = "n" * 235  # 235 + ".run.json" fits 255, its temporary file (14 more) does not
    too_long = invoke("run", str(notebooks / "ok.ipynb"), "-o", str(tmp_path / f"{long_stem}.ipynb"))
    assert too_long.code == 2 and "longer than the file system allows" in too_long.stderr
    dots = notebooks / "...ipynb"
    shutil.copy(notebooks / "ok.ipynb", dots)
    climbing = invoke("run", str(dots), "-o", str(tmp_path / "out" / "{notebook}" / "x.ipynb"))
    assert climbing.code == 2 and "climbs out of the folder" in climbing.stderr
    assert not (tmp_path / "x.ipynb").exists() and not (tmp_path / "out").exists()


def test_parameter_names_are_normalised_as_python_reads_them(notebooks: Path, tmp_path: Path) -> None:
    result = run_cli("run", str(notebooks / "params.ipynb"), "-p", "\uff44ate=2026-02-02", "-o",
                     str(tmp_path / "{date}.ipynb"))  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.record["parameters"] == {"date": "2026-02-02"}
    assert Path(result.record["output"]).name == "2026-02-02.ipynb"


def test_a_timed_out_cell_gets_its_progress_line(notebooks: Path, tmp_path: Path) -> None:
    result = run_cli("run", str(notebooks / "slow.ipynb"), "-r", f"pid_file={tmp_path / 'pid'}",
                     "--cell-timeout", "3", "-o", str(tmp_path / "o.ipynb"))  # fmt: skip
    assert result.code == 5, result.stderr
    assert "cell 3/4 timeout" in result.stderr


def test_no_cell_starts_once_the_run_deadline_passed() -> None:
    """The deadline is checked at every cell boundary too, not only while waiting for a reply."""
    engine = _Engine(Settings(deadline=time.monotonic() - 0.1, run_timeout=10), Progress(), [])
    with pytest.raises(RunTimeout) as late:
        engine.started({"metadata": {}}, cell_index=2)
    assert late.value.scope == "run" and "before cell 2" in str(late.value)


def test_a_spark_4_worker_error_line_has_one_colon() -> None:
    evalue = (
        "An exception was thrown from the Python worker. Please see the stack trace below.:\n"
        "Traceback ...\nZeroDivisionError: division by zero"
    )
    line = error_line(evalue)
    assert "::" not in line and line.endswith(": ZeroDivisionError: division by zero")


def test_an_output_flood_loses_nothing_on_a_loaded_machine(tmp_path: Path) -> None:
    """30,000 flushed lines (nbrunner kept 80% of them before the IOPub sockets lost their high-water marks),
    with both cores kept busy by a CPU hog for the whole run, then a carriage-return progress bar."""
    import nbformat
    from nbformat import v4

    nb = v4.new_notebook(cells=[
        v4.new_code_cell("for i in range(30000):\n    print(i, flush=True)"),
        v4.new_code_cell("for i in range(5001):\n    print(f'\\r{i}', end='', flush=True)\nprint()"),
    ])  # fmt: skip
    nbformat.write(nb, tmp_path / "flood.ipynb")
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        result = run_cli("run", str(tmp_path / "flood.ipynb"), "--no-html", "-q", "-o", str(tmp_path / "o.ipynb"),
                         timeout=600)  # fmt: skip
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert result.code == 0, result.stderr
    out = read_nb(tmp_path / "o.ipynb")
    printed = "".join(o.text for o in out.cells[0].outputs if o.output_type == "stream").split()
    assert printed == [str(i) for i in range(30000)]
    bar = "".join(o.text for o in out.cells[1].outputs if o.output_type == "stream")
    assert bar.rstrip("\n").rsplit("\r", 1)[-1] == "5000"  # the final state of the bar arrived
    assert result.record["outputs_lost"] == [] and "never arrived" not in result.stderr


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.05, 0.1, 0.2, 0.4])
def test_a_sigterm_at_any_moment_of_start_up_is_a_stop_whose_code_and_record_agree(
    notebooks: Path, tmp_path: Path, delay: float
) -> None:
    """From nbrunner's first line on (imports, options, the plan, the kernel's start) a SIGTERM ends nbrunner as a
    stop: exit 143 with one line, never a traceback of nbrunner's; a record printed says 143 too. Before its first
    line (the interpreter still starting) the signal's default kills it, and nothing at all was done."""
    out = tmp_path / "out" / "slow.ipynb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbrunner", "run", str(notebooks / "slow.ipynb"), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    if proc.returncode == -signal.SIGTERM:
        assert stdout == stderr == "" and not out.parent.exists()
        return
    assert proc.returncode == 143, stderr
    own = "\n".join(line for line in stderr.splitlines() if not line.startswith("[kernel]"))  # the kernel's own
    assert "Traceback" not in own and "stopped by SIGTERM" in own, stderr
    if stdout.strip():  # the signal came once nbrunner could say so
        assert Result(proc.returncode, stdout, stderr).record["exit_code"] == 143


def test_a_sighup_the_caller_ignores_stays_ignored(notebooks: Path, tmp_path: Path) -> None:
    """Under ``nohup`` a hang-up must not stop the run."""
    out = tmp_path / "out" / "slow.ipynb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbrunner", "run", str(notebooks / "slow.ipynb"), "-p", "seconds=3", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),  # noqa: PLW1509 - what nohup does
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the slow cell runs
        seen.append(line)
        if "cell 2/" in line:
            break
    proc.send_signal(signal.SIGHUP)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(seen) + stderr
    assert "woke up\n" in "".join(o.get("text", "") for o in read_nb(out).cells[3].outputs)


def test_the_kernel_exits_by_itself_at_the_end_of_every_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ipykernel's shutdown raced with the interpreter's exit: in about one run in four the kernel hung in a flush
    until jupyter_client terminated it, a second later. Twelve runs in a row now end with the kernel's own exit
    (nbrunner warns when it has to terminate one: the next test shows the warning)."""
    import logging

    import nbformat

    from nbrunner import run_notebook

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell("print('ok')")]
    source = tmp_path / "small.ipynb"
    nbformat.write(nb, source)
    with caplog.at_level(logging.WARNING, logger="nbrunner"):
        for i in range(12):
            assert run_notebook(source, tmp_path / f"out-{i}.ipynb", html=False).status == "succeeded"
    assert [r.getMessage() for r in caplog.records if "did not exit" in r.getMessage()] == []


def test_a_kernel_kept_alive_by_the_notebook_is_terminated_with_a_warning(tmp_path: Path) -> None:
    """A non-daemon thread the notebook left running keeps the kernel's interpreter from exiting: the run still
    succeeds, stderr says why the kernel was terminated, and no kernel process is left."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell("import os, threading, time\nprint(os.getpid())\n"
                                          "threading.Thread(target=time.sleep, args=(600,)).start()")]  # fmt: skip
    source = tmp_path / "lingers.ipynb"
    nbformat.write(nb, source)
    result = run_cli("run", str(source), "-o", str(tmp_path / "out.ipynb"), "--no-html")
    assert result.code == 0, result.stderr
    assert "the kernel did not exit after its shutdown request: the notebook's thread 'Thread-" in result.stderr
    pid = int(read_nb(tmp_path / "out.ipynb").cells[0].outputs[0].text.split()[0])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
