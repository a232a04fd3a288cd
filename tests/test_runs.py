"""``nbrunner runs``: the morning view over a folder or an s3:// prefix of run records (a few hundred, made here
as a scheduler's nights would leave them), filtered, as lines, JSON and one offline page."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke, run_cli
from tests.s3_server import S3Server
from tests.test_s3 import s3, s3_env  # noqa: F401 - the moto server fixtures


def record(number: int, notebook: str, status: str, **extra: Any) -> dict[str, Any]:
    day = f"2026-11-{1 + number % 28:02d}"
    code = {"succeeded": 0, "failed": 4, "skipped": 99, "timeout": 5}[status]
    found = {
        "run_id": f"{day.replace('-', '')}T230000Z-{number:08x}", "input": f"/opt/nb/{notebook}.ipynb",
        "output": f"out/{notebook}/{day}.ipynb", "html": f"out/{notebook}/{day}.html",
        "record": f"out/{notebook}/{day}.run.json", "started": f"{day}T23:{number % 60:02d}:00.000Z",
        "duration_s": 10.0 + number % 7, "status": status, "exit_code": code,
        "parameters": {"date": day, "password": "[secret]"}, "message": None, "failed_cell": None,
    }  # fmt: skip
    if status == "failed":
        found["message"] = "cell 7 failed: KeyError: 'region'"
        found["failed_cell"] = {"index": 7, "id": "c7", "first_line": "df['region']"}
    found.update(extra)
    return found


def nights(count: int) -> list[dict[str, Any]]:
    made = []
    for number in range(count):
        notebook = ["daily_report", "features", "extract"][number % 3]
        status = "failed" if notebook == "features" and number % 28 > 20 else "succeeded"
        made.append(record(number, notebook, "skipped" if number == 5 else status))
    return made


def write_local(folder: Path, records: list[dict[str, Any]]) -> None:
    for rec in records:
        path = folder / rec["record"].replace("out/", "").replace(".run.json", f"-{rec['run_id']}.run.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rec))


def test_runs_lists_a_folder_newest_first_with_failures_explained(tmp_path: Path) -> None:
    records = nights(300)
    write_local(tmp_path / "runs", records)
    (tmp_path / "runs" / "junk.run.json").write_text("not json")
    result = invoke("runs", str(tmp_path / "runs"))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 300
    assert "skipped 1 of 301 file(s) named *.run.json: 1 not nbrunner run records" in result.stderr
    started = [line.split()[0] for line in lines]
    assert started == sorted(started, reverse=True)
    failed = [line for line in lines if " failed " in line]
    assert failed and all("features" in line and "[cell 7: KeyError: 'region']" in line for line in failed)
    assert all("password=[secret]" in line for line in lines)
    only = invoke("runs", str(tmp_path / "runs"), "--status", "failure", "--notebook", "feat*", "--limit", "3",
                  "--json")  # fmt: skip
    found = [json.loads(line) for line in only.stdout.splitlines()]
    assert len(found) == 3 and {r["status"] for r in found} == {"failed"}
    assert [r["started"] for r in found] == sorted((r["started"] for r in records if r["status"] == "failed"),
                                                   reverse=True)[:3]  # fmt: skip
    since = invoke("runs", str(tmp_path / "runs"), "--since", "2026-11-27", "--json")
    assert {json.loads(line)["started"][:10] for line in since.stdout.splitlines()} == {"2026-11-27", "2026-11-28"}
    bad = invoke("runs", str(tmp_path / "nowhere"))
    assert bad.code == 2 and "not a folder" in bad.stderr
    bad_since = invoke("runs", str(tmp_path / "runs"), "--since", "yesterday")
    assert bad_since.code == 2 and "--since 'yesterday'" in bad_since.stderr


def test_runs_shows_a_chain_with_its_members(tmp_path: Path) -> None:
    chain = {"id": "20261120T230000Z-aaaaaaaa", "size": 2}
    write_local(tmp_path, [record(1, "extract", "succeeded", chain={**chain, "index": 0}),
                           record(1, "report", "failed", chain={**chain, "index": 1}),
                           record(2, "alone", "succeeded")])  # fmt: skip
    lines = invoke("runs", str(tmp_path)).stdout.splitlines()
    head = next(number for number, line in enumerate(lines) if "chain 20261120T230000Z-aaaaaaaa" in line)
    assert "(2 of 2 notebooks)" in lines[head] and "failed" in lines[head]
    assert "extract" in lines[head + 1] and lines[head + 1].startswith("  ")
    assert "report" in lines[head + 2] and "[cell 7:" in lines[head + 2]


def test_the_index_page_is_offline_and_links_every_run(tmp_path: Path) -> None:
    write_local(tmp_path / "runs", nights(60))
    page = tmp_path / "index.html"
    result = invoke("runs", str(tmp_path / "runs"), "--html", str(page))
    assert result.code == 0, result.stderr
    text = page.read_text()
    assert "<script" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert text.count("<svg") == 3  # one strip per notebook
    assert text.count('<tr class="s-') == 60 and text.count("<a href=") == 60
    assert "KeyError: &#39;region&#39;" in text and 'fill="#c62828"' in text  # the failures stand out


def test_runs_reads_hundreds_of_records_from_s3(tmp_path: Path, s3: S3Server, s3_env: dict[str, str]) -> None:  # noqa: F811
    client = s3.client()
    records = nights(400)
    for rec in records:
        client.put_object(Bucket="reports", Key=f"nightly/{rec['run_id']}.run.json", Body=json.dumps(rec).encode())
        client.put_object(Bucket="reports", Key=f"nightly/{rec['run_id']}.ipynb", Body=b"{}")  # never fetched
    s3.clear()
    started = time.monotonic()
    result = run_cli("runs", "s3://reports/nightly/", "--json", "--html", "s3://reports/index.html", env=s3_env)
    took = time.monotonic() - started
    assert result.code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 400
    gets = [r for r in s3.requests if r.method == "GET" and r.path.endswith(".ipynb")]
    assert gets == []  # notebooks are never downloaded
    page = client.get_object(Bucket="reports", Key="index.html")["Body"].read().decode()
    assert page.count('<tr class="s-') == 400
    print(f"400 records from moto in {took:.1f} s")


@pytest.mark.parametrize("args", [["--limit", "0"], ["--status", "nonsense"]])
def test_runs_refuses_bad_filters(tmp_path: Path, args: list[str]) -> None:
    result = invoke("runs", str(tmp_path), *args)
    assert result.code == 2 and result.stderr.count("\n") >= 1


def test_a_real_chain_and_a_real_failure_as_the_morning_view_shows_them(notebooks: Path, tmp_path: Path) -> None:
    out = tmp_path / "night"
    chain = run_cli("run", str(notebooks / "ok.ipynb"), str(notebooks / "fails.ipynb"), "--keep-going",
                    "-o", f"{out}/")  # fmt: skip
    assert chain.code == 4, chain.stderr
    lines = invoke("runs", str(out)).stdout.splitlines()
    assert len(lines) == 4 and "(2 of 2 notebooks)  failed" in lines[0]
    assert "  ok  " in lines[1] and "succeeded" in lines[1]
    assert "fails" in lines[2] and "[cell 2: ValueError: the data is bad]" in lines[2]
    assert lines[2].endswith(str(out / "fails.html"))
    # the failed run's resume command, as the view prints it, is one that --resume takes
    command = f"nbrunner run {notebooks / 'fails.ipynb'} --resume {out / 'fails.run.json'}"
    assert lines[3] == f"      resume: {command}"  # under its chain member
    resumed = run_cli(*command.split()[1:])
    assert resumed.code == 4 and resumed.record["resumed_from"], resumed.stderr  # it fails again, from cell 2
