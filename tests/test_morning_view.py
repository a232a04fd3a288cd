"""``nbrunner runs`` as on-call engineers read it: the notebooks that need attention, relative times, grouping by
the Airflow DAG and task a record holds, a chain headed by its own outcome, "no runs found", and runs that never
wrote a record (killed) shown as lost from the marker a run leaves beside its record's place."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import nbformat

from tests.conftest import invoke, run_cli
from tests.test_hostile_records import check_page_is_inert
from tests.test_runs import record, write_local

NOW = datetime.now(timezone.utc)


def at(hours_ago: float, **extra: Any) -> dict[str, str]:
    return {"started": (NOW - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z"), **extra}


def airflow(dag: str, task: str) -> dict[str, Any]:
    return {"context": {"AIRFLOW_CTX_DAG_ID": dag, "AIRFLOW_CTX_TASK_ID": task, "AIRFLOW_CTX_TRY_NUMBER": "1"}}


def night(folder: Path) -> None:
    """features: a success 30 h ago, then three failures (the last 2 h ago, resumable); report: all fine."""
    resumable = {"input_sha256": "0" * 64}
    write_local(folder, [
        record(1, "features", "succeeded", **at(30), **airflow("nightly", "features")),
        record(2, "features", "failed", **at(26), **airflow("nightly", "features")),
        record(3, "features", "timeout", **at(8), **airflow("nightly", "features"), exit_code=5),
        record(4, "features", "failed", **at(2), **airflow("nightly", "features"), **resumable),
        record(5, "report", "failed", **at(40), **airflow("nightly", "report")),
        record(6, "report", "succeeded", **at(3), **airflow("nightly", "report")),
        record(7, "adhoc", "skipped", **at(1)),
    ])  # fmt: skip


def test_needs_attention_lists_the_failures_since_each_notebooks_last_success(tmp_path: Path) -> None:
    night(tmp_path)
    result = invoke("runs", str(tmp_path), "--attention")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "needs attention (failures since each notebook's last success):"
    assert lines[1].startswith("  features: 3 failures since its last success ") and "(30 h ago); first" in lines[1]
    assert "(26 h ago), last " in lines[1] and "(2 h ago) failed: cell 7: KeyError: 'region'" in lines[1]
    record_4 = next(tmp_path.rglob("*T230000Z-00000004.run.json"))
    assert lines[2] == f"    resume: nbrunner run /opt/nb/features.ipynb --resume {record_4}"
    assert lines[3] == ""  # report's failure is older than its last success: not listed
    assert not [line for line in lines[:3] if "report" in line or "adhoc" in line]
    # the runs themselves, with how long ago each started; the resumable failure's command under it
    assert lines[4].endswith(")") is False and "(1 h ago)  skipped" in lines[4]
    assert sum("resume: nbrunner run" in line for line in lines[4:]) == 1
    # by default only a terminal gets the block; --json never does (each record gets its command instead)
    assert "needs attention" not in invoke("runs", str(tmp_path)).stdout
    found = [json.loads(line) for line in invoke("runs", str(tmp_path), "--json").stdout.splitlines()]
    assert [r.get("resume_command") for r in found if r.get("resume_command")] == [lines[2].split("resume: ")[1]]


def test_group_by_dag_and_notebook(tmp_path: Path) -> None:
    night(tmp_path)
    lines = invoke("runs", str(tmp_path), "--group-by", "dag").stdout.splitlines()
    headings = [line for line in lines if not line.startswith(" ")]
    assert headings == ["no Airflow DAG (1 run):", "DAG nightly, task features (4 runs):",
                        "DAG nightly, task report (2 runs):"]  # fmt: skip
    features = lines[lines.index(headings[1]) + 1 : lines.index(headings[2])]
    assert all(line.startswith("  ") for line in features) and sum(" features " in line for line in features) == 4
    by_notebook = invoke("runs", str(tmp_path), "--group-by", "notebook").stdout.splitlines()
    assert [line for line in by_notebook if not line.startswith(" ")] == [
        "notebook adhoc (1 run):", "notebook features (4 runs):", "notebook report (2 runs):"]  # fmt: skip
    assert invoke("runs", str(tmp_path), "--group-by", "task").code == 2


def test_a_chain_is_headed_by_its_own_outcome(tmp_path: Path) -> None:
    def chain(number: int, *statuses: str) -> list[dict[str, Any]]:
        ids = {"id": f"chain-{number}", "size": len(statuses)}
        return [record(number, f"step{index}", status, **at(number), chain={**ids, "index": index})
                for index, status in enumerate(statuses)]  # fmt: skip

    write_local(tmp_path, chain(1, "skipped", "succeeded") + chain(2, "succeeded", "timeout", "failed")
                + chain(3, "skipped", "skipped"))  # fmt: skip
    heads = {line.split("  chain ")[1].split()[0]: line.rsplit("  ", 1)[1]
             for line in invoke("runs", str(tmp_path)).stdout.splitlines() if "  chain " in line}  # fmt: skip
    assert heads == {"chain-1": "succeeded", "chain-2": "timeout", "chain-3": "skipped"}


def test_no_runs_found_is_said_and_exits_0(tmp_path: Path) -> None:
    empty = invoke("runs", str(tmp_path))
    assert empty.code == 0 and empty.stdout == ""
    assert empty.stderr == f"nbrunner: no runs found under {tmp_path}\n"
    night(tmp_path)
    none = invoke("runs", str(tmp_path), "--notebook", "nothing-like-it", "--json")
    assert none.code == 0 and none.stdout == ""
    assert none.stderr == f"nbrunner: no runs found under {tmp_path} matching the filters\n"


def marker(folder: Path, name: str, **fields: Any) -> Path:
    path = folder / f".{name}.run.started"
    path.write_text(json.dumps({"run_id": f"run-{name}", "input": f"/nb/{name}.ipynb", "host": socket.gethostname(),
                                "pid": 2**22 + 7, **at(3), **fields}))  # fmt: skip
    return path


def test_a_started_marker_without_a_record_is_a_lost_run(tmp_path: Path) -> None:
    night(tmp_path)
    marker(tmp_path, "dead")  # this host, its process gone: lost at once
    marker(tmp_path, "going", pid=os.getpid(), **at(5))  # this host, its process alive: still running
    marker(tmp_path, "far", host="elsewhere", **at(2))  # another host, 2 h ago: lost after the default 60 minutes
    marker(tmp_path, "young", host="elsewhere", **at(0.1))  # another host, 6 minutes ago: maybe still running
    write_local(tmp_path, [record(9, "done", "succeeded", record="out/done/x.run.json")])
    marker(tmp_path / "done", "x-" + "20261110T230000Z-00000009")  # its record is there: not lost
    (tmp_path / ".junk.run.started").write_text("[1, 2]")  # not a marker: ignored
    result = invoke("runs", str(tmp_path), "--status", "lost")
    assert result.code == 0, result.stderr
    lost = result.stdout.splitlines()
    assert len(lost) == 2 and all(" lost " in line for line in lost)
    assert sorted(line.split(" lost ")[1].split()[1] for line in lost) == ["dead", "far"], lost
    assert "no record: the run stopped without writing one" in lost[0]
    assert len(invoke("runs", str(tmp_path), "--status", "lost", "--lost-after", "1").stdout.splitlines()) == 3
    attention = invoke("runs", str(tmp_path), "--attention").stdout.split("\n\n")[0]
    assert "  dead: 1 failure and no success seen" in attention and " lost: no record" in attention


def test_a_killed_run_shows_as_lost_and_a_finished_one_leaves_no_marker(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(120)")]
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "slow.ipynb")
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, "-m", "nbrunner", "run", str(tmp_path / "nb" / "slow.ipynb"),
                              "-o", f"{out}/", "--no-html"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)  # fmt: skip
    try:
        started = out / ".slow.run.started"
        while not started.exists() and child.poll() is None:
            time.sleep(0.05)
        assert started.exists(), child.communicate()
        assert invoke("runs", str(out)).stderr.startswith("nbrunner: no runs found")  # running: not lost
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    lost = invoke("runs", str(out))
    assert lost.code == 0 and " lost " in lost.stdout and " slow " in lost.stdout, lost
    ok = tmp_path / "ok.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), ok)
    done = run_cli("run", str(ok), "-o", f"{out}/", "--no-html")
    assert done.code == 0 and not (out / ".ok.run.started").exists() and (out / "ok.run.json").exists()


def test_the_page_names_the_location_and_shows_what_needs_attention(tmp_path: Path) -> None:
    night(tmp_path / "runs")
    page = tmp_path / "index.html"
    result = invoke("runs", str(tmp_path / "runs"), "--html", str(page), "--group-by", "dag")
    assert result.code == 0, result.stderr
    text = page.read_text()
    check_page_is_inert(text)
    assert f"<p>7 runs under {tmp_path / 'runs'}, 4 of them failed" in text and str(page) not in text
    attention = text.split('<table id="attention">')[1].split("</table>")[0]
    assert attention.count('<tr class="attention">') == 1 and "<td>features</td><td>3</td>" in attention
    assert "nbrunner run /opt/nb/features.ipynb --resume " in attention
    assert '<th colspan="8">DAG nightly, task features (4 runs)</th>' not in text  # headings carry no count
    assert '<th colspan="8">DAG nightly, task features</th>' in text and "(2 h ago)" in text
    assert text.count('<tr class="s-') == 7


def test_relative_times() -> None:
    from nbrunner.view.runs import ago

    now = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
    said = [ago(now - timedelta(seconds=s), now) for s in (5, 600, 3 * 3600, 47 * 3600, 3 * 86400, -60)]
    assert said == ["just now", "10 min ago", "3 h ago", "47 h ago", "3 d ago", "in the future"]
    assert ago(None, now) == "" and ago(datetime(9999, 12, 31, tzinfo=timezone.utc), now) == "in the future"
    assert ago(datetime(1, 1, 1, tzinfo=timezone.utc), now).endswith(" d ago")


def test_a_hostile_marker_is_text_everywhere(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    evil = "<script>alert(1)</script>\x1b[2J\u202e\nnext"
    marker(folder, "evil", host=evil, input=evil, run_id=evil)
    marker(folder, "deep", host="elsewhere").write_text("[" * 100_000)
    os.mkfifo(folder / ".fifo.run.started")  # never waited on
    lines = invoke("runs", str(folder), "--attention")
    assert lines.code == 0, lines.stderr
    assert len(lines.stdout.splitlines()) == 4  # the heading, the notebook, a blank line, the lost run
    assert not [c for c in lines.stdout if ord(c) < 32 and c != "\n" or c == "\u202e"]
    page = tmp_path / "index.html"
    assert invoke("runs", str(folder), "--html", str(page)).code == 0
    text = page.read_text()
    check_page_is_inert(text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and text.count('<tr class="s-other">') == 1
