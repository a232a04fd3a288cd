"""Secrets that cannot leak: one notebook takes every road out of the kernel real code takes (child processes, raw
descriptor writes, pieces, escaped forms, dict keys, outputs, an exception), and every artifact and both standard
streams are searched for the value and its escaped forms. Through the real CLI (local and s3:// outputs, a chain, a
resumed run) and the Python API."""

from __future__ import annotations

import html
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from nbrunner import run_notebook
from nbrunner.errors import CellFailed
from tests.conftest import invoke, read_nb, run_cli
from tests.test_run import outputs_text
from tests.test_s3 import s3, s3_env  # noqa: F401 - the moto server fixtures

# quotes, a backslash, HTML and URL specials, a space, non-ASCII: each escaping changes it
SECRET = 'Zq9"x/&<p@ss> é\\tail-of-it-7'  # noqa: S105


def forms(value: str) -> list[str]:
    """The value as code commonly prints it (computed here, not by nbrunner's own list)."""
    return sorted({
        value, repr(value)[1:-1], json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value), html.escape(value, quote=False), quote(value), quote(value, safe=""), quote_plus(value),
        value[:12],  # most of it, cut short
    })  # fmt: skip


def strings_in(obj: Any) -> Iterator[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, list):
        for item in obj:
            yield from strings_in(item)
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield str(key)
            yield from strings_in(item)


def leaks(blob: str, value: str = SECRET) -> list[str]:
    """Each escaped form found in ``blob`` as written, HTML-unescaped, or in the strings of JSON it holds (whole, or
    one JSON document per line)."""
    texts = [blob, html.unescape(blob)]
    for doc in [blob, *blob.splitlines()]:
        try:
            texts.extend(strings_in(json.loads(doc)))
        except ValueError:
            pass
    return sorted({form for form in forms(value) for text in texts if form in text})


def artifacts(out: Path) -> dict[str, str]:
    stem = out.name.removesuffix(".ipynb")
    return {path.name: path.read_text() for path in (out, out.with_name(stem + ".html"),
                                                      out.with_name(stem + ".run.json")) if path.exists()}  # fmt: skip


def kill_daemon(pid_file: Path) -> None:
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


def check_notebook(nb: Any) -> None:
    """What the notebook shows: the value was there, delivered without a file or a variable left behind."""
    shown = outputs_text(nb.cells[3])  # banner, parameters, injected, first cell
    assert f"length {len(SECRET)}" in shown
    assert "fd None None" in shown  # read at the kernel's start, the descriptor's variable gone
    assert "files holding it under TMPDIR: 0" in shown  # never on disk
    assert "pieces [REDACTED] end" in "".join(outputs_text(cell) for cell in nb.cells if "outputs" in cell)


@pytest.mark.parametrize("where", ["local", "s3", "chain"])
def test_no_road_out_of_the_kernel_leaks_a_secret(
    notebooks: Path, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    pid_file = tmp_path / "daemon.pid"
    env = {"PW": SECRET, "TMPDIR": str(tmpdir), "DAEMON_PID_FILE": str(pid_file)}
    nb_in = str(notebooks / "secret_leaks.ipynb")
    out = tmp_path / "out" / "secret_leaks.ipynb"
    args = ["run", nb_in, "--secret", "password=env:PW", "--log-output", "--print-set-value",
            "--outputs-file", str(tmp_path / "outputs.json")]  # fmt: skip
    if where == "s3":
        env.update(request.getfixturevalue("s3_env"))
        args += ["-o", "s3://reports/leaks/{notebook}.ipynb"]
    elif where == "chain":
        args += [str(notebooks / "ok.ipynb"), "--allow-undeclared", "--keep-going", "-o", f"{out.parent}/"]
    else:
        args += ["-o", str(out)]
    try:
        # a daemon holding the caller's stdout would keep this waiting for end-of-file for 600 s
        result = run_cli(*args, env=env, timeout=240)
    finally:
        kill_daemon(pid_file)
    assert result.code == 4, result.stderr
    written = {"stdout": result.stdout, "stderr": result.stderr}
    if (tmp_path / "outputs.json").exists():
        written["outputs.json"] = (tmp_path / "outputs.json").read_text()
    if where == "s3":
        s3 = request.getfixturevalue("s3")
        for key in ("leaks/secret_leaks.ipynb", "leaks/secret_leaks.html", "leaks/secret_leaks.run.json"):
            obj = s3.client().get_object(Bucket="reports", Key=key)
            written[key] = obj["Body"].read().decode()
            written[key + " metadata"] = json.dumps(obj["Metadata"])
        out = tmp_path / "from-s3.ipynb"
        out.write_text(written["leaks/secret_leaks.ipynb"])
    else:
        written.update(artifacts(out))
    assert {name: leaks(text) for name, text in written.items() if leaks(text)} == {}
    check_notebook(read_nb(out))
    # what went through the kernel's own descriptors reached stderr, redacted, and nothing else reached stdout
    assert "[REDACTED]" in result.stderr and "raw stderr [REDACTED]" in written["stderr"]
    record = result.record if where != "chain" else result.record["runs"][0]
    assert record["outputs"] == {"[REDACTED]": 1, "token": "[REDACTED]", "nested": {"[REDACTED]": ["[REDACTED]"]}}
    assert record["message"] == "cell 8 failed: KeyError: '[REDACTED]'"
    lines = result.stdout.splitlines()
    assert all(line.startswith("${setValue(") or line.startswith("{") for line in lines), lines

    if where == "local":  # resumed: the same rules
        resumed = tmp_path / "resumed" / "secret_leaks.ipynb"
        again = run_cli("run", nb_in, "--resume", str(out.with_name("secret_leaks.run.json")), "-o", str(resumed),
                        env=env, timeout=240)  # fmt: skip
        kill_daemon(pid_file)
        assert again.code == 4, again.stderr
        texts = {"stdout": again.stdout, "stderr": again.stderr, **artifacts(resumed)}
        assert {name: leaks(text) for name, text in texts.items() if leaks(text)} == {}


def test_the_python_api_redacts_the_error_and_the_record(
    notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PW", SECRET)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("DAEMON_PID_FILE", str(tmp_path / "daemon.pid"))
    caplog.set_level("DEBUG", logger="nbrunner")
    out = tmp_path / "api" / "leaks.ipynb"
    try:
        with pytest.raises(CellFailed) as failed:
            run_notebook(notebooks / "secret_leaks.ipynb", out, secrets={"password": "env:PW"}, html=True)
    finally:
        kill_daemon(tmp_path / "daemon.pid")
    error = failed.value
    assert leaks(str(error)) == [] and leaks(error.evalue) == []
    assert leaks(json.dumps(error.record.as_json())) == []
    assert leaks(caplog.text) == [] and "[REDACTED]" in caplog.text
    assert {name: leaks(text) for name, text in artifacts(out).items() if leaks(text)} == {}


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda d: "env:SHORT", "fewer than 6 characters"),
        (lambda d: "file:/dev/zero", "/dev/zero is not a regular file"),
        (lambda d: f"file:{d / 'fifo'}", "is not a regular file"),
        (lambda d: f"file:{d / 'big'}", "larger than 65536 bytes"),
        (lambda d: "hunter2-typed-in", "give a reference, env:VARIABLE or file:/path/to/file, not the value itself"),
    ],
)
def test_unusable_secrets_are_refused_in_one_line_without_the_value(
    notebooks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any, expected: str
) -> None:
    os.mkfifo(tmp_path / "fifo")  # reading it would wait forever for a writer
    (tmp_path / "big").write_bytes(b"s" * (64 * 1024 + 1))
    monkeypatch.setenv("SHORT", "pw")
    result = invoke("run", str(notebooks / "secret.ipynb"), "--secret", f"password={make(tmp_path)}")
    assert result.code == 3, result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr
    assert "hunter2" not in result.stdout + result.stderr and "'pw'" not in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 3
    bare = invoke("run", str(notebooks / "secret.ipynb"), "--secret", "hunter2-typed-in")
    assert bare.code == 3 and "hunter2" not in bare.stdout + bare.stderr


@pytest.mark.parametrize("url", ["http://admin:p@ss@127.0.0.1:9", "http://admin:p%40ss@127.0.0.1:9/"])
def test_endpoint_credentials_never_reach_a_stream_or_a_file(notebooks: Path, tmp_path: Path, url: str) -> None:
    """An endpoint whose password holds '@': parsed by its last '@'; the run's results cannot be stored (nothing
    listens there), so the kept local copy is written: no stream and no file shows the user or the password."""
    result = run_cli(
        "run", str(notebooks / "ok.ipynb"), "--endpoint-url", url, "-o", "s3://reports/x/{notebook}.ipynb",
        "--spool", str(tmp_path / "spool"), "--s3-timeout", "20", "--s3-check-timeout", "5",
        env={"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_MAX_ATTEMPTS": "1"},
    )  # fmt: skip
    assert result.code == 8, result.stderr
    kept = Path(result.record["storage"]["local_copy"])
    texts = [result.stdout, result.stderr, *artifacts(kept).values()]
    assert "127.0.0.1:9" in result.stderr  # the endpoint is named, without its userinfo
    assert not [text for text in texts if "admin" in text or "p@ss" in text or "p%40ss" in text]


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:pa/ss@127.0.0.1:9",
        "ftp://host",
        "http://:99999999",
        "http://host:9;token=pa/ss",
        "http://host:x/?X-Amz-Security-Token=pa/ss",
        "http://[::1/?token=pa/ss",
        "ftp://host/token=pa/ss",
        "http://host/?a=pa/ss x",
    ],
)
def test_endpoint_urls_that_cannot_be_parsed_are_refused_without_echoing_them(notebooks: Path, url: str) -> None:
    result = invoke("run", str(notebooks / "ok.ipynb"), "--endpoint-url", url)
    assert result.code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "pa/ss" not in result.stdout + result.stderr and "admin" not in result.stdout + result.stderr


@pytest.mark.spark
def test_no_secret_leaks_under_spark_submit(notebooks: Path, tmp_path: Path) -> None:
    """The same roads under real spark-submit, where the Python process's stderr is merged into stdout."""
    from tests.spark_support import spark_env, spark_submit

    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    pid_file = tmp_path / "daemon.pid"
    out = tmp_path / "out" / "secret_leaks.ipynb"
    env = spark_env(PW=SECRET, TMPDIR=str(tmpdir), DAEMON_PID_FILE=str(pid_file))
    try:
        result = spark_submit("run", str(notebooks / "secret_leaks.ipynb"), "--secret", "password=env:PW",
                              "--log-output", "--print-set-value", "--outputs-file", str(tmp_path / "outputs.json"),
                              "-o", str(out), env=env)  # fmt: skip
    finally:
        kill_daemon(pid_file)
    assert result.code == 4, result.stdout[-3000:] + result.stderr[-3000:]
    written = {"stdout": result.stdout, "stderr": result.stderr, **artifacts(out),
               "outputs.json": (tmp_path / "outputs.json").read_text()}  # fmt: skip
    assert {name: leaks(text) for name, text in written.items() if leaks(text)} == {}
    check_notebook(read_nb(out))
    assert "raw stderr [REDACTED]" in result.stdout + result.stderr


def relayed(redactor: Any, data: bytes, chunk: int) -> str:
    """What a real :class:`Relay` emits for ``data`` written to the kernel's stderr pipe ``chunk`` bytes at a time,
    its pieces joined; each piece is one emitted line or part of a long one."""
    from nbrunner.run.relay import Relay

    pieces: list[str] = []
    relay = Relay(lambda name, text: pieces.append(text) if name == "stderr" else None, redactor)
    writer = os.dup(relay.write_ends["stderr"])  # the "kernel's" copy of the write end
    relay.started()
    with os.fdopen(writer, "wb", buffering=0) as pipe:
        for at in range(0, len(data), chunk):
            pipe.write(data[at : at + chunk])
    relay.close(timeout=None)  # every writer has closed: the pump ends at end-of-file
    return "\x00".join(pieces)


def test_the_relay_redacts_a_secret_across_every_cut() -> None:
    """A secret (in each escaped form) written at fd level at every offset around the relay's 64 KiB piece, in
    reads of any size: never shown, not even in two pieces, and everything else kept, in order."""
    from nbrunner.core.secret_values import REDACTED, Redactor
    from nbrunner.run.relay import MAX_LINE

    redactor = Redactor([SECRET])
    for form in [*(form for form in forms(SECRET) if form != SECRET[:12]), SECRET[:20] + "..."]:
        width = len(form.encode())
        for offset in range(MAX_LINE - width - 1, MAX_LINE + 2):
            filler, tail = "x" * offset, "t" * MAX_LINE  # the line goes on: it is cut before its end comes
            for chunk in (1 << 16, 4093):
                shown = relayed(redactor, f"{filler}{form}{tail}\nnext {form}\n".encode(), chunk)
                assert shown.replace("\x00", "") == f"{filler}{REDACTED}{tail}next {REDACTED}", (form, offset, chunk)
                assert leaks(shown) == [], (form, offset, chunk)


def test_a_secret_written_on_the_kernels_descriptors_across_the_64k_cut_never_reaches_stderr(
    notebooks: Path, tmp_path: Path
) -> None:
    """Through the real CLI and kernel: a secret written with os.write at every offset around the relay's cut."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell('password = ""', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import os\nvalue = password.encode()\n"
            "for k in range(len(value) + 2):\n    os.write(2, b'x' * (65536 - k) + value + b'-after\\n')\n"
            "os.write(1, b'y' * 65530 + value + b'-end')"  # no newline: the last piece, at the kernel's exit
        ),
    ]
    nbformat.write(nb, tmp_path / "cut.ipynb")
    result = run_cli("run", str(tmp_path / "cut.ipynb"), "--secret", "password=env:PW", "-o",
                     str(tmp_path / "out.ipynb"), env={"PW": SECRET})  # fmt: skip
    assert result.code == 0, result.stderr[-2000:]
    assert leaks(result.stderr) == [] and leaks(result.stdout) == []
    halves = [SECRET[:k] for k in range(6, len(SECRET))] + [SECRET[k:] for k in range(1, len(SECRET) - 5)]
    assert [half for half in halves if half in result.stderr] == []
    assert result.stderr.count("[REDACTED]-after") == len(SECRET.encode()) + 2
    assert "[REDACTED]-end" in result.stderr
