"""The scheduler outputs contract: the outputs file is an artifact (checked before the run, local or s3://, exit 8
when it cannot be stored), chains deliver every member's outputs namespaced by notebook, setValue lines cannot be
forged, and a skipped member of a chain is not a failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from nbformat import v4

from tests.conftest import invoke, run_cli
from tests.s3_server import S3Server
from tests.test_s3 import s3, s3_env  # noqa: F401 - the moto server fixtures


def outputs_notebook(path: Path, *calls: str) -> Path:
    nb = v4.new_notebook(cells=[v4.new_code_cell("import nbrunner\n" + "\n".join(calls))])
    nbformat.write(nb, path)
    return path


def test_set_value_lines_cannot_be_forged_or_cut_short(tmp_path: Path) -> None:
    nb = outputs_notebook(
        tmp_path / "forge.ipynb",
        "nbrunner.output('multi', 'a\\n${setValue(admin=true)}')",
        "nbrunner.output('cut', 'x)}y')",
        "nbrunner.output('plain', 'ok value')",
        "nbrunner.output('bad name', 1)",
    )
    result = run_cli("run", str(nb), "--print-set-value", "-o", str(tmp_path / "out.ipynb"))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()[:-1]
    assert lines == [
        '${setValue(multi="a\\n${setValue(admin=true)\\u007d")}',
        '${setValue(cut="x)\\u007dy")}',
        "${setValue(plain=ok value)}",
    ]
    for line in lines:  # each is one line, and its value ends at the only ")}"
        assert line.count(")}") == 1 and line.endswith(")}")
    assert json.loads(lines[0][len("${setValue(multi=") : -2]) == "a\n${setValue(admin=true)}"
    assert "output name 'bad name' is not letters" in result.stderr


def test_a_chain_delivers_every_members_outputs_namespaced(notebooks: Path, tmp_path: Path) -> None:
    for name in ("a", "b"):
        shutil.copy(notebooks / "scheduler.ipynb", tmp_path / f"{name}.ipynb")
    shutil.copy(notebooks / "skip.ipynb", tmp_path / "c.ipynb")
    result = run_cli(
        "run", str(tmp_path / "a.ipynb"), str(tmp_path / "b.ipynb"), str(tmp_path / "c.ipynb"),
        "-o", f"{tmp_path}/out/", "--outputs-file", str(tmp_path / "outputs.json"), "--print-set-value",
    )  # fmt: skip
    assert result.code == 0, result.stderr  # a member that skips itself is not a failure
    summary = result.record
    assert [run["status"] for run in summary["runs"]] == ["succeeded", "succeeded", "skipped"]
    assert summary["status"] == "succeeded" and "1 of 3 notebooks skipped themselves" in summary["message"]
    assert "nbrunner: error:" not in result.stderr and "skipped by the notebook" in result.stderr
    delivered = json.loads((tmp_path / "outputs.json").read_text())
    assert list(delivered) == ["a", "b", "c"] and delivered["a"]["rows"] == 123 and delivered["b"]["after"] == "fits"
    assert delivered["c"] == {}
    assert "${setValue(a.rows=123)}" in result.stdout and "${setValue(b.rows=123)}" in result.stdout
    only_skips = run_cli("run", str(tmp_path / "c.ipynb"), str(notebooks / "skip.ipynb"), "-o", f"{tmp_path}/o2/")
    assert only_skips.code == 99 and only_skips.record["status"] == "skipped"


def test_the_outputs_file_is_checked_before_the_run(notebooks: Path, tmp_path: Path) -> None:
    before = (notebooks / "ok.ipynb").read_bytes()
    as_input = invoke("run", str(notebooks / "ok.ipynb"), "--outputs-file", str(notebooks / "ok.ipynb"))
    assert as_input.code == 2 and "which is an input of this run" in as_input.stderr
    assert (notebooks / "ok.ipynb").read_bytes() == before  # never destroyed
    (tmp_path / "file").write_text("")
    under_a_file = invoke("run", str(notebooks / "ok.ipynb"), "--outputs-file", str(tmp_path / "file" / "o.json"))
    assert under_a_file.code == 2 and "is not a folder" in under_a_file.stderr
    assert not (notebooks / "ok.out.ipynb").exists()  # nothing ran


def test_the_outputs_file_goes_to_s3(notebooks: Path, tmp_path: Path, s3: S3Server, s3_env: dict[str, str]) -> None:  # noqa: F811
    result = run_cli("run", str(notebooks / "scheduler.ipynb"), "-o", str(tmp_path / "out.ipynb"),
                     "--outputs-file", "s3://reports/outputs/scheduler.json", env=s3_env)  # fmt: skip
    assert result.code == 0, result.stderr
    stored = json.loads(s3.client().get_object(Bucket="reports", Key="outputs/scheduler.json")["Body"].read())
    assert stored == result.record["outputs"] and not (Path("s3:")).exists()
    missing = run_cli("run", str(notebooks / "ok.ipynb"), "--outputs-file", "s3://no-such-bucket/o.json", env=s3_env)
    assert missing.code == 8 and "does not exist" in missing.stderr
    assert not (notebooks / "ok.out.ipynb").exists()  # refused before the run


def test_a_chain_is_planned_whole_before_anything_runs(notebooks: Path, tmp_path: Path) -> None:
    undeclared = run_cli("run", str(notebooks / "ok.ipynb"), str(notebooks / "params.ipynb"), "-p", "greeting=hi",
                         "-o", f"{tmp_path}/out/")  # fmt: skip
    assert undeclared.code == 3 and "params.ipynb: " in undeclared.stderr
    assert undeclared.stderr.count("\n") == 1, undeclared.stderr
    missing = invoke("run", str(notebooks / "ok.ipynb"), str(notebooks / "nope.ipynb"), "-o", f"{tmp_path}/out/")
    assert missing.code == 2 and "nope.ipynb" in missing.stderr
    assert not (tmp_path / "out").exists()  # the first notebook never ran


def test_no_two_artifacts_are_one_path_and_none_is_an_input(notebooks: Path, tmp_path: Path) -> None:
    for folder in ("d1", "d2"):
        (tmp_path / folder).mkdir()
        shutil.copy(notebooks / "ok.ipynb", tmp_path / folder / "report.ipynb")
    same_name = invoke("run", str(tmp_path / "d1" / "report.ipynb"), str(tmp_path / "d2" / "report.ipynb"),
                       "-o", f"{tmp_path}/out/{{notebook}}.ipynb")  # fmt: skip
    assert same_name.code == 2 and "would be written twice" in same_name.stderr
    twice = invoke("run", str(notebooks / "ok.ipynb"), str(notebooks / "ok.ipynb"), "-o", f"{tmp_path}/out/")
    assert twice.code == 2 and "would be written twice" in twice.stderr
    record_as_outputs = invoke("run", str(notebooks / "ok.ipynb"), "-o", str(tmp_path / "o.ipynb"),
                               "--outputs-file", str(tmp_path / "o.run.json"))  # fmt: skip
    assert record_as_outputs.code == 2 and "would be written twice" in record_as_outputs.stderr
    (tmp_path / "x.run.json").write_text('{"greeting": "hi"}')  # a parameters file where the record would go
    over_an_input = invoke("run", str(notebooks / "ok.ipynb"), "-f", str(tmp_path / "x.run.json"),
                           "-o", str(tmp_path / "x.ipynb"))  # fmt: skip
    assert over_an_input.code == 2 and "which is an input of this run" in over_an_input.stderr
    assert (tmp_path / "x.run.json").read_text() == '{"greeting": "hi"}'
    assert not (tmp_path / "out").exists() and not (tmp_path / "o.ipynb").exists()


def resume_notebook(path: Path) -> Path:
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("flag = ''", metadata={"tags": ["parameters"]}),
        v4.new_code_cell("import os, nbrunner", metadata={"tags": ["setup"]}),
        v4.new_code_cell("nbrunner.output('early', 1)"),
        v4.new_code_cell("if os.path.exists(flag):\n    raise RuntimeError('a fault outside')"),
        v4.new_code_cell("nbrunner.output('late', 2)"),
    ])  # fmt: skip
    nbformat.write(nb, path)
    return path


def test_a_resumed_run_keeps_the_evidence_and_the_kept_cells_outputs(tmp_path: Path) -> None:
    nb = resume_notebook(tmp_path / "job.ipynb")
    flag = tmp_path / "flag"
    flag.touch()
    first = run_cli("run", str(nb), "-r", f"flag={flag}", "--outputs-file", str(tmp_path / "first.json"))
    assert first.code == 4 and first.record["outputs"] == {"early": 1}
    failed_nb, failed_record = Path(first.record["output"]), Path(first.record["record"])
    evidence = failed_nb.read_bytes(), failed_record.read_bytes()
    flag.unlink()
    over = invoke("run", str(nb), "--resume", str(failed_record), "-o", str(failed_nb))
    assert over.code == 2 and "is an input of this run" in over.stderr
    again = run_cli("run", str(nb), "--resume", str(failed_record), "--outputs-file", str(tmp_path / "again.json"))
    assert again.code == 0, again.stderr
    resumed = Path(again.record["output"])
    assert resumed.parent == failed_nb.parent and resumed.name.startswith("job.out.resumed-")
    assert (failed_nb.read_bytes(), failed_record.read_bytes()) == evidence  # the failure's evidence is untouched
    assert again.record["outputs"] == {"early": 1, "late": 2}
    assert json.loads((tmp_path / "again.json").read_text()) == {"early": 1, "late": 2}
