"""Results in object storage: s3:// outputs and inputs over real HTTP to a local moto server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests import s3_server
from tests.conftest import Result, read_nb, run_cli
from tests.spark_support import free_port
from tests.test_run import outputs_text

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def s3() -> Iterator[s3_server.S3Server]:
    server = s3_server.start()
    server.client().create_bucket(Bucket="reports")
    server.client().create_bucket(Bucket="notebooks")
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3: s3_server.S3Server, tmp_path: Path) -> dict[str, str]:
    s3.clear()
    return {**s3.env(), "NBRUNNER_SPOOL": str(tmp_path / "spool")}


def get_json(s3: s3_server.S3Server, bucket: str, key: str) -> dict[str, object]:
    return dict(json.loads(s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()))


def get_nb(s3: s3_server.S3Server, bucket: str, key: str) -> object:
    body = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    nb = nbformat.reads(body, as_version=4)
    nbformat.validate(nb)  # every notebook nbrunner writes is valid
    return nb


def test_success_stores_three_artifacts_record_last(
    s3: s3_server.S3Server, s3_env: dict[str, str], notebooks: Path, tmp_path: Path
) -> None:
    result = run_cli(
        "run", str(notebooks / "params.ipynb"), "-p", "date=2026-11-20", "--sse", "AES256",
        "-o", "s3://reports/daily/{date}/{notebook}.ipynb", env=s3_env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    puts = s3.puts("reports")
    assert [p.path for p in puts] == [
        "/reports/daily/2026-11-20/params.ipynb",
        "/reports/daily/2026-11-20/params.html",
        "/reports/daily/2026-11-20/params.run.json",
    ]
    record = get_json(s3, "reports", "daily/2026-11-20/params.run.json")
    assert record["run_id"] == result.record["run_id"] and record["status"] == "succeeded"
    assert result.record["output"] == "s3://reports/daily/2026-11-20/params.ipynb"
    head = s3.client().head_object(Bucket="reports", Key="daily/2026-11-20/params.ipynb")
    assert head["Metadata"] == {"nbrunner-run-id": record["run_id"], "nbrunner-status": "succeeded"}
    assert head["ServerSideEncryption"] == "AES256"
    nb = get_nb(s3, "reports", "daily/2026-11-20/params.ipynb")
    assert '"2026-11-20"' in outputs_text(nb.cells[2])  # type: ignore[attr-defined]
    html = s3.client().get_object(Bucket="reports", Key="daily/2026-11-20/params.html")
    assert html["ContentType"].startswith("text/html") and b"2026-11-20" in html["Body"].read()
    assert not any((tmp_path / "spool").rglob("*.ipynb")), "the local copy is removed once stored"


@pytest.mark.parametrize(
    ("name", "args", "code", "status"),
    [
        ("fails", [], 4, "failed"),
        ("slow", ["--cell-timeout", "1"], 5, "timeout"),
        ("dies", [], 6, "kernel-died"),
    ],
)
def test_failed_runs_are_stored_with_their_failure(
    s3: s3_server.S3Server, s3_env: dict[str, str], notebooks: Path, name: str, args: list[str], code: int, status: str
) -> None:
    output = f"s3://reports/fail/{name}.ipynb"
    result = run_cli("run", str(notebooks / f"{name}.ipynb"), *args, "-o", output, env=s3_env)
    assert result.code == code, result.stderr
    record = get_json(s3, "reports", f"fail/{name}.run.json")
    assert record["status"] == status and record["exit_code"] == code
    nb = get_nb(s3, "reports", f"fail/{name}.ipynb")
    assert "nbrunner-error-banner" in nb.cells[0].metadata.tags  # type: ignore[attr-defined]
    head = s3.client().head_object(Bucket="reports", Key=f"fail/{name}.html")
    assert head["Metadata"]["nbrunner-status"] == status


def test_sigterm_run_is_stored(s3: s3_server.S3Server, s3_env: dict[str, str], notebooks: Path) -> None:
    import os

    proc = subprocess.Popen(
        [sys.executable, "-m", "nbrunner", "run", str(notebooks / "slow.ipynb"), "--log-output",
         "-o", "s3://reports/term/slow.ipynb"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **s3_env},
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:
        if "[cell 2] sleeping" in line:  # the slow cell is running (progress lines come at a cell's end)
            break
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert time.monotonic() - started < 10  # the cell sleeps 30 s
    assert Result(143, stdout, "").record["status"] == "terminated"
    assert get_json(s3, "reports", "term/slow.run.json")["status"] == "terminated"


def test_s3_input_notebook_and_parameter_file(s3: s3_server.S3Server, s3_env: dict[str, str], notebooks: Path) -> None:
    client = s3.client()
    client.put_object(Bucket="notebooks", Key="src/params.ipynb", Body=(notebooks / "params.ipynb").read_bytes())
    client.put_object(Bucket="notebooks", Key="params/prod.yaml", Body=b"n: 42\nlabel: prod\n")
    s3.clear()
    result = run_cli(
        "run", "s3://notebooks/src/params.ipynb", "-f", "s3://notebooks/params/prod.yaml", "-p", "date=2026-11-20",
        "-o", "s3://reports/in/{notebook}-{n}.ipynb", env=s3_env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    printed = json.loads(outputs_text(get_nb(s3, "reports", "in/params-42.ipynb").cells[2]))  # type: ignore[attr-defined]
    assert printed["n"] == [42, "int"] and printed["label"] == ["prod", "str"] and printed["date"][0] == "2026-11-20"
    assert result.record["input"] == "s3://notebooks/src/params.ipynb"


def test_unreachable_endpoint_exits_8_and_keeps_the_complete_local_copy(
    s3_env: dict[str, str], notebooks: Path, tmp_path: Path
) -> None:
    env = {**s3_env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_MAX_ATTEMPTS": "2"}
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-o", "s3://reports/x/ok.ipynb", env=env)
    assert result.code == 8, result.stderr
    assert "is unreachable" in result.stderr and "s3://reports/x/ok.ipynb" in result.stderr
    kept = Path(result.record["storage"]["local_copy"])
    assert kept.is_relative_to(tmp_path / "spool")
    assert f"the local copy is kept at {kept}" in result.stderr
    nb = read_nb(kept)
    assert outputs_text(nb.cells[3]) == "42"
    assert json.loads(kept.with_name("ok.run.json").read_text())["exit_code"] == 8
    assert kept.with_name("ok.html").exists()
    assert "Traceback" not in result.stderr


def test_missing_bucket_output_exits_8_and_input_exits_2(
    s3: s3_server.S3Server, s3_env: dict[str, str], notebooks: Path
) -> None:
    out = run_cli("run", str(notebooks / "ok.ipynb"), "-o", "s3://no-such-bucket/ok.ipynb", env=s3_env)
    assert out.code == 8, out.stderr
    assert "bucket 'no-such-bucket' does not exist" in out.stderr
    inp = run_cli("run", "s3://no-such-bucket/ok.ipynb", env=s3_env)
    assert inp.code == 2 and "bucket 'no-such-bucket' does not exist" in inp.stderr
    key = run_cli("run", "s3://notebooks/missing.ipynb", env=s3_env)
    assert key.code == 2 and "no object 'missing.ipynb' in bucket 'notebooks'" in key.stderr


@pytest.mark.parametrize("uri", ["s3://Bad_Bucket!/x.ipynb", "s3://reports"])
def test_malformed_uri_exits_2(s3_env: dict[str, str], notebooks: Path, uri: str) -> None:
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-o", uri, env=s3_env)
    assert result.code == 2, result.stderr
    assert "s3://" in result.stderr and "Traceback" not in result.stderr


def test_300_cells_are_uploaded_once(s3: s3_server.S3Server, s3_env: dict[str, str], tmp_path: Path) -> None:
    from nbformat import v4

    nb = v4.new_notebook(cells=[v4.new_code_cell(f"x = {i}") for i in range(300)])
    nbformat.write(nb, tmp_path / "many.ipynb")
    result = run_cli("run", str(tmp_path / "many.ipynb"), "-q", "-o", "s3://reports/many/many.ipynb", env=s3_env)
    assert result.code == 0, result.stderr
    notebook_puts = [p for p in s3.puts("reports") if p.path.endswith(".ipynb")]
    assert len(notebook_puts) == 1
    assert len(s3.puts("reports")) == 3


def test_checkpoints_during_a_slow_cell(s3: s3_server.S3Server, s3_env: dict[str, str], notebooks: Path) -> None:
    started = time.monotonic()
    result = run_cli(
        "run", str(notebooks / "progress.ipynb"), "-p", "steps=12", "-p", "pause=0.25", "--checkpoint-every", "0.8",
        "-o", "s3://reports/cp/progress.ipynb", env=s3_env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    checkpoints = [p for p in s3.puts("reports") if p.status_meta == "running"]
    assert 2 <= len(checkpoints) <= (time.monotonic() - started) / 0.8 + 1
    assert result.record["storage"]["checkpoints"] == len(checkpoints)
    final = s3.puts("reports")[-3:]
    assert [p.status_meta for p in final] == ["succeeded"] * 3


def test_a_chain_file_in_s3_names_notebooks_beside_it(
    s3: s3_server.S3Server, s3_env: dict[str, str], notebooks: Path
) -> None:
    client = s3.client()
    client.put_object(Bucket="notebooks", Key="nightly/params.ipynb", Body=(notebooks / "params.ipynb").read_bytes())
    client.put_object(
        Bucket="notebooks", Key="nightly/chain.yaml", Body=b"- {notebook: params.ipynb, parameters: {n: 7}}\n"
    )
    result = run_cli(
        "run", "--chain-file", "s3://notebooks/nightly/chain.yaml", "-o", "s3://reports/chain/{notebook}-{n}.ipynb",
        env=s3_env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    run = result.record["runs"][0]
    assert run["input"] == "s3://notebooks/nightly/params.ipynb" and run["parameters"] == {"n": 7}
    printed = json.loads(outputs_text(get_nb(s3, "reports", "chain/params-7.ipynb").cells[2]))  # type: ignore[attr-defined]
    assert printed["n"] == [7, "int"]


def test_prepare_only_stores_the_prepared_notebook(
    s3: s3_server.S3Server, s3_env: dict[str, str], notebooks: Path
) -> None:
    result = run_cli(
        "run", str(notebooks / "params.ipynb"), "-p", "n=3", "--prepare-only", "-o", "s3://reports/prepared/p.ipynb",
        env=s3_env,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.record["status"] == "prepared" and result.record["output"] == "s3://reports/prepared/p.ipynb"
    nb = get_nb(s3, "reports", "prepared/p.ipynb")
    assert "n = 3" in nb.cells[1].source  # type: ignore[attr-defined]
    assert nb.cells[1].metadata.tags == ["injected-parameters"]  # type: ignore[attr-defined]
    assert all(cell.get("execution_count") is None for cell in nb.cells)  # type: ignore[attr-defined]
    assert get_json(s3, "reports", "prepared/p.run.json")["status"] == "prepared"
    missing = run_cli(
        "run", str(notebooks / "params.ipynb"), "--prepare-only", "-o", "s3://no-such-bucket/p.ipynb", env=s3_env
    )
    assert missing.code == 8, missing.stderr  # refused before anything, as a run to that bucket is


def test_the_api_reads_the_endpoint_from_the_runs_environment(
    s3: s3_server.S3Server, notebooks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_notebook(environ=...): the run's environment, not this process's, names the S3 endpoint (two runs of one
    process may use two); the credentials come from botocore's own chain (this process's environment)."""
    from nbrunner import run_notebook

    env = s3.env()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
                 "AWS_SHARED_CREDENTIALS_FILE"):  # fmt: skip
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    s3.clear()
    record = run_notebook(notebooks / "ok.ipynb", "s3://reports/environ/ok.ipynb", environ={**os.environ, **env})
    assert record.status == "succeeded" and record.storage is not None
    assert record.storage["endpoint"] == s3.url
    assert [p.path for p in s3.puts("reports")][-1].endswith("environ/ok.run.json")
