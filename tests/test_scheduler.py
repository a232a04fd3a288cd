"""The notebook-scheduler contract: secrets by reference, outputs back to the scheduler, skip, run context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbrunner import run_notebook
from nbrunner.errors import Skipped
from tests.conftest import read_nb, run_cli
from tests.test_run import outputs_text

SECRET = "hunter2-Zq9!x"  # noqa: S105 - the value the tests look for everywhere


def everything_written(result_out: Path, *streams: str) -> str:
    """Every artifact of a run (notebook, HTML, record) and what it printed."""
    files = [
        result_out,
        result_out.with_name(result_out.stem + ".html"),
        result_out.with_name(result_out.stem + ".run.json"),
    ]
    return "".join(streams) + "".join(path.read_text() for path in files if path.exists())


@pytest.mark.parametrize("kind", ["env", "file", "param-file"])
def test_a_secret_reaches_the_notebook_and_is_never_written(notebooks: Path, tmp_path: Path, kind: str) -> None:
    (tmp_path / "pw").write_text(SECRET + "\n")
    (tmp_path / "p.yaml").write_text("password: {secret: env:DB_PASSWORD}\n")
    how = {
        "env": ["--secret", "password=env:DB_PASSWORD"],
        "file": ["--secret", f"password=file:{tmp_path / 'pw'}"],
        "param-file": ["-f", str(tmp_path / "p.yaml")],
    }[kind]
    out = tmp_path / "out" / "secret.ipynb"
    env = {} if kind == "file" else {"DB_PASSWORD": SECRET}  # the variable that holds it is not inherited
    result = run_cli("run", str(notebooks / "secret.ipynb"), *how, "--log-output", "-o", str(out), env=env)
    assert result.code == 4, result.stderr  # the last cell fails, with the secret in its message
    nb = read_nb(out)
    assert "password = nbrunner.secret('password')" in nb.cells[2].source  # after the banner and parameters
    shown = outputs_text(nb.cells[3])
    assert f"length {len(SECRET)}" in shown  # the notebook had the real value
    assert "the password is [REDACTED]" in shown
    assert "in my environment: []" in shown and "child sees: 0" in shown  # not inherited by child processes
    assert result.record["parameters"]["password"] == "[secret]"  # noqa: S105
    assert "failed with [REDACTED]" in result.record["message"]
    assert SECRET not in everything_written(out, result.stdout, result.stderr)


def test_secret_checks_never_print_the_value(notebooks: Path) -> None:
    env = {"DB_PASSWORD": SECRET}
    typed = run_cli("run", str(notebooks / "secret.ipynb"), "--secret", "rows=env:DB_PASSWORD", env=env)
    assert typed.code == 3 and "'rows' is declared int; a secret is text" in typed.stderr
    undeclared = run_cli("run", str(notebooks / "secret.ipynb"), "--secret", "token=env:DB_PASSWORD", env=env)
    assert undeclared.code == 3 and "does not declare parameter 'token'" in undeclared.stderr
    missing = run_cli("run", str(notebooks / "secret.ipynb"), "--secret", "password=env:NOT_SET_ANYWHERE")
    assert missing.code == 3 and "the environment variable NOT_SET_ANYWHERE is not set" in missing.stderr
    bad = run_cli("run", str(notebooks / "secret.ipynb"), "--secret", "password=vault:x")
    assert bad.code == 3 and "give a reference, env:VARIABLE or file:/path/to/file" in bad.stderr
    for result in (typed, undeclared, missing, bad):
        assert SECRET not in result.stdout + result.stderr


def test_outputs_reach_the_record_the_outputs_file_and_set_value_lines(notebooks: Path, tmp_path: Path) -> None:
    result = run_cli(
        "run", str(notebooks / "scheduler.ipynb"), "--outputs-file", str(tmp_path / "outputs.json"),
        "--print-set-value", env={"AIRFLOW_CTX_DAG_ID": "daily", "AIRFLOW_CTX_TRY_NUMBER": "2"},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    record = result.record
    assert record["outputs"] == {"rows": 123, "tables": ["a", "b"], "glued": {"ok": True}, "after": "fits"}
    assert record["outputs_truncated"] == ["huge"]  # over the cap: dropped alone, what came after kept
    assert "were dropped from the record and the scheduler's outputs: 'huge'" in result.stderr
    assert json.loads((tmp_path / "outputs.json").read_text()) == record["outputs"]
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "${setValue(rows=123)}",
        '${setValue(tables=["a","b"])}',
        '${setValue(glued={"ok":true})}',
        "${setValue(after=fits)}",
    ]
    assert json.loads(lines[-1]) == record  # the record stays the last line
    assert record["context"] == {"AIRFLOW_CTX_DAG_ID": "daily", "AIRFLOW_CTX_TRY_NUMBER": "2"}
    seen = json.loads(outputs_text(read_nb(Path(record["output"])).cells[4]))
    run_vars = ("NBRUNNER_RUN_ID", "NBRUNNER_INPUT", "NBRUNNER_OUTPUT")  # the rest of NBRUNNER_* is the caller's
    assert {name: seen.get(name) for name in run_vars} == {"NBRUNNER_RUN_ID": record["run_id"],
                                                           "NBRUNNER_INPUT": record["input"],
                                                           "NBRUNNER_OUTPUT": record["output"]}  # fmt: skip


def test_a_notebook_can_ask_to_be_skipped(notebooks: Path, tmp_path: Path) -> None:
    result = run_cli("run", str(notebooks / "skip.ipynb"))
    assert result.code == 99, result.stderr
    assert result.record["status"] == "skipped" and "no data for this day" in result.record["message"]
    assert "nbrunner: skipped by the notebook: no data for this day" in result.stderr
    nb = read_nb(Path(result.record["output"]))
    assert nb.cells[0].metadata.get("tags") != ["nbrunner-error-banner"]  # a skip is not a failure: no banner
    assert nb.cells[1].metadata.nbrunner == {"status": "not-run"}
    with pytest.raises(Skipped) as caught:
        run_notebook(notebooks / "skip.ipynb", tmp_path / "skip.ipynb")
    assert caught.value.exit_code == 99 and caught.value.record.status == "skipped"


def test_inspect_says_which_parameters_can_be_secrets(notebooks: Path) -> None:
    result = run_cli("inspect", str(notebooks / "secret.ipynb"), "--json")
    found = {p["name"]: p for p in json.loads(result.stdout)["parameters"]}
    assert found["password"]["secret_capable"] is True and found["rows"]["secret_capable"] is False
    assert json.loads(result.stdout)["kernel"]["language"] == "python"


def test_resume_reruns_setup_and_parameters_then_continues_from_the_failed_cell(
    notebooks: Path, tmp_path: Path
) -> None:
    log, flag = tmp_path / "log.txt", tmp_path / "fault"
    flag.touch()
    args = ("-r", f"log={log}", "-r", f"flag={flag}", "-o", str(tmp_path / "first.ipynb"))
    first = run_cli("run", str(notebooks / "resume.ipynb"), *args)
    assert first.code == 4, first.stderr
    assert log.read_text() == "setup\nexpensive\n"
    flag.unlink()
    again = run_cli("run", str(notebooks / "resume.ipynb"), "--resume", str(tmp_path / "first.run.json"),
                    "-o", str(tmp_path / "second.ipynb"))  # fmt: skip
    assert again.code == 0, again.stderr
    assert log.read_text() == "setup\nexpensive\nsetup\nchecked\n"  # the expensive cell did not run again
    record = again.record
    assert record["resumed_from"] == first.record["run_id"]
    assert record["parameters"] == first.record["parameters"]
    nb = read_nb(tmp_path / "second.ipynb")
    kept = nb.cells[3]
    assert kept.metadata.nbrunner["status"] == "kept" and "expensive work done" in outputs_text(kept)
    assert "skip-execution" not in kept.metadata.get("tags", [])
    assert nb.cells[4].metadata.nbrunner["status"] == "ok"
    assert "done; result in memory: None" in outputs_text(nb.cells[5])  # what skipped cells left is not restored


def test_resume_refuses_a_changed_notebook_or_a_run_that_succeeded(notebooks: Path, tmp_path: Path) -> None:
    flag = tmp_path / "fault"
    flag.touch()
    first = run_cli("run", str(notebooks / "resume.ipynb"), "-r", f"log={tmp_path / 'log'}", "-r", f"flag={flag}")
    assert first.code == 4
    record = first.record["record"]
    changed = notebooks / "changed.ipynb"
    changed.write_text((notebooks / "resume.ipynb").read_text().replace("expensive work done", "changed"))
    refused = run_cli("run", str(changed), "--resume", record)
    assert refused.code == 2 and "the notebook changed since run" in refused.stderr
    extra = run_cli("run", str(notebooks / "resume.ipynb"), "--resume", record, "-p", "log=x")
    assert extra.code == 2 and "drop -p, -r, -f and --secret" in extra.stderr
    ok = run_cli("run", str(notebooks / "ok.ipynb"))
    done = run_cli("run", str(notebooks / "ok.ipynb"), "--resume", ok.record["record"])
    assert done.code == 2 and "there is nothing to resume" in done.stderr


def _readme_line(start: str) -> str:
    """A line of the guide's schedulers page (docs/schedulers.md), once the README's."""
    readme = (Path(__file__).resolve().parent.parent / "docs" / "schedulers.md").read_text()
    return next(line for line in readme.splitlines() if line.startswith(start))


def _report_notebook(folder: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell('date = ""', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import nbrunner\nnbrunner.output('day', date)")]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "daily_report.ipynb")
    return folder / "daily_report.ipynb"


def test_the_readmes_dolphinscheduler_and_cron_lines_work_as_written(tmp_path: Path) -> None:
    """The README's lines run by a shell as the scheduler runs them: DolphinScheduler substitutes its built-ins,
    cron turns ``\\%`` into ``%`` and gives ``PATH=/usr/bin:/bin``. Only the paths are this test's."""
    import subprocess
    import sys

    nb = _report_notebook(tmp_path / "nb")
    binary = str(Path(sys.executable).parent / "nbrunner")
    dolphin = _readme_line("nbrunner run /opt/nb/daily_report.ipynb -p date=${system.biz.date} --print-set-value")
    dolphin = dolphin.replace("${system.biz.date}", "2026-11-20").replace("/opt/nb/daily_report.ipynb", str(nb))
    dolphin = dolphin.replace("s3://reports/", f"{tmp_path}/reports/")
    done = subprocess.run(["bash", "-c", dolphin], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, env={"PATH": f"{Path(binary).parent}:/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "${setValue(day=2026-11-20)}" in done.stdout.splitlines()
    assert (tmp_path / "reports" / "daily_report" / "2026-11-20.ipynb").exists()

    cron = _readme_line("0 2 * * * ").split(" ", 5)[5].replace("\\%", "%")
    cron = cron.replace("/opt/nbrunner/.venv/bin/nbrunner", binary).replace("/opt/nb ", f"{nb.parent} ")
    cron = cron.replace("/var/log/nb.log", str(tmp_path / "nb.log"))
    done = subprocess.run(["sh", "-c", f"alert() {{ echo alerted $1 > {tmp_path}/alert; }}; {cron}"], cwd="/",
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})  # fmt: skip
    assert done.returncode == 0 and not (tmp_path / "alert").exists(), (tmp_path / "nb.log").read_text()
    record = json.loads((tmp_path / "nb.log").read_text().splitlines()[-1])
    assert record["status"] == "succeeded" and len(record["parameters"]["date"]) == 10  # $(date -u +%F)
