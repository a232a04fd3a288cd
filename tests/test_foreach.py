"""--for-each: one notebook over many values, iterations in parallel kernels, each a normal run; the summary, retries,
failures, signals, secrets and the Python API. The Spark test runs one spark-submit with three iterations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from tests.conftest import default_signals, read_nb, run_cli

PARAMETERS = "date = '2026-01-01'\nfail_on = ''\nfail_once = ''\nmarker = ''\ntoken = ''"
BODY = """\
import os, pathlib, time, nbrunner
if marker:
    pathlib.Path(marker, date).touch()
    while not pathlib.Path(marker, 'never').exists():
        time.sleep(0.05)
if fail_once and not pathlib.Path(fail_once, date).exists():
    pathlib.Path(fail_once, date).touch()
    raise RuntimeError('first attempt fails')
nbrunner.output('seen', date)
print('token is', token)
assert date != fail_on, 'boom ' + token
"""


def notebook(folder: Path, body: str = BODY, parameters: str = PARAMETERS) -> Path:
    nb = v4.new_notebook(cells=[v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                                v4.new_code_cell(body)])  # fmt: skip
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "each.ipynb"
    nbformat.write(nb, path)
    return path


DATES = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]


def test_four_iterations_two_at_a_time(tmp_path: Path) -> None:
    source = notebook(tmp_path)
    out = tmp_path / "out"
    result = run_cli("run", str(source), "--for-each", "date=2026-11-01..2026-11-04", "--parallel", "2",
                     "-o", str(out / "{date}.ipynb"), "--outputs-file", str(tmp_path / "outputs.json"))  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    summary = result.record
    assert (summary["kind"], summary["schema"], summary["status"], summary["exit_code"]) == ("for-each", 1,
                                                                                            "succeeded", 0)  # fmt: skip
    assert [entry["values"] for entry in summary["iterations"]] == [{"date": d} for d in DATES]
    for index, (date, entry) in enumerate(zip(DATES, summary["iterations"], strict=True)):
        assert (entry["status"], entry["exit_code"], entry["attempt"]) == ("succeeded", 0, 1)
        assert entry["record"] == str(out / f"{date}.run.json")
        record = json.loads((out / f"{date}.run.json").read_text())
        assert record["for_each"] == {"id": summary["id"], "index": index, "size": 4, "values": {"date": date},
                                      "attempt": 1}  # fmt: skip
        assert record["parameters"]["date"] == date and record["outputs"] == {"seen": date}
        assert (out / f"{date}.html").exists()
        assert read_nb(out / f"{date}.ipynb").metadata["nbrunner"]["status"] == "succeeded"
        assert f"[nbrunner date={date}] cell 2/2 ok" in result.stderr
    assert json.loads((tmp_path / "outputs.json").read_text()) == {f"date={d}": {"seen": d} for d in DATES}
    shown = run_cli("runs", str(out)).stdout.splitlines()
    assert f"for-each {summary['id']} (4 of 4 iterations)  succeeded" in shown[0]
    assert len(shown) == 5 and all(line.startswith("  ") for line in shown[1:])


def test_o_must_separate_the_iterations_and_one_bad_iteration_refuses_all(tmp_path: Path) -> None:
    source = notebook(tmp_path)
    result = run_cli("run", str(source), "--for-each", "date=a,b", "-o", str(tmp_path / "same.ipynb"))
    assert result.code == 2 and "name the iteration's parameters" in result.stderr
    result = run_cli("run", str(source), "--for-each", "date=a,b", "--for-each", "bogus=1",
                     "-o", str(tmp_path / "{date}-{bogus}.ipynb"))  # fmt: skip
    assert result.code == 3 and "iteration date=a bogus=1: " in result.stderr
    assert result.record["kind"] == "refused" and not list(tmp_path.glob("a-*"))


def test_the_first_failure_starts_no_new_iteration(tmp_path: Path) -> None:
    source = notebook(tmp_path)
    result = run_cli("run", str(source), "--for-each", "date=2026-11-01..2026-11-04", "-p", "fail_on=2026-11-02",
                     "-o", str(tmp_path / "out/{date}.ipynb"))  # fmt: skip
    assert result.code == 4, result.stderr[-3000:]
    summary = result.record
    assert (summary["status"], summary["exit_code"]) == ("failed", 4)
    assert summary["message"].startswith("iteration date=2026-11-02: cell 2 failed: AssertionError: boom")
    assert [e["status"] for e in summary["iterations"]] == ["succeeded", "failed", "not-run", "not-run"]
    assert summary["iterations"][2]["values"] == {"date": "2026-11-03"}
    assert not (tmp_path / "out/2026-11-03.ipynb").exists()


def test_keep_going_runs_them_all(tmp_path: Path) -> None:
    source = notebook(tmp_path)
    result = run_cli("run", str(source), "--for-each", "date=2026-11-01..2026-11-04", "-p", "fail_on=2026-11-02",
                     "--keep-going", "--parallel", "2", "-o", str(tmp_path / "out/{date}.ipynb"))  # fmt: skip
    assert result.code == 4
    assert [e["status"] for e in result.record["iterations"]] == ["succeeded", "failed", "succeeded", "succeeded"]


def test_retries_record_every_attempt(tmp_path: Path) -> None:
    source = notebook(tmp_path)
    seen = tmp_path / "seen"
    seen.mkdir()
    result = run_cli("run", str(source), "--for-each", "date=x,y", "-p", f"fail_once={seen}", "--retries", "1",
                     "-o", str(tmp_path / "out/{date}.ipynb"))  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    for entry in result.record["iterations"]:
        assert (entry["status"], entry["attempt"]) == ("succeeded", 2)
        assert [(a["attempt"], a["status"], a["exit_code"]) for a in entry["attempts"]] == [(1, "failed", 4)]
        assert entry["attempts"][0]["run_id"] != entry["run_id"]
        record = json.loads(Path(entry["record"]).read_text())
        assert record["for_each"]["attempt"] == 2 and record["run_id"] == entry["run_id"]
        assert entry["record"] == str(tmp_path / f"out/{entry['values']['date']}.run.json")
    assert "[date=x] error: cell 2 failed: RuntimeError: first attempt fails (attempt 1 of 2)" in result.stderr


def test_a_retry_keeps_the_failed_attempts_files_apart(tmp_path: Path) -> None:
    source = notebook(tmp_path)
    seen = tmp_path / "seen"
    seen.mkdir()
    (seen / "y").touch()  # y succeeds at once; x fails once, then succeeds
    out = tmp_path / "out"
    result = run_cli("run", str(source), "--for-each", "date=x,y", "-p", f"fail_once={seen}", "--retries", "2",
                     "-o", str(out / "{date}.ipynb"))  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    x, y = result.record["iterations"]
    assert "attempts" not in y and sorted(p.name for p in out.glob("y*")) == ["y.html", "y.ipynb", "y.run.json"]
    assert sorted(p.name for p in out.glob("x*")) == ["x.attempt1.html", "x.attempt1.ipynb", "x.attempt1.run.json",
                                                      "x.html", "x.ipynb", "x.run.json"]  # fmt: skip
    [first] = x["attempts"]
    assert (first["attempt"], first["status"], first["exit_code"]) == (1, "failed", 4)
    assert (first["output"], first["html"], first["record"]) == (str(out / "x.attempt1.ipynb"),
                                                                 str(out / "x.attempt1.html"),
                                                                 str(out / "x.attempt1.run.json"))  # fmt: skip
    kept = json.loads((out / "x.attempt1.run.json").read_text())
    assert (kept["for_each"]["attempt"], kept["status"], kept["run_id"]) == (1, "failed", first["run_id"])
    assert (kept["output"], kept["record"]) == (first["output"], first["record"])
    assert "first attempt fails" in json.dumps([c.get("outputs") for c in read_nb(out / "x.attempt1.ipynb").cells])
    final = json.loads((out / "x.run.json").read_text())
    assert (final["for_each"]["attempt"], final["status"], final["run_id"]) == (2, "succeeded", x["run_id"])
    assert (final["output"], x["record"]) == (str(out / "x.ipynb"), str(out / "x.run.json"))


def test_sigterm_stops_every_iteration_and_keeps_each_partial_notebook(tmp_path: Path) -> None:
    source = notebook(tmp_path)
    started = tmp_path / "started"
    started.mkdir()
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbrunner", "run", str(source), "--for-each", "date=a,b,c", "--parallel", "2",
         "-p", f"marker={started}", "-o", str(out / "{date}.ipynb")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        preexec_fn=default_signals(),  # noqa: PLW1509
    )  # fmt: skip
    try:
        while not ((started / "a").exists() and (started / "b").exists()):
            assert proc.poll() is None, proc.communicate()
            os.sched_yield()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert [e["status"] for e in summary["iterations"]] == ["terminated", "terminated", "not-run"]
    assert summary["exit_code"] == 143
    for date in "ab":
        nb = read_nb(out / f"{date}.ipynb")
        assert nb.metadata["nbrunner"]["status"] == "terminated"
        assert json.loads((out / f"{date}.run.json").read_text())["status"] == "terminated"
    assert not (out / "c.ipynb").exists()


def test_a_secret_parameter_is_in_no_iteration_artifact(tmp_path: Path) -> None:
    source = notebook(tmp_path)
    value = "s3cr3t-for-each-value"
    out = tmp_path / "out"
    result = run_cli("run", str(source), "--for-each", "date=x,y,z", "--parallel", "3", "--secret", "token=env:TOK",
                     "-p", "fail_on=y", "--keep-going", "--log-output", "-o", str(out / "{date}.ipynb"),
                     "--outputs-file", str(tmp_path / "o.json"), env={"TOK": value})  # fmt: skip
    assert result.code == 4
    assert "token is" in (out / "x.ipynb").read_text()
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path.parent != tmp_path / "nbs"]
    assert len([p for p in written if p.parent == out]) == 9
    for path in written:
        assert value not in path.read_text(errors="replace"), path
    assert value not in result.stdout + result.stderr


def test_the_api_returns_the_summary_or_raises_with_it(tmp_path: Path) -> None:
    from nbrunner import run_notebook
    from nbrunner.errors import CellFailed

    source = notebook(tmp_path)
    summary = run_notebook(source, tmp_path / "api/{date}.ipynb", for_each={"date": ["p", "q"]}, parallel=2)
    assert summary.as_json()["kind"] == "for-each" and summary.exit_code == 0
    assert [e["outputs"] for e in summary.iterations] == [{"seen": "p"}, {"seen": "q"}]
    with pytest.raises(CellFailed) as raised:
        run_notebook(source, tmp_path / "api2/{date}.ipynb", {"fail_on": "p"}, for_each=[{"date": "p"}, {"date": "q"}])
    assert raised.value.record.exit_code == 4
    assert [e["status"] for e in raised.value.record.iterations] == ["failed", "not-run"]


SPARK_BODY = [
    """\
import pathlib, time, nbrunner
spark.range(3).createOrReplaceTempView(f"view_{name}")
pathlib.Path(folder, f"made_{name}").touch()
while not all(pathlib.Path(folder, f"made_{n}").exists() for n in "abc"):
    time.sleep(0.05)
nbrunner.output("views", sorted(t.name for t in spark.catalog.listTables() if t.isTemporary))""",
    """\
import json, urllib.request
sc.setJobDescription(f"job-{name}")
spark.range(10).count()
url = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/stages?status=complete"
pools = []
while not pools:
    stages = json.load(urllib.request.urlopen(url))
    pools = [s.get("schedulingPool") for s in stages if s.get("description") == f"job-{name}"]
nbrunner.output("pools", sorted(set(pools)))""",
    'limit = {"a": 1, "b": 2, "c": 3}[name]',
    "%%sql found --quiet\nSELECT id FROM range(5) WHERE id < :limit",  # each iteration's own value, bound by Spark
    'nbrunner.output("sql_rows", found.count())',
    """\
if name == "b":
    spark.stop()
    sc.stop()
    pathlib.Path(folder, "stopped").touch()
else:
    while not pathlib.Path(folder, "stopped").exists():
        time.sleep(0.05)
nbrunner.output("after", spark.range(100).count())""",
]


@pytest.mark.spark
def test_iterations_share_one_application_each_on_its_own_session_and_pool(tmp_path: Path) -> None:
    from tests.spark_support import spark_submit

    nb = v4.new_notebook(cells=[v4.new_code_cell("name = 'x'\nfolder = ''", metadata={"tags": ["parameters"]}),
                                *map(v4.new_code_cell, SPARK_BODY)])  # fmt: skip
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "spark_each.ipynb")
    out = tmp_path / "out"
    result = spark_submit("run", str(tmp_path / "spark_each.ipynb"), "--for-each", "name=a,b,c", "--parallel", "3",
                          "-p", f"folder={tmp_path}", "-o", str(out / "{name}.ipynb"), master="local[4]",
                          spark_args=("--conf", "spark.scheduler.mode=FAIR"), timeout=400)  # fmt: skip
    assert result.code == 0, result.stderr[-5000:]
    entries = result.record["iterations"]
    assert [e["status"] for e in entries] == ["succeeded"] * 3
    apps = set()
    for name, entry in zip("abc", entries, strict=True):
        assert entry["outputs"]["views"] == [f"view_{name}"]  # the others' temp views are not seen
        assert entry["outputs"]["pools"] == [f"name={name}"]
        assert entry["outputs"]["after"] == 100  # b's stop() stopped nothing
        assert entry["outputs"]["sql_rows"] == {"a": 1, "b": 2, "c": 3}[name]  # a %%sql cell in each iteration
        apps.add(json.loads(Path(entry["record"]).read_text())["engine"]["application_id"])
    assert len(apps) == 1
    warned = [o for o in read_nb(out / "b.ipynb").cells[-1].outputs if o.output_type == "stream"]
    assert "stop() ignored" in "".join(o.text for o in warned)


def test_under_spark_connect_each_iteration_gets_a_session_of_its_own(tmp_path: Path) -> None:
    """Planned only (no server is asked before a kernel starts): one engine, so one session, per iteration."""
    from nbrunner.config import RunConfig, SparkOptions
    from nbrunner.core.report import Reporter
    from nbrunner.plan.build import plan_runs
    from nbrunner.plan.foreach import configs_for_each, iterations, parse_spec, plan_iterations

    source = notebook(tmp_path)
    config = RunConfig(notebook=str(source), output=str(tmp_path / "{date}.ipynb"),
                       spark=SparkOptions(remote="sc://127.0.0.1:15002"))  # fmt: skip
    found = iterations([parse_spec("date=a,b,c")])
    plans = plan_iterations(configs_for_each(config, found), found, Reporter())
    engines = [plan.engine for plan in plans]
    assert all(engine is not None and engine.kind == "spark-connect" for engine in engines)
    assert len({id(engine) for engine in engines}) == 3
    chained = plan_runs(configs_for_each(config, found), Reporter())  # a chain's notebooks share one session
    assert len({id(plan.engine) for plan in chained}) == 1
    assert [plan.for_each["index"] for plan in plans if plan.for_each] == [0, 1, 2]


@pytest.mark.s3
def test_a_retry_in_a_store_keeps_the_failed_attempts_objects(tmp_path: Path) -> None:
    from tests import s3_server

    server = s3_server.start()
    try:
        server.client().create_bucket(Bucket="foreach-retries")  # moto's buckets are the whole process's
        source = notebook(tmp_path)
        seen = tmp_path / "seen"
        seen.mkdir()
        env = {**server.env(), "NBRUNNER_SPOOL": str(tmp_path / "spool")}
        result = run_cli("run", str(source), "--for-each", "date=x", "-p", f"fail_once={seen}", "--retries", "1",
                         "-o", "s3://foreach-retries/each/{date}.ipynb", env=env)  # fmt: skip
        assert result.code == 0, result.stderr[-3000:]
        [entry] = result.record["iterations"]
        [first] = entry["attempts"]
        assert first["record"] == "s3://foreach-retries/each/x.attempt1.run.json"
        keys = sorted(o["Key"] for o in server.client().list_objects_v2(Bucket="foreach-retries")["Contents"])
        assert keys == [f"each/x{kind}" for kind in (".attempt1.html", ".attempt1.ipynb", ".attempt1.run.json",
                                                     ".html", ".ipynb", ".run.json")]  # fmt: skip
        body = server.client().get_object(Bucket="foreach-retries", Key="each/x.attempt1.run.json")["Body"].read()
        kept = json.loads(body)
        assert (kept["for_each"]["attempt"], kept["status"], kept["record"]) == (1, "failed", first["record"])
        final = json.loads(server.client().get_object(Bucket="foreach-retries", Key="each/x.run.json")["Body"].read())
        assert (final["for_each"]["attempt"], final["status"]) == (2, "succeeded")
    finally:
        server.stop()


def test_the_runs_view_counts_a_retried_iteration_once(tmp_path: Path) -> None:
    """nbrunner runs over a for-each with a retry: the iteration is shown by its last attempt (was "4 of 2")."""
    source = notebook(tmp_path)
    seen = tmp_path / "seen"
    seen.mkdir()
    out = tmp_path / "out"
    result = run_cli("run", str(source), "--for-each", "date=x,y", "-p", f"fail_once={seen}", "--retries", "1",
                     "-o", str(out / "{date}.ipynb"))  # fmt: skip
    assert result.code == 0, result.stderr[-3000:]
    assert len(list(out.glob("*.run.json"))) == 4  # two final records, two kept attempts
    view = run_cli("runs", str(out))
    assert view.code == 0, view.stderr
    heads = [line for line in view.stdout.splitlines() if "(2 of 2" in line]
    assert len(heads) == 1, view.stdout
    members = [line for line in view.stdout.splitlines() if line.startswith("  ") and "succeeded" in line]
    assert len(members) == 2, view.stdout
