"""The cases every object store passes, against a real emulator over HTTP on 127.0.0.1: each store's test module
(tests/test_gcs.py, tests/test_azure.py) imports them and provides two fixtures, ``emulated`` (one emulator for the
module, with the buckets ``reports`` and ``notebooks``) and ``lone`` (an emulator of the test's own, to kill), both
an :class:`Emulated`. The real CLI runs in a subprocess; what it stored is read back through the store's own SDK."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import nbformat

from tests.conftest import Result, default_signals, read_nb, run_cli
from tests.test_run import outputs_text


class Emulated(Protocol):
    scheme: str  # the scheme the cases write
    extra: str  # the extra a run without the library is told to install
    blocked: str  # the module whose import fails when the extra is missing

    def env(self) -> dict[str, str]:
        """What a process needs to reach the emulator through the SDK's own chain; it holds :attr:`secret`."""
        ...

    @property
    def secret(self) -> str:
        """A credential in :meth:`env` that nbrunner must never print nor store."""
        ...

    def put(self, bucket: str, key: str, data: bytes) -> None: ...

    def get(self, bucket: str, key: str) -> bytes: ...

    def head(self, bucket: str, key: str) -> tuple[str, dict[str, str]]:
        """The object's content type and its metadata (names as nbrunner gives them: ``nbrunner-run-id``)."""
        ...

    def kill(self) -> None: ...


def listening(proc: subprocess.Popen[bytes], port: int, name: str) -> None:
    """Return once ``proc`` accepts connections on 127.0.0.1:``port``; RuntimeError if it exits or takes 20 s."""
    for _ in range(400):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}") from None
            time.sleep(0.05)
    kill(proc)
    raise RuntimeError(f"{name} did not listen in 20 s")


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def run(store: Emulated, tmp_path: Path, *args: str) -> Result:
    return run_cli(*args, env={**store.env(), "NBRUNNER_SPOOL": str(tmp_path / "spool")})


def stored_nb(store: Emulated, key: str) -> nbformat.NotebookNode:
    """The notebook stored at ``reports/key``; every one nbrunner stores is valid."""
    nb = nbformat.reads(store.get("reports", key).decode(), as_version=4)
    nbformat.validate(nb)
    return nb


def printed(store: Emulated, key: str) -> str:
    """What params.ipynb, stored at ``reports/key``, printed of its parameters."""
    return outputs_text(stored_nb(store, key).cells[2])


def never_shown(store: Emulated, *texts: str) -> None:
    for text in texts:
        assert store.secret not in text


def status_in_store(store: Emulated, bucket: str, key: str) -> str | None:
    """The ``nbrunner-status`` metadata of the object, None while there is no such object."""
    try:
        return store.head(bucket, key)[1].get("nbrunner-status")
    except Exception:  # not there yet: each SDK says so with an error of its own
        return None


def wait_for(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    """Return once ``condition()`` holds; fail if ``proc`` exits first or ``timeout`` s pass (a bound for a hung
    test, not a margin any run needs)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def test_outputs_are_stored_with_types_and_metadata_record_last(
    emulated: Emulated, notebooks: Path, tmp_path: Path
) -> None:
    s = emulated.scheme
    result = run(emulated, tmp_path, "run", str(notebooks / "params.ipynb"), "-p", "date=2026-11-20",
                 "-o", f"{s}://reports/daily/{{date}}/{{notebook}}.ipynb",
                 "--outputs-file", f"{s}://reports/daily/outputs.json")  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.record["output"] == f"{s}://reports/daily/2026-11-20/params.ipynb"
    record = json.loads(emulated.get("reports", "daily/2026-11-20/params.run.json"))
    assert record["run_id"] == result.record["run_id"] and record["status"] == "succeeded"
    assert '"2026-11-20"' in printed(emulated, "daily/2026-11-20/params.ipynb")
    assert b"2026-11-20" in emulated.get("reports", "daily/2026-11-20/params.html")
    meta = {"nbrunner-run-id": record["run_id"], "nbrunner-status": "succeeded"}
    assert emulated.head("reports", "daily/2026-11-20/params.ipynb") == ("application/x-ipynb+json", meta)
    assert emulated.head("reports", "daily/2026-11-20/params.html") == ("text/html; charset=utf-8", meta)
    assert emulated.head("reports", "daily/2026-11-20/params.run.json") == ("application/json", meta)
    assert json.loads(emulated.get("reports", "daily/outputs.json")) == result.record["outputs"]
    assert emulated.head("reports", "daily/outputs.json")[0] == "application/json"
    assert not any((tmp_path / "spool").rglob("*.ipynb")), "the local copy is removed once stored"
    never_shown(emulated, result.stdout, result.stderr, json.dumps(record))


def test_inputs_and_a_parameters_file_are_read_and_runs_lists_the_records(
    emulated: Emulated, notebooks: Path, tmp_path: Path
) -> None:
    s = emulated.scheme
    emulated.put("notebooks", "src/params.ipynb", (notebooks / "params.ipynb").read_bytes())
    emulated.put("notebooks", "params/prod.yaml", b"n: 42\nlabel: prod\n")
    result = run(emulated, tmp_path, "run", f"{s}://notebooks/src/params.ipynb", "-f", f"{s}://notebooks/params/prod.yaml",
                 "-p", "date=2026-11-20", "-o", f"{s}://reports/in/{{notebook}}-{{n}}.ipynb")  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.record["input"] == f"{s}://notebooks/src/params.ipynb"
    values = json.loads(printed(emulated, "in/params-42.ipynb"))
    assert values["n"] == [42, "int"] and values["label"] == ["prod", "str"]
    listed = run(emulated, tmp_path, "runs", f"{s}://reports/in/", "--json")
    assert listed.code == 0, listed.stderr
    [found] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert found["run_id"] == result.record["run_id"] and found["record"] == f"{s}://reports/in/params-42.run.json"
    page = run(emulated, tmp_path, "runs", f"{s}://reports/in/", "--html", f"{s}://reports/pages/in.html")
    assert page.code == 0, page.stderr
    assert emulated.head("reports", "pages/in.html")[0] == "text/html; charset=utf-8"
    assert f"{s}://reports/in/params-42.html".encode() in emulated.get("reports", "pages/in.html")


def test_a_chain_file_in_the_store_names_notebooks_beside_it(
    emulated: Emulated, notebooks: Path, tmp_path: Path
) -> None:
    s = emulated.scheme
    emulated.put("notebooks", "nightly/params.ipynb", (notebooks / "params.ipynb").read_bytes())
    emulated.put("notebooks", "nightly/chain.yaml", b"- {notebook: params.ipynb, parameters: {n: 7}}\n")
    result = run(emulated, tmp_path, "run", "--chain-file", f"{s}://notebooks/nightly/chain.yaml",
                 "-o", f"{s}://reports/chain/{{notebook}}-{{n}}.ipynb")  # fmt: skip
    assert result.code == 0, result.stderr
    [step] = result.record["runs"]
    assert step["input"] == f"{s}://notebooks/nightly/params.ipynb" and step["parameters"] == {"n": 7}
    assert json.loads(printed(emulated, "chain/params-7.ipynb"))["n"] == [7, "int"]


def test_a_missing_bucket_stops_the_run_before_it_starts_and_a_missing_input_is_exit_2(
    emulated: Emulated, notebooks: Path, tmp_path: Path
) -> None:
    s = emulated.scheme
    out = run(emulated, tmp_path, "run", str(notebooks / "ok.ipynb"), "-o", f"{s}://no-such-bucket/ok.ipynb")
    assert out.code == 8, out.stderr
    [line] = [line for line in out.stderr.splitlines() if line.strip()]  # one line, and nothing ran
    assert "'no-such-bucket' does not exist" in line and f"{s}://no-such-bucket/ok.ipynb" in line
    assert not (tmp_path / "spool").exists() or not any((tmp_path / "spool").rglob("*.ipynb"))
    missing = run(emulated, tmp_path, "run", f"{s}://notebooks/missing.ipynb")
    assert missing.code == 2 and f"cannot read {s}://notebooks/missing.ipynb" in missing.stderr, missing.stderr
    bad = run(emulated, tmp_path, "run", str(notebooks / "ok.ipynb"), "-o", f"{s}://Bad_Bucket!/x.ipynb")
    assert bad.code == 2 and "Traceback" not in bad.stderr
    never_shown(emulated, out.stderr, missing.stderr, bad.stderr)


def test_the_store_killed_mid_run_exits_8_and_keeps_the_complete_local_copy(
    lone: Emulated, notebooks: Path, tmp_path: Path
) -> None:
    s = lone.scheme
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbrunner", "run", str(notebooks / "progress.ipynb"), "-p", "steps=40", "-p",
         "pause=0.1", "--log-output", "--store-timeout", "5", "-o", f"{s}://reports/killed/progress.ipynb"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals(),
        env={**os.environ, **lone.env(), "NBRUNNER_SPOOL": str(tmp_path / "spool")},
    )  # fmt: skip
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "step 0" in line:  # checked before the run, now running: the store goes away
            lone.kill()
            break
    stdout, rest = proc.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert proc.returncode == 8, stderr
    result = Result(8, stdout, stderr)
    kept = Path(result.record["storage"]["local_copy"])
    assert kept.is_relative_to(tmp_path / "spool") and f"the local copy is kept at {kept}" in stderr
    assert f"{s}://reports/killed/progress.ipynb" in stderr and "Traceback" not in stderr
    assert "step 39" in "".join(outputs_text(cell) for cell in read_nb(kept).cells)  # the run went on to its end
    assert json.loads(kept.with_name("progress.run.json").read_text())["exit_code"] == 8
    assert kept.with_name("progress.html").exists()
    never_shown(lone, stdout, stderr, *(path.read_text() for path in kept.parent.iterdir()))


def test_a_missing_extra_is_exit_2_in_one_line_naming_it(emulated: Emulated, notebooks: Path, tmp_path: Path) -> None:
    """The library's import fails (a sitecustomize blocks it), as when the extra is not installed."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import sys\n\n\nclass Blocked:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {emulated.blocked!r} or name.startswith({emulated.blocked + '.'!r}):\n"
        "            raise ImportError(f'{name} is blocked by the test')\n\n\n"
        "sys.meta_path.insert(0, Blocked())\n"
    )  # fmt: skip
    env = {**emulated.env(), "PYTHONPATH": str(site), "NBRUNNER_SPOOL": str(tmp_path / "spool")}
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-o", f"{emulated.scheme}://reports/x/ok.ipynb", env=env)
    assert result.code == 2, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert f"pip install 'nbrunner[{emulated.extra}]'" in line and "Traceback" not in line


def test_resume_reads_the_record_and_the_failed_notebook_from_the_store_and_stores_beside_them(
    emulated: Emulated, notebooks: Path, tmp_path: Path
) -> None:
    """--resume with the notebook, the record and the failed run's notebook in the store: the failed cell and what
    follows run again, the cells before it keep the outputs read back from the store, and the resumed run's
    artifacts go beside the failed run's, which stay as they were."""
    s = emulated.scheme
    log, flag = tmp_path / "log.txt", tmp_path / "fault"
    flag.touch()
    emulated.put("notebooks", "resume/resume.ipynb", (notebooks / "resume.ipynb").read_bytes())
    source = f"{s}://notebooks/resume/resume.ipynb"
    first = run(emulated, tmp_path, "run", source, "-r", f"log={log}", "-r", f"flag={flag}",
                "-o", f"{s}://reports/resume/resume.ipynb")  # fmt: skip
    assert first.code == 4, first.stderr
    assert first.record["record"] == f"{s}://reports/resume/resume.run.json"
    flag.unlink()
    again = run(emulated, tmp_path, "run", source, "--resume", f"{s}://reports/resume/resume.run.json")
    assert again.code == 0, again.stderr
    assert log.read_text() == "setup\nexpensive\nsetup\nchecked\n"  # the expensive cell did not run again
    record = again.record
    assert record["resumed_from"] == first.record["run_id"] and record["parameters"] == first.record["parameters"]
    key = f"resume/resume.resumed-{record['run_id']}"
    assert record["output"] == f"{s}://reports/{key}.ipynb"
    nb = stored_nb(emulated, f"{key}.ipynb")
    kept = nb.cells[3]
    assert kept.metadata.nbrunner["status"] == "kept" and "expensive work done" in outputs_text(kept)
    assert nb.cells[4].metadata.nbrunner["status"] == "ok"
    assert json.loads(emulated.get("reports", f"{key}.run.json"))["resumed_from"] == first.record["run_id"]
    assert emulated.head("reports", f"{key}.ipynb")[1]["nbrunner-status"] == "succeeded"
    assert emulated.head("reports", "resume/resume.ipynb")[1]["nbrunner-status"] == "failed"  # the evidence kept
    assert json.loads(emulated.get("reports", "resume/resume.run.json"))["run_id"] == first.record["run_id"]
    never_shown(emulated, first.stderr, again.stderr, again.stdout)


def test_checkpoints_of_a_running_cell_are_in_the_store_before_it_ends(
    emulated: Emulated, notebooks: Path, tmp_path: Path
) -> None:
    """--checkpoint-every: the partial notebook (status running) is in the store while a cell still runs; the cell
    ends only once the test has seen it there, then the final upload replaces it (status succeeded)."""
    s, key = emulated.scheme, "checkpoints/waits.ipynb"
    release = tmp_path / "release"

    def checkpointed() -> bool:  # a checkpoint taken once the cell had printed
        if status_in_store(emulated, "reports", key) != "running":
            return False
        return "step 0" in outputs_text(stored_nb(emulated, key).cells[-1])

    proc = subprocess.Popen(
        [sys.executable, "-m", "nbrunner", "run", str(notebooks / "waits.ipynb"), "-r", f"release={release}",
         "--checkpoint-every", "0.2", "-o", f"{s}://reports/{key}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, **emulated.env(), "NBRUNNER_SPOOL": str(tmp_path / "spool")},
    )  # fmt: skip
    try:
        wait_for(checkpointed, "a checkpoint of the running cell in the store", proc)
        assert emulated.head("reports", key)[0] == "application/x-ipynb+json"
        assert "released" not in outputs_text(stored_nb(emulated, key).cells[-1])
    finally:
        release.touch()
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    result = Result(0, stdout, stderr)
    assert result.record["storage"]["checkpoints"] >= 1
    assert emulated.head("reports", key)[1]["nbrunner-status"] == "succeeded"
    assert "released" in outputs_text(stored_nb(emulated, key).cells[-1])
    assert not any((tmp_path / "spool").rglob("*.ipynb")), "the local copy and the checkpoint are removed once stored"
    never_shown(emulated, stdout, stderr)


def test_a_for_each_through_the_python_api_stores_every_iteration(
    emulated: Emulated, notebooks: Path, tmp_path: Path
) -> None:
    """The Python API with the store's settings in the run's ``environ`` (not this process's), two iterations at
    once, each stored with its record, the summary listing them."""
    from nbrunner import run_notebook
    from nbrunner.config import StorageOptions

    s = emulated.scheme
    summary = run_notebook(notebooks / "params.ipynb", f"{s}://reports/each/{{n}}.ipynb", for_each={"n": [5, 6]},
                           parallel=2, environ={**os.environ, **emulated.env()},
                           storage=StorageOptions(spool=str(tmp_path / "spool")))  # fmt: skip
    assert summary.status == "succeeded", summary.as_json()
    assert [it["record"] for it in summary.as_json()["iterations"]] == [
        f"{s}://reports/each/{n}.run.json" for n in (5, 6)
    ]
    for n in (5, 6):
        assert json.loads(printed(emulated, f"each/{n}.ipynb"))["n"] == [n, "int"]
        record = json.loads(emulated.get("reports", f"each/{n}.run.json"))
        assert record["status"] == "succeeded" and record["for_each"]["values"] == {"n": n}
    assert emulated.secret not in json.dumps(summary.as_json())
