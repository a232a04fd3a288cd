"""`nbrunner run` end to end: the real CLI in a subprocess, a real ipykernel, tiny notebooks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NOTEBOOKS, Result, default_signals, read_nb, run_cli


def current_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def outputs_text(cell: object) -> str:
    parts = []
    for out in cell.outputs:  # type: ignore[attr-defined]
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(out.data.get("text/plain", ""))
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
    return "".join(parts)


# -- exit code 0 --------------------------------------------------------------------------------------------------


def test_success_writes_notebook_html_and_record(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-p", "greeting=hi")
    assert result.code == 0, result.stderr
    record = result.record
    assert record["status"] == "succeeded" and record["exit_code"] == 0
    out = Path(record["output"])
    assert out == notebooks / "ok.out.ipynb"
    nb = read_nb(out)
    # the kernel ran in the notebook's folder, with the injected value
    assert outputs_text(nb.cells[3]).strip() == f"hi from {notebooks}"
    assert nb.cells[2].metadata.tags == ["injected-parameters"] and nb.cells[2].source.endswith("greeting = 'hi'\n")
    assert outputs_text(nb.cells[4]) == "42"
    for cell in nb.cells[1:]:
        meta = cell.metadata.nbrunner
        assert meta["status"] == "ok" and meta["duration"] >= 0 and meta["start"] <= meta["end"]
    assert "nbrunner" not in nb.cells[0].metadata  # markdown is not executed
    meta = nb.metadata.nbrunner
    assert meta["run_id"] == record["run_id"] and meta["parameters"] == {"greeting": "hi"}
    assert meta["input_sha256"] == __import__("hashlib").sha256((notebooks / "ok.ipynb").read_bytes()).hexdigest()
    assert meta["versions"]["kernel"]["version"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    on_disk = json.loads((notebooks / "ok.out.run.json").read_text())
    assert on_disk == record
    assert (out.stat().st_mode & 0o777) == 0o666 & ~current_umask()  # not mkstemp's 0600
    html = (notebooks / "ok.out.html").read_text()
    assert "<html" in html and "hi from" in html
    # stdout holds only the record; progress lines go to stderr
    assert len(result.stdout.strip().splitlines()) == 1
    assert "[nbrunner] cell 4/4 ok" in result.stderr


def test_sys_exit_0_stops_the_run_as_success(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "sysexit0.ipynb"))
    assert result.code == 0, result.stderr
    assert result.record["message"] == "stopped early by sys.exit(0)"
    nb = read_nb(Path(result.record["output"]))
    assert nb.cells[1].metadata.nbrunner["status"] == "exited"
    assert nb.cells[2].metadata.nbrunner == {"status": "not-run"} and nb.cells[2].outputs == []


def test_typed_parameters_reach_the_notebook_with_their_types(notebooks: Path, tmp_path: Path) -> None:
    params_file = tmp_path / "p.yaml"
    params_file.write_text("n: 5\nlabel: from-file\nids: [1, 2]\n")
    result = run_cli(
        "run", str(notebooks / "params.ipynb"), "-f", str(params_file),
        "-p", "n=7", "-p", "ratio=2", "-p", "flag=true", "-r", "label=007", "-p", "date=2026-11-20",
        "-p", "anything=null", "-o", str(tmp_path / "out" / "{notebook}-{date}-{n}.ipynb"),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    out = tmp_path / "out" / "params-2026-11-20-7.ipynb"
    assert result.record["output"] == str(out)
    printed = json.loads(outputs_text(read_nb(out).cells[2]))
    assert printed == {
        "date": ["2026-11-20", "str"],
        "n": [7, "int"],
        "ratio": [2, "int"],
        "flag": [True, "bool"],
        "label": ["007", "str"],
        "anything": [None, "NoneType"],
        "ids": [[1, 2], "list"],
    }


def test_no_parameters_cell_injects_at_the_top_and_warns(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "noparams.ipynb"), "-p", "date=2026-11-20")
    assert result.code == 0, result.stderr
    assert "no cell tagged 'parameters'" in result.stderr
    nb = read_nb(Path(result.record["output"]))
    assert nb.cells[0].metadata.tags == ["injected-parameters"]
    assert outputs_text(nb.cells[2]).strip() == "'2026-11-20'"


def test_non_ascii_cells_and_values(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "unicode.ipynb"), "-p", "城市=上海", "-o", str(notebooks / "{城市}.ipynb"))
    assert result.code == 0, result.stderr
    assert result.record["parameters"] == {"城市": "上海"}
    nb = read_nb(notebooks / "上海.ipynb")
    assert outputs_text(nb.cells[3]).strip() == "报告: 上海"
    assert "上海" in (notebooks / "上海.html").read_text(encoding="utf-8")


def test_prepare_only_writes_the_parameterized_notebook_and_runs_nothing(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "fails.ipynb"), "-p", "x=2", "--prepare-only")
    assert result.code == 0, result.stderr
    assert result.record["status"] == "prepared"
    nb = read_nb(Path(result.record["output"]))
    assert nb.cells[1].source.endswith("x = 2\n")
    assert all(cell.get("outputs", []) == [] for cell in nb.cells)


def test_rerunning_an_output_notebook_does_not_stack_injected_cells(notebooks: Path, tmp_path: Path) -> None:
    first = run_cli("run", str(notebooks / "ok.ipynb"), "-p", "greeting=a", "-o", str(tmp_path / "one.ipynb"))
    second = run_cli("run", str(tmp_path / "one.ipynb"), "-p", "greeting=b", "-o", str(tmp_path / "two.ipynb"))
    assert (first.code, second.code) == (0, 0), second.stderr
    nb = read_nb(tmp_path / "two.ipynb")
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and injected[0].source.endswith("greeting = 'b'\n")


def test_log_output_streams_cell_prefixed_lines(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "ok.ipynb"), "--log-output")
    assert result.code == 0
    assert f"[cell 2] hello from {notebooks}" in result.stderr
    assert "[cell 3] 42" in result.stderr


def test_cwd_option_and_nbrunner_output_variable(notebooks: Path, tmp_path: Path) -> None:
    result = run_cli(
        "run", str(notebooks / "ok.ipynb"), "--cwd", str(tmp_path),
        env={"NBRUNNER_OUTPUT": str(tmp_path / "env-{notebook}.ipynb")},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    nb = read_nb(tmp_path / "env-ok.ipynb")
    assert outputs_text(nb.cells[2]).strip() == f"hello from {tmp_path}"


def test_python_dash_m_and_console_script_are_the_same_command(notebooks: Path) -> None:
    script = Path(sys.executable).parent / "nbrunner"
    proc = subprocess.run([str(script), "inspect", str(notebooks / "params.ipynb"), "--json"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    module = run_cli("inspect", str(notebooks / "params.ipynb"), "--json")
    assert proc.returncode == module.code == 0
    assert json.loads(proc.stdout) == json.loads(module.stdout)


def test_inspect_lists_parameters_and_survives_odd_cells(notebooks: Path) -> None:
    result = run_cli("inspect", str(notebooks / "odd_params.ipynb"), "--json")
    assert result.code == 0
    found = {p["name"]: p for p in json.loads(result.stdout)["parameters"]}
    assert set(found) == {"items", "rate", "today", "a", "b"}
    assert found["rate"] == {"name": "rate", "type": "float", "default": 1.5, "default_source": None,
                             "help": "a rate", "line": 7, "secret_capable": False}  # fmt: skip
    assert found["today"]["default_source"] == "datetime.date.today()"
    assert "line 6 skipped" in result.stderr
    table = run_cli("inspect", str(notebooks / "params.ipynb"))
    assert "  n: int = 10  # how many rows" in table.stdout


# -- exit code 1 --------------------------------------------------------------------------------------------------


def test_internal_error_exits_1_and_still_writes_the_notebook(notebooks: Path, tmp_path: Path) -> None:
    # a real bug, planted through sitecustomize: counting cells blows up after the run
    (tmp_path / "sitecustomize.py").write_text(
        "import nbrunner.core.record as r\n"
        "def broken(nb):\n    raise RuntimeError('planted bug')\n"
        "r.count_cells = broken\n"
        "import nbrunner.run.pipeline as run\nrun.count_cells = broken\n"
    )
    result = run_cli("run", str(notebooks / "ok.ipynb"), env={"PYTHONPATH": f"{tmp_path}:{os.getcwd()}"})
    assert result.code == 1
    assert "internal error" in result.stderr and "planted bug" in result.stderr
    assert result.record["status"] == "internal-error"
    nb = read_nb(notebooks / "ok.out.ipynb")
    assert nb.metadata.nbrunner["exit_code"] == 1
    assert "nbrunner-error-banner" in nb.cells[0].metadata.tags
    assert outputs_text(nb.cells[4]) == "42"  # the run's work is kept


# -- exit code 2 --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.ipynb"], "notebook 'missing.ipynb' does not exist"),
        (["run", "{bad}"], "invalid JSON"),
        (["run", "{ok}", "--no-such-option"], "No such option '--no-such-option'"),
        (["run", "{ok}", "--cell-timeout", "-1"], "--cell-timeout -1.0: give a finite number of seconds"),
        (["run", "{ok}", "--timeout", "nan"], "--timeout nan: give a finite number of seconds"),
        (["run", "{ok}", "--timeout", "inf"], "--timeout inf: give a finite number of seconds"),
        (["run", "{ok}", "--cell-timeout", "0"], "--cell-timeout 0: give a number of seconds above 0"),
        (["run", "{ok}", "--checkpoint-every", "nan"], "--checkpoint-every nan: give a finite number"),
        (["run", "{ok}", "-o", "{greeting:d}.ipynb", "-p", "greeting=1"], "placeholders take no format spec"),
        (["run", "{ok}", "-o", "s3://bucket//x.ipynb"], "the key has an empty, '.' or '..' segment"),
        (["run", "/dev/zero"], "is not a regular file"),
        (["run", "{fifo}"], "is not a regular file"),
        (["run", "{ok}", "-o", "x" * 250 + ".ipynb"], "is longer than the file system allows"),
        (["run", "{ok}", "-o", "{blocker}/out.ipynb"], "is not a folder; pick another -o"),
        (["run", "{ok}", "-o", "out.txt"], "must end in .ipynb"),
        (["run", "{ok}", "-o", "{nope}.ipynb"], "unknown placeholder {nope}"),
        (["run", "{ok}", "-o", "{ok}"], "never overwrites its input"),
        (["run", "{ok}", "--kernel", "no-such-kernel"], "no such kernelspec"),
        (["run", "{ok}", "--cwd", "/no/such/dir"], "not a directory"),
        (["run", "ftp://namenode/nb.ipynb"], "ftp:// is not supported"),
        (["run", "hdfs://namenode/nb.ipynb"], "run nbrunner under spark-submit"),
    ],
)
def test_usage_errors_exit_2_with_one_clear_line(notebooks: Path, args: list[str], message: str) -> None:
    (notebooks / "bad.ipynb").write_text('{"cells": [')
    (notebooks / "blocker").write_text("a file, not a folder")
    os.mkfifo(notebooks / "fifo.ipynb")
    places = {"{ok}": "ok.ipynb", "{bad}": "bad.ipynb", "{fifo}": "fifo.ipynb", "{blocker}": "blocker"}
    for mark, name in places.items():
        args = [a.replace(mark, str(notebooks / name)) for a in args]
    result = run_cli(*args, cwd=notebooks)
    assert result.code == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (notebooks / "ok.out.ipynb").exists()


# -- exit code 3 --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "import os;x=1"], "is not a Python identifier"),
        (["-p", "grreting=hi"], "does not declare parameter 'grreting' (declared: greeting)"),
        (["-p", "x=1;import os;y=2"], "does not declare parameter 'x'"),
        (["-p", "n=abc"], "'n' is declared int but got str 'abc'"),
        (["-p", "date"], "expected NAME=VALUE"),
    ],
)
def test_bad_parameters_exit_3_before_any_kernel_starts(notebooks: Path, args: list[str], message: str) -> None:
    name = "params.ipynb" if args[1].startswith("n=") else "ok.ipynb"
    result = run_cli("run", str(notebooks / name), *args)
    assert result.code == 3, result.stderr
    assert message in result.stderr
    assert "[nbrunner] cell" not in result.stderr  # nothing ran
    assert "Traceback" not in result.stderr


# -- exit code 4 --------------------------------------------------------------------------------------------------


def test_failing_cell_exits_4_with_banner_outputs_and_untouched_later_cells(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "fails.ipynb"))
    assert result.code == 4
    record = result.record
    assert record["status"] == "failed"
    assert record["failed_cell"]["index"] == 2 and record["failed_cell"]["ename"] == "ValueError"
    assert "cell 2 failed: ValueError: the data is bad" in result.stderr
    nb = read_nb(Path(record["output"]))
    banner, cells = nb.cells[0], nb.cells[1:]
    assert banner.cell_type == "markdown" and "nbrunner-error-banner" in banner.metadata.tags
    assert "cell 2" in banner.source and "raise ValueError('the data is bad')" in banner.source
    assert outputs_text(cells[1]).strip() == "before the failure"
    assert "ValueError: the data is bad" in outputs_text(cells[2])
    assert cells[2].metadata.nbrunner["status"] == "failed"
    assert cells[3].outputs == [] and cells[3].metadata.nbrunner == {"status": "not-run"}
    assert nb.metadata.nbrunner["exit_code"] == 4


def test_sys_exit_nonzero_exits_4_and_records_the_code(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "sysexit1.ipynb"))
    assert result.code == 4
    assert result.record["failed_cell"]["sys_exit_code"] == 3
    assert "sys.exit(3)" in result.record["message"]


# -- exit code 5 --------------------------------------------------------------------------------------------------


def test_cell_timeout_exits_5_and_says_so(notebooks: Path) -> None:
    started = time.monotonic()
    result = run_cli("run", str(notebooks / "slow.ipynb"), "--cell-timeout", "1.5")
    assert result.code == 5, result.stderr
    assert time.monotonic() - started < 15
    record = result.record
    assert record["status"] == "timeout" and record["failed_cell"]["timeout_scope"] == "cell"
    assert "cell 2 exceeded --cell-timeout 1.5s" in record["message"]
    nb = read_nb(Path(record["output"]))
    assert nb.cells[3].metadata.nbrunner["status"] == "timeout"
    assert "sleeping" in outputs_text(nb.cells[3])
    assert "timeout" in nb.cells[0].source


def test_whole_run_timeout_exits_5(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "slow.ipynb"), "--timeout", "3", "--cell-timeout", "60")
    assert result.code == 5, result.stderr
    assert result.record["failed_cell"]["timeout_scope"] == "run"
    assert "--timeout 3s" in result.record["message"]


# -- exit code 6 --------------------------------------------------------------------------------------------------


def test_dead_kernel_exits_6(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "dies.ipynb"))
    assert result.code == 6, result.stderr
    record = result.record
    assert record["status"] == "kernel-died" and record["failed_cell"]["index"] == 1
    nb = read_nb(Path(record["output"]))
    assert nb.cells[2].metadata.nbrunner["status"] == "kernel-died"
    assert "about to die" in outputs_text(nb.cells[1])


def test_kernel_that_cannot_start_exits_6(notebooks: Path, tmp_path: Path) -> None:
    spec = tmp_path / "kernels" / "broken"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": [sys.executable, "-c", "raise SystemExit(1)",
                                                           "{connection_file}"],
                                                  "display_name": "broken", "language": "python"}))  # fmt: skip
    result = run_cli("run", str(notebooks / "ok.ipynb"), "--kernel", "broken", "--start-timeout", "10",
                     env={"JUPYTER_PATH": str(tmp_path)})  # fmt: skip
    assert result.code == 6, result.stderr
    assert result.record["status"] == "kernel-died"
    assert Path(result.record["output"]).exists()


# -- exit code 8 --------------------------------------------------------------------------------------------------


def test_output_folder_lost_during_the_run_exits_8_and_keeps_a_copy_elsewhere(notebooks: Path, tmp_path: Path) -> None:
    # the output folder is fine before the run; a cell replaces it with a file, so writing there fails after it
    out = tmp_path / "out"
    out.mkdir()
    nb = nbformat_v4().new_notebook(cells=[nbformat_v4().new_code_cell(
        f"import shutil; shutil.rmtree({str(out)!r}); open({str(out)!r}, 'w').close(); print('work done')"
    )])  # fmt: skip
    (notebooks / "sabotage.ipynb").write_text(__import__("nbformat").writes(nb))
    (tmp_path / "tmp").mkdir()
    result = run_cli("run", str(notebooks / "sabotage.ipynb"), "-o", str(out / "report.ipynb"),
                     env={"TMPDIR": str(tmp_path / "tmp")})  # fmt: skip
    assert result.code == 8, result.stderr
    kept = Path(result.record["storage"]["local_copy"])
    assert f"the local copy is kept at {kept}" in result.stderr
    assert kept.name == "report.ipynb" and kept.is_relative_to(tmp_path / "tmp")  # TMPDIR, after the output folder
    saved = read_nb(kept)
    assert saved.metadata.nbrunner["status"] == "storage-error"
    assert "work done" in outputs_text(saved.cells[0])
    assert kept.with_name("report.run.json").exists() and kept.with_name("report.html").exists()


def nbformat_v4() -> Any:
    from nbformat import v4

    return v4


# -- exit codes 130 / 143 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code", "status"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_signal_saves_partial_notebook_and_leaves_no_kernel(
    notebooks: Path, tmp_path: Path, signum: int, code: int, status: str
) -> None:
    pid_file = tmp_path / "kernel.pid"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbrunner", "run", str(notebooks / "slow.ipynb"), "-r", f"pid_file={pid_file}",
         "--log-output"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        preexec_fn=default_signals(),  # noqa: PLW1509 - SIGINT as a child gets it, even where the suite ignores it
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until nbrunner has the slow cell's first output
        if line.startswith("[cell 3] sleeping"):
            break
    kernel_pid = int(pid_file.read_text())
    sent = time.monotonic()
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert time.monotonic() - sent < 20  # the stop ends the run, not the cell's 30 s sleep
    record = Result(proc.returncode, stdout, stderr).record
    assert record["status"] == status and record["failed_cell"]["index"] == 3
    nb = read_nb(Path(record["output"]))
    assert nb.cells[4].metadata.nbrunner["status"] == status
    assert "sleeping" in outputs_text(nb.cells[4])
    time.sleep(0.2)
    assert not Path(f"/proc/{kernel_pid}").exists() or "zombie" in Path(f"/proc/{kernel_pid}/status").read_text()


def test_exit_code_table_is_in_help() -> None:
    result = run_cli("--help")
    assert result.code == 0
    for code in (0, 1, 2, 3, 4, 5, 6, 7, 8, 130, 143):
        assert re.search(rf"^ +{code}  [A-Za-z]", result.stdout, re.MULTILINE), code


def test_all_notebooks_are_checked_in() -> None:
    names = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert {
        "ok",
        "params",
        "fails",
        "dies",
        "slow",
        "sysexit0",
        "sysexit1",
        "noparams",
        "odd_params",
        "unicode",
    } <= names


def test_several_notebooks_run_in_order_and_the_first_failure_decides(notebooks: Path, tmp_path: Path) -> None:
    paths = [str(notebooks / name) for name in ("ok.ipynb", "fails.ipynb", "sysexit0.ipynb")]
    stop = run_cli("run", *paths, "-o", f"{tmp_path}/{{notebook}}.ipynb")
    assert stop.code == 4, stop.stderr
    assert [run["status"] for run in stop.record["runs"]] == ["succeeded", "failed", "not-run"]
    assert not (tmp_path / "sysexit0.ipynb").exists()
    going = run_cli("run", *paths, "-o", f"{tmp_path}/{{notebook}}.ipynb", "--keep-going")
    assert going.code == 4 and [run["status"] for run in going.record["runs"]] == ["succeeded", "failed", "succeeded"]
    assert read_nb(tmp_path / "sysexit0.ipynb").metadata.nbrunner["status"] == "succeeded"
    clash = run_cli("run", *paths, "-o", str(tmp_path / "one.ipynb"))
    assert clash.code == 2 and "put {notebook} in it" in clash.stderr


@pytest.mark.parametrize(
    ("evalue", "line"),
    [
        ("division by zero", "division by zero"),
        (
            "An exception was thrown from the Python worker. Please see the stack trace below.\nTraceback (most "
            'recent call last):\n  File "<stdin>", line 1\nZeroDivisionError: division by zero\n',
            "An exception was thrown from the Python worker. Please see the stack trace below: ZeroDivisionError: "
            "division by zero",
        ),
        (
            "An error occurred while calling None.org.apache.spark.api.java.JavaSparkContext.\n: java.lang."
            "IllegalArgumentException: System memory 1024 must be at least 471859200.\n\tat org.apache.spark.x(y)\n",
            "java.lang.IllegalArgumentException: System memory 1024 must be at least 471859200.",
        ),
        (
            # pyspark 3.5: a task's Python exception reaches the notebook as a Py4JJavaError around its traceback
            "An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.\n"
            ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage 0.0 failed 1 "
            "times, most recent failure: Lost task 1.0 (TID 1) (127.0.0.1 executor driver): org.apache.spark.api."
            "python.PythonException: Traceback (most recent call last):\n"
            '  File "/venv/pyspark/python/lib/pyspark.zip/pyspark/worker.py", line 1247, in main\n'
            "    process()\n"
            '  File "/tmp/ipykernel_1/42.py", line 1, in <lambda>\n'
            "ZeroDivisionError: division by zero\n"
            "\n"
            "\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner."
            "scala:572)\n"
            "Driver stacktrace:\n"
            "\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2898)\n"
            "Caused by: org.apache.spark.api.python.PythonException: Traceback (most recent call last):\n",
            "An exception was thrown from the Python worker: ZeroDivisionError: division by zero",
        ),
        ("", ""),
    ],
)
def test_the_line_of_an_error_that_says_what_went_wrong(evalue: str, line: str) -> None:
    from nbrunner.errors import error_line

    assert error_line(evalue) == line


def test_choosing_this_interpreters_kernel_imports_no_jupyter_client() -> None:
    # under spark-submit the SparkContext's creation starts right after the plan: choosing the kernel stays light
    code = (
        "import sys\n"
        "from nbrunner.core.kernels import kernel_choice\n"
        "choice = kernel_choice(None, {'kernelspec': {'name': 'python3', 'language': 'python'}})\n"
        "print('jupyter_client' in sys.modules)\n"
        "spec = choice.kernelspec()\n"
        "print(spec.argv[0] == sys.executable, spec.language)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["False", "True", "python"]


def test_a_chain_file_gives_each_notebook_its_own_parameters_and_output(notebooks: Path, tmp_path: Path) -> None:
    (tmp_path / "common.yaml").write_text("n: 9\nratio: 0.25\n")
    chain = tmp_path / "nightly.yaml"
    chain.write_text(
        "notebooks:\n"
        "  - notebook: nbs/params.ipynb\n"  # paths are the chain file's
        "    parameters: {n: 3}\n"
        "    output: out/first.ipynb\n"
        "  - notebook: nbs/params.ipynb\n"
        "    parameters: {n: 4, label: second}\n"
        "  - nbs/ok.ipynb\n"
    )
    result = run_cli(
        "run", "--chain-file", str(chain), "-f", str(tmp_path / "common.yaml"), "-o", f"{tmp_path}/{{notebook}}.ipynb",
        "--allow-undeclared", "-p", "label=cli", cwd=notebooks,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    runs = result.record["runs"]
    assert [run["status"] for run in runs] == ["succeeded"] * 3
    # -f, then the entry's parameters, then -p: a later one wins
    assert runs[0]["parameters"] == {"n": 3, "ratio": 0.25, "label": "cli"}
    assert runs[1]["parameters"] == {"n": 4, "ratio": 0.25, "label": "cli"}
    assert runs[0]["output"] == str(tmp_path / "out" / "first.ipynb")
    assert runs[1]["output"] == str(tmp_path / "params.ipynb") and runs[2]["output"] == str(tmp_path / "ok.ipynb")
    cells = read_nb(tmp_path / "out" / "first.ipynb").cells
    injected = [cell for cell in cells if "injected-parameters" in cell.metadata.get("tags", [])]
    assert "n = 3" in injected[0].source and "label = 'cli'" in injected[0].source


@pytest.mark.parametrize(
    ("content", "extra", "code", "message"),
    [
        ("- notebook: nbs/ok.ipynb\n  parameter: {x: 1}\n", (), 2, "entry 1: unknown key 'parameter'"),
        ("notebooks: []\n", (), 2, "expected a list of notebooks (or notebooks: [...]), got an empty list"),
        ("notebook: nbs/ok.ipynb\n", (), 2, "got dict"),
        ("- [nbs/ok.ipynb]\n", (), 2, "entry 1: expected a notebook or a mapping with 'notebook', got list"),
        ("- {output: x.ipynb}\n", (), 2, "entry 1: 'notebook' must be the notebook's path"),
        ("- {notebook: nbs/ok.ipynb, parameters: [1]}\n", (), 3, "entry 1, parameters: expected a mapping"),
        ("- {notebook: nbs/ok.ipynb, parameters: {1x: 2}}\n", (), 3, "entry 1, parameters"),
        ("[nbs/ok.ipynb,\n", (), 2, "not valid YAML or JSON"),
        ("- nbs/ok.ipynb\n- nbs/ok.ipynb\n", ("-o", "one.ipynb"), 2, "put {notebook} in it"),
        ("- nbs/ok.ipynb\n", ("nbs/ok.ipynb",), 2, "not both"),
        ("- nbs/ok.ipynb\n", ("--resume", "x.run.json"), 2, "--resume takes one notebook"),
    ],
)
def test_a_chain_file_that_cannot_be_run_is_refused_in_one_line(
    notebooks: Path, content: str, extra: tuple[str, ...], code: int, message: str
) -> None:
    chain = notebooks.parent / "chain.yaml"
    chain.write_text(content)
    result = run_cli("run", "--chain-file", str(chain), *extra, cwd=notebooks.parent)
    assert result.code == code, result.stderr
    assert message in result.stderr, result.stderr
    assert not list(notebooks.glob("*.out.ipynb"))  # nothing ran


def test_a_chain_with_a_member_whose_parameters_cell_does_not_parse_is_refused_whole(tmp_path: Path) -> None:
    """The plan parses every member's parameters cell (IPython's syntax: magics and ``!cmd`` are fine) before
    anything runs: one that does not parse refuses the chain in one line naming it, exit 3, and nothing ran."""
    import nbformat

    def notebook(name: str, parameters: str, code: str) -> str:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
        nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell(code)]  # fmt: skip
        nbformat.write(nb, tmp_path / name)
        return str(tmp_path / name)

    ran = tmp_path / "ran"
    first = notebook("first.ipynb", f"marker = {str(ran)!r}", "open(marker, 'w').write('the first member ran')")
    broken = notebook("broken.ipynb", "rows = 10\nwhen = (\n", "print(rows)")
    result = run_cli("run", first, broken, "-o", f"{tmp_path}/out/")
    assert result.code == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.ipynb: the parameters cell (cell 0) does not parse" in lines[0], lines
    assert result.record["exit_code"] == 3
    assert not ran.exists() and not (tmp_path / "out").exists()
    magic = notebook("magic.ipynb", f"%config Application.log_level = 'WARN'\nmarker = {str(ran)!r}",
                     "open(marker, 'w').write('ran')")  # fmt: skip
    alone = run_cli("run", magic, "-o", f"{tmp_path}/out/")  # IPython's syntax parses
    assert alone.code == 0 and ran.exists(), alone.stderr
