"""Spark Connect (``--remote``): notebooks against a real Connect server from the pyspark wheel on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Result, invoke, read_nb, run_cli
from tests.connect_support import Server, connect_server
from tests.spark_support import free_port

pytestmark = pytest.mark.connect

ENDLESS = "from pyspark.sql import functions as F\nspark.range(10**13).select(F.sum(F.sqrt('id'))).collect()"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from connect_server(tmp_path_factory.mktemp("connect"))


def notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    if parameters is not None:
        nb.cells.append(nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def texts(nb: Any) -> list[str]:
    return ["".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def every_byte(*paths: Path, result: Result) -> str:
    return result.stdout + result.stderr + "".join(p.read_text(errors="replace") for p in paths if p.exists())


def test_a_notebook_runs_on_the_server_with_parameters_labels_and_facts_and_the_token_nowhere(
    server: Server, tmp_path: Path
) -> None:
    leak = tmp_path / "seen-by-the-kernel.txt"
    nb = notebook(
        tmp_path / "report.ipynb",
        "df = spark.range(n)\nprint('count', df.count())\ndf.createOrReplaceTempView('numbers')",
        "print(type(spark).__module__, spark.version)",
        # what the kernel and its children can see: environment and command lines, written where nbrunner's
        # redaction does not reach (a file of the test's), so a leak is seen as it is
        "import os, subprocess\n"
        "seen = [repr(dict(os.environ)), open('/proc/self/cmdline').read(),\n"
        "        open(f'/proc/{os.getppid()}/cmdline').read(),\n"
        "        subprocess.run(['env'], capture_output=True, text=True).stdout]\n"
        "open(leak, 'w').write('\\n'.join(seen))",
        parameters="n = 5\nleak = ''",
    )
    out = tmp_path / "out" / "report.ipynb"
    env = {"SPARK_CONNECT_AUTHENTICATE_TOKEN": server.token}  # withheld from the kernel as well
    result = run_cli("run", str(nb), "-p", "n=7", "-p", f"leak={leak}", "--remote", f"sc://localhost:{server.port}",
                     "-o", str(out), env=env)  # fmt: skip
    assert result.code == 0, result.stderr
    record = result.record
    spark = record["spark"]
    import pyspark

    assert spark["mode"] == "connect" and spark["server"] == f"sc://localhost:{server.port}"
    assert spark["spark_version"] == pyspark.__version__ and spark["application_id"].startswith("local-")
    assert spark["user_id"] and len(spark["session_id"]) == 36
    executed = read_nb(out)
    assert "count 7\n" in texts(executed)
    assert "pyspark.sql.connect.session" in " ".join(texts(executed))
    first = executed.cells[2].metadata["nbrunner"]  # the parameters, the injected cell, then this one
    assert first["spark_tag"] == f"nbrunner-{record['run_id']}-cell-2"
    assert first["spark_operations"] and set(first["spark_operations"].values()) == {"succeeded"}
    # the server's jobs carry the cell's tag on nbrunner's session
    tags = [tag for job in server.jobs() for tag in job.get("jobTags", [])]
    assert any(spark["session_id"] in tag and tag.endswith("_Tag_" + first["spark_tag"]) for tag in tags), tags
    seen = leak.read_text()
    assert "SPARK_REMOTE" not in seen and "SPARK_CONNECT_AUTHENTICATE_TOKEN" not in seen
    artifacts = [out, out.with_suffix(".html"), out.with_name("report.run.json")]
    assert server.token not in every_byte(leak, *artifacts, result=result)


EXAMPLE = Path(__file__).parent.parent / "examples" / "daily_report.ipynb"


def test_the_bundled_example_runs_on_the_server(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "out" / "daily_report.ipynb"
    result = run_cli("run", str(EXAMPLE), "-p", "rows=1000", "--remote", server.url, "-o", str(out))
    assert result.code == 0, result.stderr
    shown = texts(read_nb(out))
    facts = result.record["spark"]
    assert f"id={facts['application_id']} master=local[2] spark={facts['spark_version']}" in shown[0], shown
    assert "|category|events| total|" in shown[1] and shown[2] == "2026-11-20: 1000 events in 13 categories\n"
    artifacts = [out, out.with_suffix(".html"), out.with_name("daily_report.run.json")]
    assert server.token not in every_byte(*artifacts, result=result)


def test_a_notebook_that_makes_its_own_session_gets_nbrunners(server: Server, tmp_path: Path) -> None:
    nb = notebook(
        tmp_path / "own.ipynb",
        "spark.range(3).createOrReplaceTempView('made_by_nbrunners_spark')",
        "import threading\nfrom pyspark.sql import SparkSession\n"
        "mine = SparkSession.builder.appName('x').config('spark.sql.shuffle.partitions', '7').getOrCreate()\n"
        "elsewhere = []\n"
        "thread = threading.Thread(target=lambda: elsewhere.append(SparkSession.builder.getOrCreate()))\n"
        "thread.start(); thread.join()\n"
        "found = [mine, SparkSession.builder.getOrCreate(), SparkSession.getActiveSession(), SparkSession.active(),\n"
        "         *elsewhere]\n"
        "print('same', all(s is spark for s in found), spark.session_id)\n"
        "print('view', mine.table('made_by_nbrunners_spark').count(), spark.conf.get('spark.sql.shuffle.partitions'))",
    )
    out = tmp_path / "own.out.ipynb"
    result = run_cli("run", str(nb), "--remote", server.url, "-o", str(out))
    assert result.code == 0, result.stderr
    shown = texts(read_nb(out))
    assert shown == [f"same True {result.record['spark']['session_id']}\nview 3 7\n"], shown
    assert server.token not in every_byte(out, out.with_suffix(".html"), result=result)


def test_a_long_jvm_error_is_kept_whole_in_the_notebook_and_shortened_in_the_record(
    server: Server, tmp_path: Path
) -> None:
    nb = notebook(
        tmp_path / "trace.ipynb",
        "spark.conf.set('spark.sql.pyspark.jvmStacktrace.enabled', 'true')  # the server's JVM trace in the error\n"
        "spark.sql('select * from no_such_table_here').collect()",
    )
    out = tmp_path / "trace.out.ipynb"
    result = run_cli("run", str(nb), "--remote", server.url, "-o", str(out))
    assert result.code == 4, result.stderr
    executed = read_nb(out)
    (error,) = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs if "evalue" in o]
    whole, kept = error["evalue"], result.record["failed_cell"]["evalue"]
    assert len(whole) > 3000 and "JVM stacktrace" in whole, len(whole)
    assert kept.startswith("[TABLE_OR_VIEW_NOT_FOUND] The table or view `no_such_table_here` cannot be found")
    kept_part, _, more = kept.rpartition("\n… (")
    assert whole.startswith(kept_part) and 500 < len(kept_part) <= 1000, kept
    assert more == f"{len(whole) - len(kept_part)} more characters in the notebook)", more
    record_file = json.loads(out.with_name("trace.out.run.json").read_text())
    assert record_file["failed_cell"]["evalue"] == kept == executed.metadata["nbrunner"]["failed_cell"]["evalue"]
    banner = "".join(executed.cells[0].source)
    assert "TABLE_OR_VIEW_NOT_FOUND" in banner and "JVM stacktrace" not in banner and len(banner) < 1000, banner


def test_a_python_workers_exception_cut_off_a_long_evalue_still_ends_the_records() -> None:
    from nbrunner.core.record import shortened

    frames = "".join(
        f'  File "/opt/spark/python/lib/pyspark.zip/pyspark/worker.py", line {n}, in main\n' for n in range(40)
    )
    worker = "An exception was thrown from the Python worker."
    kept = shortened(f"{worker}\nTraceback (most recent call last):\n{frames}ZeroDivisionError: x")
    assert len(kept) < 1200 and kept.startswith(f"{worker}\nTraceback")
    assert kept.endswith(
        " more characters in the notebook)\nAn exception was thrown from the Python worker: ZeroDivisionError: x"
    )
    assert shortened("short\nenough") == "short\nenough"


def test_a_spark_failure_names_the_error_and_sc_says_it_is_not_available(server: Server, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "missing.ipynb", "spark.sql('select * from no_such_table_here').collect()")
    result = run_cli("run", str(nb), "--remote", server.url, "-o", str(tmp_path / "missing.out.ipynb"))
    assert result.code == 4, result.stderr
    assert "TABLE_OR_VIEW_NOT_FOUND" in result.record["message"] and "no_such_table_here" in result.record["message"]
    nb = notebook(tmp_path / "old.ipynb", "rdd = sc.parallelize([1, 2, 3])")
    out = tmp_path / "old.out.ipynb"
    result = run_cli("run", str(nb), "--remote", server.url, "-o", str(out))
    assert result.code == 4, result.stderr
    message = result.record["message"]
    assert "SparkContextUnavailable" in message and "not available under Spark Connect" in message, message
    assert "not available under Spark Connect" in "".join(read_nb(out).cells[0].source)  # the banner says so
    assert server.token not in result.stdout + result.stderr + out.read_text()


def test_a_cell_timeout_interrupts_its_operations_and_leaves_no_job_running(server: Server, tmp_path: Path) -> None:
    # the endless query is the only cell: whatever the machine's load, the timeout falls in it, with 10 s for the
    # query to reach the server first (a remote call, the session being made already)
    nb = notebook(tmp_path / "endless.ipynb", ENDLESS)
    out = tmp_path / "endless.out.ipynb"
    result = run_cli("run", str(nb), "--remote", server.url, "--cell-timeout", "10", "-o", str(out))
    assert result.code == 5, result.stderr
    cell = read_nb(out).cells[-1].metadata["nbrunner"]
    assert cell["status"] == "timeout"
    assert set(cell["spark_operations"].values()) == {"cancelled"}, cell
    assert list(cell["spark_operations"]) == result.record["spark"]["interrupted_operations"]
    assert server.jobs_still_running() == []


def test_sigterm_interrupts_the_running_cell_on_the_server(server: Server, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "endless.ipynb", ENDLESS)
    out = tmp_path / "term.ipynb"
    command = [sys.executable, "-m", "nbrunner", "run", str(nb), "--remote", server.url, "-o", str(out)]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 240
        while not server.running_jobs():  # the cell's query has reached the server
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    record = json.loads(stdout.splitlines()[-1])
    assert record["status"] == "terminated"
    assert set(read_nb(out).cells[-1].metadata["nbrunner"]["spark_operations"].values()) == {"cancelled"}
    assert server.jobs_still_running() == []


def test_a_chain_shares_one_session_and_a_notebook_that_stops_it_hands_the_next_a_new_one(
    server: Server, tmp_path: Path
) -> None:
    writer = notebook(tmp_path / "writer.ipynb", "spark.range(4).createOrReplaceTempView('shared_numbers')")
    reader = notebook(tmp_path / "reader.ipynb", "print('rows', spark.table('shared_numbers').count())")
    stopper = notebook(tmp_path / "stopper.ipynb", "spark.range(1).count()\nspark.stop()")
    after = notebook(tmp_path / "after.ipynb", "print('after', spark.range(3).count())")
    out = f"{tmp_path}/out/{{notebook}}.ipynb"
    result = run_cli("run", str(writer), str(reader), str(stopper), str(after), "--remote", server.url, "-o", out)
    assert result.code == 0, result.stderr
    runs = result.record["runs"]
    sessions = [run["spark"]["session_id"] for run in runs]
    assert sessions[0] == sessions[1] == sessions[2] != sessions[3]
    assert runs[2]["spark"].get("session_stopped_by_notebook") is True
    assert "rows 4\n" in texts(read_nb(tmp_path / "out" / "reader.ipynb"))
    assert "after 3\n" in texts(read_nb(tmp_path / "out" / "after.ipynb"))
    written = sorted((tmp_path / "out").iterdir())
    assert len(written) == 12 and server.token not in every_byte(*written, result=result)  # 4 x ipynb, html, record


def test_the_python_api_runs_on_the_server(server: Server, tmp_path: Path) -> None:
    from nbrunner import SparkOptions, run_notebook

    nb = notebook(tmp_path / "api.ipynb", "import nbrunner\nnbrunner.output('total', spark.range(10).count())")
    record = run_notebook(str(nb), output=str(tmp_path / "api.out.ipynb"), spark=SparkOptions(remote=server.url))
    assert record.outputs == {"total": 10}
    assert record.spark is not None and record.spark["mode"] == "connect"
    assert server.token not in json.dumps(record.as_json())


@pytest.mark.parametrize(
    "remote, words",
    [
        ("sc://localhost:{free}/;token={token}", "cannot reach the Spark Connect server at sc://localhost:{free}"),
        ("sc://localhost:{port}/;token=not-the-right-token", "the token was refused"),
        ("sc://localhost:{port}", "it needs a token"),
        ("sc://127.0.0.1:{port}/;token={token}", "TLS mismatch"),
    ],
    ids=["unreachable", "wrong-token", "no-token", "tls-mismatch"],
)
def test_a_server_that_cannot_be_used_is_exit_7_in_one_line_before_any_kernel(
    server: Server, tmp_path: Path, remote: str, words: str
) -> None:
    values = {"free": free_port(), "port": server.port, "token": server.token}
    nb = notebook(tmp_path / "never.ipynb", "open('ran', 'w').write('yes')")
    started = time.monotonic()
    result = run_cli("run", str(nb), "--remote", remote.format(**values), "--remote-timeout", "3",
                     "-o", str(tmp_path / "never.out.ipynb"), cwd=tmp_path)  # fmt: skip
    assert result.code == 7, result.stderr
    assert time.monotonic() - started < 90  # pyspark's own client retries for 10+ minutes
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and words.format(**values) in errors[0], result.stderr
    assert not (tmp_path / "ran").exists()
    assert server.token not in result.stderr + result.stdout
    assert "not-the-right-token" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "remote, words",
    [
        ("http://host:15002", "give a Spark Connect URL"),
        ("sc://host:15002/path", "'sc://host:15002/...': a Spark Connect URL has no path"),
        ("sc://host:15002/;token=hunter2-secret;oops", "'sc://host:15002/;token=[secret];[secret]': each parameter"),
        ("sc://host:port", "port is not a number"),
    ],
)
def test_a_malformed_url_is_exit_2_without_its_token(remote: str, words: str, tmp_path: Path) -> None:
    nb = notebook(tmp_path / "n.ipynb", "1")
    result = invoke("run", str(nb), "--remote", remote, "-o", str(tmp_path / "n.out.ipynb"))
    assert result.code == 2, result.stderr
    assert words in result.stderr and "hunter2" not in result.stderr and "oops" not in result.stderr


#: where a token (or what may be one) can stand in a malformed URL; "hunter2" marks every such place
HOSTILE_REMOTES = [
    "sc://host:15002;token=hunter2",  # no '/': the parameters run into the port
    "sc://host:15002;token=hunter2/x",
    "sc://host:15002/;token=hunter2/more",  # a path after the parameters
    "sc://host:15002/x/;token=hunter2",
    "sc://host:15002/token=hunter2",  # ';' forgotten
    "sc://host:15002/hunter2",  # a token pasted as the path
    "sc://host:15002/;use_ssl=true;hunter2",  # pasted bare
    "sc://host:15002/;token=hunter2;x=a=b",
    "sc://host:15002/;token=hunter2;=v",
    "sc://hunter2@host:15002/;token=hunter2;oops",  # userinfo
    "sc://user:hunter2@host:99999999/;token=hunter2",
    "sc://host:port/;token=hunter2",
    "sc://:15002/;token=hunter2",
    "sc://host:15002/;token%3Dhunter2",
    "sc://host:15002/;TOKEN=hunter2;x",
    "sc://host:15002/;x-api-key=hunter2;oops",
    "sc://[::1/;token=hunter2",
]


def test_no_malformed_remote_url_shows_its_token(tmp_path: Path) -> None:
    """Every malformed ``--remote`` (or SPARK_REMOTE) is refused, exit 2 in one line that names the address with
    its credentials and token parameters masked; no part of a token shows, wherever it stands."""
    nb = notebook(tmp_path / "n.ipynb", "1")
    for remote in HOSTILE_REMOTES:
        result = invoke("run", str(nb), "--remote", remote, "-o", str(tmp_path / "n.out.ipynb"))
        assert result.code == 2, (remote, result.stderr)
        assert result.stderr.count("\n") == 1 and "sc://" in result.stderr, (remote, result.stderr)
        assert "hunter" not in result.stdout + result.stderr, (remote, result.stderr)
        from_env = run_cli("run", str(nb), "-o", str(tmp_path / "n.out.ipynb"), env={"SPARK_REMOTE": remote})
        assert from_env.code == 2 and "hunter" not in from_env.stdout + from_env.stderr, (remote, from_env.stderr)


def test_spark_remote_is_used_outside_spark_submit_and_withheld_from_the_kernel(server: Server, tmp_path: Path) -> None:
    nb = notebook(
        tmp_path / "env.ipynb", "import os\nprint('remote' in ' '.join(os.environ).lower(), spark.range(2).count())"
    )
    out = tmp_path / "env.out.ipynb"
    result = run_cli("run", str(nb), "-o", str(out), env={"SPARK_REMOTE": server.url})
    assert result.code == 0, result.stderr
    assert "False 2\n" in texts(read_nb(out))
    assert result.record["spark"]["mode"] == "connect"
    assert os.environ.get("SPARK_REMOTE") is None  # the test's own environment untouched


def test_for_each_runs_each_iteration_on_a_session_of_its_own(server: Server, tmp_path: Path) -> None:
    made = tmp_path / "made"
    made.mkdir()
    nb = notebook(
        tmp_path / "each.ipynb",
        "import pathlib, time, nbrunner\n"
        "spark.range(3).createOrReplaceTempView(f'view_{name}')\n"
        "pathlib.Path(folder, name).touch()\n"
        "while not all(pathlib.Path(folder, n).exists() for n in 'abc'):  # all three views made before any looks\n"
        "    time.sleep(0.05)\n"
        "nbrunner.output('views', sorted(t.name for t in spark.catalog.listTables() if t.isTemporary))\n"
        "nbrunner.output('rows', spark.table(f'view_{name}').count())",
        parameters="name = 'x'\nfolder = ''",
    )
    out = tmp_path / "out"
    result = run_cli("run", str(nb), "--for-each", "name=a,b,c", "--parallel", "3", "-p", f"folder={made}",
                     "--remote", server.url, "-o", f"{out}/{{name}}.ipynb")  # fmt: skip
    assert result.code == 0, result.stderr[-5000:]
    entries = result.record["iterations"]
    assert [(e["status"], e["exit_code"]) for e in entries] == [("succeeded", 0)] * 3
    sessions = set()
    for name, entry in zip("abc", entries, strict=True):
        assert entry["outputs"] == {"views": [f"view_{name}"], "rows": 3}  # the others' views unseen
        record = json.loads(Path(entry["record"]).read_text())
        assert record["engine"]["kind"] == "spark-connect" and record["for_each"]["values"] == {"name": name}
        sessions.add(record["spark"]["session_id"])
    assert len(sessions) == 3
    written = sorted(out.iterdir())
    assert len(written) == 9 and server.token not in every_byte(*written, result=result)  # 3 x ipynb, html, record
