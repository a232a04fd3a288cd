"""PyFlink under a real ``flink run`` (the apache-flink wheel in .venv-flink, Java 17): ``-t local`` (a mini-cluster
per job inside the client JVM) and ``-t remote`` against a session cluster on 127.0.0.1 started from the wheel's own
scripts, whose REST job list is the judge of what runs after a stop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.flink_support import (
    ENDLESS,
    PYTHON,
    SessionCluster,
    flink_command,
    flink_env,
    flink_run,
    hosts_file,
    notebook,
    read_until,
    session_cluster,
    wait_until,
)
from tests.s3_server import S3Server
from tests.spark_support import processes_matching
from tests.test_hostname import HOST_NAME, namespace, unresolvable  # noqa: F401 - namespace: a fixture
from tests.test_s3 import get_json, get_nb, s3  # noqa: F401 - s3: a fixture

pytestmark = [
    pytest.mark.flink,
    pytest.mark.skipif(sys.version_info >= (3, 13), reason="apache-flink 2.3 has wheels for Python 3.10-3.12 only"),
]

EVERYTHING = (
    "rows = [row[0] for row in t_env.execute_sql(f'SELECT x FROM (VALUES (1), (2), (3), (4)) AS t(x) "
    "WHERE x <= {limit}').collect()]\nprint('rows', rows)",
    "from pyflink.table import DataTypes\nfrom pyflink.table.udf import udf\n"
    "@udf(result_type=DataTypes.BIGINT())\ndef twice(x):\n    return x * 2\n"
    "t_env.create_temporary_function('twice', twice)\n"
    "print('udf', sorted(r[0] for r in t_env.execute_sql('SELECT twice(x) FROM (VALUES (1), (2)) AS t(x)').collect()))",
    "print('stream', sorted(env.from_collection([1, 2, 3]).map(lambda v: v + 1).execute_and_collect()))",
)


#: SIGTERM to flink run: the JVM's shutdown hook sends SIGTERM to nbrunner and then exits; nbrunner records whichever
#: it sees first, the signal (143) or the JVM gone (7): either way the run is stopped, its notebook and record written
STOPPED = {("terminated", 143), ("spark-gateway-error", 7)}


def outputs(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []))


def no_kernel_left(run_id: str) -> bool:
    return not processes_matching("nbrunner.run.kernel_app") or all(
        run_id not in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        for pid in processes_matching("nbrunner.run.kernel_app")
    )


def test_parameters_sql_a_python_udf_and_a_datastream_under_flink_run_local(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "report.ipynb", *EVERYTHING, parameters="limit = 4")
    result = flink_run(str(nb), "-o", str(tmp_path / "out") + "/", "-p", "limit=2")
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    record = result.record
    assert record["status"] == "succeeded"
    text = outputs(tmp_path / "out" / "report.ipynb")
    assert "rows [1, 2]" in text and "udf [2, 4]" in text and "stream [2, 3, 4]" in text
    engine = record["engine"]
    assert engine["kind"] == "flink" and engine["version"].startswith("2.") and engine["target"] == "local"
    assert engine["mode"] == "batch" and "cluster" not in engine  # -t local: a mini-cluster in the client JVM
    assert [job["state"] for job in engine["jobs"]] == ["FINISHED"] * 3, engine
    cells = nbformat.read(tmp_path / "out" / "report.ipynb", as_version=4).cells
    by_cell = {job["cell"]: job for job in engine["jobs"]}
    for index, cell in enumerate(cells):
        if index in by_cell:  # each job in the metadata of the cell that started it, with its name
            assert cell.metadata["nbrunner"]["flink_jobs"] == {by_cell[index]["id"]: "FINISHED"}
            assert by_cell[index]["name"] == f"nbrunner report cell {index} [{record['run_id']}]"
    assert sorted(by_cell) == [2, 3, 4]


def test_a_failing_query_is_exit_31_and_the_record_says_4_with_the_java_error(tmp_path: Path) -> None:
    bad = "t_env.execute_sql('SELECT no_such_column FROM (VALUES (1)) AS t(x)').print()"
    nb = notebook(tmp_path / "bad.ipynb", "print('before')", bad, "print('after')")
    result = flink_run(str(nb), "-o", str(tmp_path / "out") + "/")
    assert result.code == 31  # flink run turns any non-zero exit of its Python process into 31
    record = result.record  # the last line on flink run's stdout, relayed by the JVM
    assert record["status"] == "failed" and record["exit_code"] == 4 and record["failed_cell"]["index"] == 1
    assert "ValidationException" in record["message"] and "no_such_column" in record["message"]
    assert "An error occurred while calling" not in record["message"]  # the Java error's own first line
    written = nbformat.read(tmp_path / "out" / "bad.ipynb", as_version=4)
    banner = written.cells[0]
    assert "ValidationException" in "".join(banner.source) + json.dumps(banner.get("outputs", []))
    assert "before" in outputs(tmp_path / "out" / "bad.ipynb") and "after" not in outputs(
        tmp_path / "out" / "bad.ipynb"
    )


def test_a_failing_python_udf_names_the_python_error(tmp_path: Path) -> None:
    nb = notebook(
        tmp_path / "udf.ipynb",
        "from pyflink.table import DataTypes\nfrom pyflink.table.udf import udf\n"
        "@udf(result_type=DataTypes.BIGINT())\ndef boom(x):\n    return x // (x - x)\n"
        "t_env.create_temporary_function('boom', boom)\n"
        "t_env.execute_sql('SELECT boom(x) FROM (VALUES (1)) AS t(x)').print()",
    )
    result = flink_run(str(nb), "-o", str(tmp_path / "out") + "/")
    assert result.code == 31
    record = result.record
    assert record["exit_code"] == 4 and record["failed_cell"]["index"] == 0, record["message"]
    assert record["engine"]["jobs"] and record["engine"]["jobs"][0]["state"] == "FAILED", record["engine"]
    assert "ZeroDivisionError" in (tmp_path / "out" / "udf.ipynb").read_text()


def test_a_job_a_cell_left_running_that_fails_later_fails_the_run(tmp_path: Path) -> None:
    """An INSERT without .wait(): its cell returns at once; the job fails later (its UDF raises once the next cell
    has begun, so never within its own cell). Every cell returned, yet the run failed, in the INSERT's cell."""
    flag = tmp_path / "go"
    submit = (
        "import os, time\nfrom pyflink.table import DataTypes\nfrom pyflink.table.udf import udf\n"  # noqa: S608
        "@udf(result_type=DataTypes.BIGINT())\ndef late(x):\n"
        f"    while not os.path.exists({str(flag)!r}):\n        time.sleep(0.05)\n"
        "    raise ValueError('the sink refused row %d' % x)\n"
        "t_env.create_temporary_function('late', late)\n"
        "t_env.execute_sql(\"CREATE TEMPORARY TABLE sink (y BIGINT) WITH ('connector' = 'blackhole')\")\n"
        "insert = t_env.execute_sql('INSERT INTO sink SELECT late(x) FROM (VALUES (1)) AS t(x)')  # no wait()"
    )
    watch = (
        f"open({str(flag)!r}, 'w').close()\ntry:\n"
        "    insert.get_job_client().get_job_execution_result().result()\n"
        "except Exception:\n    print('the insert ended')"
    )
    nb = notebook(tmp_path / "late.ipynb", submit, watch)
    result = flink_run(str(nb), "-o", str(tmp_path / "out") + "/")
    assert result.code == 31, result.stdout[-3000:] + result.stderr[-3000:]
    record = result.record
    assert record["exit_code"] == 4 and record["status"] == "failed" and record["failed_cell"]["index"] == 0
    assert "failed after the cell returned" in record["message"] and "the sink refused row 1" in record["message"]
    assert [job["state"] for job in record["engine"]["jobs"]] == ["FAILED"]
    assert "the insert ended" in outputs(tmp_path / "out" / "late.ipynb")  # every cell ran


def test_a_cell_timeout_cancels_the_cells_job(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "slow.ipynb", ENDLESS, "print('never')")
    result = flink_run(str(nb), "-o", str(tmp_path / "out") + "/", "--cell-timeout", "20")
    assert result.code == 31
    record = result.record
    assert record["status"] == "timeout" and record["exit_code"] == 5
    (job,) = record["engine"]["jobs"]
    assert job["state"] == "CANCELED" and job["cancelled_by_nbrunner"] and record["engine"]["cancelled_jobs"]
    assert no_kernel_left(record["run_id"])


def test_sigterm_to_flink_run_writes_the_partial_notebook_and_record(tmp_path: Path) -> None:
    nb = notebook(tmp_path / "slow.ipynb", "print('first cell ran')", ENDLESS)
    out = tmp_path / "out"
    proc = subprocess.Popen(flink_command(str(nb), "-o", f"{out}/", "--log-output"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=flink_env(), stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    read_until(proc, "job started")  # the job of the second cell is running
    java = [pid for pid in processes_matching("org.apache.flink.client.cli.CliFrontend") if _child_of(pid, proc.pid)]
    assert java
    for pid in java:
        subprocess.run(["kill", "-TERM", str(pid)], check=True)
    proc.communicate(timeout=120)
    record = json.loads((out / "slow.run.json").read_text())
    assert (record["status"], record["exit_code"]) in STOPPED, record
    assert record["engine"]["kind"] == "flink" and record["engine"]["jobs"], record
    assert "first cell ran" in outputs(out / "slow.ipynb")
    wait_until(lambda: no_kernel_left(record["run_id"]), "the kernel exits")


def _child_of(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[1])
        except OSError:
            return False
    return False


def test_the_kernels_pyflink_must_match_the_jvms_flink(tmp_path: Path) -> None:
    fake = tmp_path / "old" / "pyflink"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "version.py").write_text('__version__ = "1.19.1"\n')
    kernels = tmp_path / "share" / "jupyter" / "kernels" / "old-flink"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(PYTHON), "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "old flink",
        "language": "python", "env": {"PYTHONPATH": str(tmp_path / "old")}}))  # fmt: skip
    nb = notebook(tmp_path / "nb.ipynb", "print('never')")
    result = flink_run(str(nb), "-o", str(tmp_path / "out") + "/", "-k", "old-flink",
                       env=flink_env(JUPYTER_PATH=str(tmp_path / "share" / "jupyter")))  # fmt: skip
    assert result.code == 31
    record = result.record
    assert record["exit_code"] == 7, record
    assert "pyflink is 1.19.1" in record["message"] and "install apache-flink==2." in record["message"]
    assert "\n" not in record["message"]


def test_a_chain_and_a_for_each_run_under_one_flink_run(tmp_path: Path) -> None:
    first = notebook(tmp_path / "a.ipynb", "t_env.execute_sql('CREATE TEMPORARY VIEW v AS SELECT 1 AS x')\n"
                     "print('a', [r[0] for r in t_env.execute_sql('SELECT x FROM v').collect()])")  # fmt: skip
    second = notebook(tmp_path / "b.ipynb", "print('b sees v:', 'v' in t_env.list_temporary_views())",
                      parameters="day = 'x'")  # fmt: skip
    chain = tmp_path / "chain.txt"
    chain.write_text(f"- {first}\n- {second}\n")
    result = flink_run("--chain-file", str(chain), "-o", str(tmp_path / "out") + "/{notebook}.ipynb")
    assert result.code == 0, result.stdout[-3000:]
    assert "a [1]" in outputs(tmp_path / "out" / "a.ipynb")
    assert "b sees v: False" in outputs(tmp_path / "out" / "b.ipynb")  # one TableEnvironment per notebook
    each = flink_run(str(second), "--for-each", "day=2026-11-01..2026-11-02", "--parallel", "2",
                     "-o", str(tmp_path / "each") + "/{day}.ipynb")  # fmt: skip
    assert each.code == 0, each.stdout[-3000:]
    assert "flink runs one notebook at a time" in each.stdout  # flink run: iterations in turn (one JVM's callbacks)
    summary = each.record
    assert [it["status"] for it in summary["iterations"]] == ["succeeded", "succeeded"]
    for day in ("2026-11-01", "2026-11-02"):
        record = json.loads((tmp_path / "each" / f"{day}.run.json").read_text())
        assert record["engine"]["kind"] == "flink" and record["parameters"] == {"day": day}


API_SCRIPT = """
import json, pathlib, sys
from nbrunner import run_notebook
from nbrunner.errors import NbrunnerError
notebook, out, flag = sys.argv[1:4]
try:
    run_notebook(notebook, out)
    sys.exit("the first run should have failed")
except NbrunnerError as e:
    first = e.record.as_json()
pathlib.Path(flag).touch()
again = run_notebook(notebook, resume=first["record"]).as_json()
print("RESULT", json.dumps({"first": first, "again": again}))
"""


def test_the_python_api_and_resume_under_flink_run(tmp_path: Path) -> None:
    """A PyFlink script of the user's own calls run_notebook under flink run: the first run fails in its second cell,
    the resumed run starts there with the first cell's outputs kept (it does not run again)."""
    flag = tmp_path / "fixed"
    nb = notebook(tmp_path / "job.ipynb", "print('expensive', [r[0] for r in t_env.execute_sql('SELECT 7').collect()])",
                  f"import os\nassert os.path.exists({str(flag)!r}), 'not fixed yet'\nprint('fixed')")  # fmt: skip
    script = tmp_path / "job.py"
    script.write_text(API_SCRIPT)
    command = flink_command()[:-2]  # flink run ... -py, without nbrunner's launcher and "run"
    done = subprocess.run([*command, str(script), str(nb), str(tmp_path / "out") + "/", str(flag)],
                          capture_output=True, text=True, env=flink_env(), stdin=subprocess.DEVNULL,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = json.loads(done.stdout.split("RESULT ", 1)[1].splitlines()[0])
    first, again = found["first"], found["again"]
    assert first["exit_code"] == 4 and first["engine"]["kind"] == "flink" and first["failed_cell"]["index"] == 1
    assert again["status"] == "succeeded" and again["engine"]["kind"] == "flink" and again["resumed_from"]
    resumed = nbformat.read(again["output"], as_version=4)
    text = "".join(o.get("text", "") for c in resumed.cells for o in c.get("outputs", []))
    assert "expensive [7]" in text and "fixed" in text
    assert again["engine"]["jobs"] == []  # the first cell's job is not run again


def test_runs_are_stored_in_s3_on_success_and_on_failure_alike(tmp_path: Path, s3: S3Server) -> None:  # noqa: F811
    """Under flink run as under spark-submit: the notebook, its page and its record go to s3:// (moto over HTTP), a
    failed run's partial notebook too, and the scheduler's record on stdout names where."""
    s3.clear()
    env = flink_env(**s3.env(), NBRUNNER_SPOOL=str(tmp_path / "spool"))
    query = "print('sum', [r[0] for r in t_env.execute_sql('SELECT 1 + 1').collect()])"
    good = notebook(tmp_path / "good.ipynb", query)
    bad = notebook(tmp_path / "bad.ipynb", "print('first')", "t_env.execute_sql('SELECT nope FROM (VALUES (1)) t(x)')")
    for nb, code, exit_code in ((good, 0, 0), (bad, 31, 4)):
        result = flink_run(str(nb), "-o", "s3://reports/flink/{notebook}.ipynb", env=env)
        assert result.code == code, result.stdout[-3000:] + result.stderr[-3000:]
        record = result.record
        assert record["exit_code"] == exit_code and record["output"] == f"s3://reports/flink/{nb.stem}.ipynb"
        stored = get_json(s3, "reports", f"flink/{nb.stem}.run.json")
        assert stored["run_id"] == record["run_id"] and stored["engine"]["kind"] == "flink"
        text = get_nb(s3, "reports", f"flink/{nb.stem}.ipynb")
        assert ("sum [2]" if code == 0 else "first") in json.dumps(text)
        assert s3.client().head_object(Bucket="reports", Key=f"flink/{nb.stem}.html")["ContentLength"] > 0
    assert not list((tmp_path / "spool").rglob("*.ipynb"))  # nothing left behind to upload later


@pytest.mark.usefixtures("namespace")
def test_an_unresolvable_host_name_is_exit_7_naming_the_fix_and_a_hosts_file_mends_it(tmp_path: Path) -> None:
    """In a UTS namespace whose host name resolves nowhere, Flink's local mini-cluster cannot start: nbrunner says so
    before any kernel starts (the JVM resolves names as it started; nothing can mend it from inside), and the fix it
    names works."""
    nb = notebook(tmp_path / "nb.ipynb", "print([r[0] for r in t_env.execute_sql('SELECT 1').collect()])")
    env = flink_env()
    env.pop("JVM_ARGS", None)
    refused = unresolvable(flink_command(str(nb), "-o", str(tmp_path / "out") + "/"), env=env)
    assert refused.returncode == 31
    record = json.loads(refused.stdout.strip().splitlines()[-1])
    assert record["exit_code"] == 7 and f"this host's name '{HOST_NAME}' does not resolve" in record["message"]
    assert "/etc/hosts" in record["message"] and "\n" not in record["message"]
    mended = {**env, "JVM_ARGS": f"-Djdk.net.hosts.file={hosts_file(HOST_NAME, tmp_path)}"}
    done = unresolvable(flink_command(str(nb), "-o", str(tmp_path / "out") + "/"), env=mended)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "[1]" in outputs(tmp_path / "out" / "nb.ipynb")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionCluster]:
    yield from session_cluster(tmp_path_factory.mktemp("flink-session"))


def test_remote_runs_on_the_session_cluster_and_stops_only_its_own_jobs(
    tmp_path: Path, cluster: SessionCluster
) -> None:
    other = notebook(tmp_path / "other.ipynb", ENDLESS)  # another client's job on the same cluster
    command = flink_command(str(other), "-o", str(tmp_path / "other") + "/", "--log-output", target=cluster.target)
    neighbour = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=flink_env(),
                                 stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_until(lambda: any(j["state"] == "RUNNING" for j in cluster.jobs()), "the neighbour's job runs", 240)
        (theirs,) = [j["jid"] for j in cluster.jobs() if j["state"] == "RUNNING"]
        own = (  # an environment the notebook names itself keeps its name
            "from pyflink.common import Configuration\nfrom pyflink.table import EnvironmentSettings\n"
            "conf = Configuration()\nconf.set_string('pipeline.name', 'my own name')\n"
            "mine = TableEnvironment.create(EnvironmentSettings.new_instance().in_batch_mode()"
            ".with_configuration(conf).build())\nprint('own', [r[0] for r in mine.execute_sql('SELECT 5').collect()])"
        )
        ok = notebook(tmp_path / "ok.ipynb", EVERYTHING[0], "from pyflink.table import TableEnvironment\n" + own,
                      parameters="limit = 3")  # fmt: skip
        done = flink_run(str(ok), "-o", str(tmp_path / "out") + "/", target=cluster.target)
        assert done.code == 0, done.stdout[-3000:]
        engine = done.record["engine"]
        assert engine["target"] == "remote" and engine["cluster"]["rest.address"] == "127.0.0.1"
        job, own_job = sorted(engine["jobs"], key=lambda found: found["cell"])
        listed = {j["jid"]: j for j in cluster.jobs()}
        assert listed[job["id"]]["state"] == "FINISHED" and listed[job["id"]]["name"] == job["name"]
        assert listed[own_job["id"]]["name"] == "my own name" and "name" not in own_job, own_job

        slow = notebook(tmp_path / "slow.ipynb", ENDLESS)
        timed = flink_run(str(slow), "-o", str(tmp_path / "out") + "/", "--cell-timeout", "25", target=cluster.target)
        assert timed.code == 31 and timed.record["exit_code"] == 5
        (mine,) = timed.record["engine"]["jobs"]
        wait_until(lambda: {j["jid"]: j["state"] for j in cluster.jobs()}[mine["id"]] == "CANCELED", "cancelled")
        assert {j["jid"]: j["state"] for j in cluster.jobs()}[theirs] == "RUNNING"  # never another's

        command = flink_command(str(slow), "-o", str(tmp_path / "term") + "/", "--log-output", target=cluster.target)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=flink_env(),
                                stdin=subprocess.DEVNULL)  # fmt: skip
        read_until(proc, "job started")
        java = [p for p in processes_matching("org.apache.flink.client.cli.CliFrontend") if _child_of(p, proc.pid)]
        for pid in java:
            subprocess.run(["kill", "-TERM", str(pid)], check=True)
        proc.communicate(timeout=120)
        record = json.loads((tmp_path / "term" / "slow.run.json").read_text())
        assert (record["status"], record["exit_code"]) in STOPPED, record
        (stopped,) = record["engine"]["jobs"]
        wait_until(lambda: {j["jid"]: j["state"] for j in cluster.jobs()}[stopped["id"]] == "CANCELED",
                   "the stopped run's job is cancelled, though flink run is gone")  # fmt: skip
        assert stopped.get("cancelled_by_nbrunner"), record["engine"]
        assert {j["jid"]: j["state"] for j in cluster.jobs()}[theirs] == "RUNNING"
    finally:
        cluster.cancel_all()
        neighbour.kill()
        neighbour.communicate(timeout=60)
