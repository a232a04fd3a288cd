"""Hostile input and faults, each class through the real CLI: a stop always wins, nothing is lost, nothing hangs,
nothing escapes the output folder, nothing secret is printed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Result, default_signals, read_nb, run_cli
from tests.spark_support import free_port, processes_matching
from tests.test_run import outputs_text

AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


@dataclass(frozen=True)
class Endpoint:
    url: str
    contacted: threading.Event  # set once a client connected


@pytest.fixture
def silent_endpoint() -> Iterator[Endpoint]:
    """An HTTP endpoint on 127.0.0.1 that accepts connections and never answers (bounded: 120 s at most)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.5)
    held: list[socket.socket] = []
    stop, contacted = threading.Event(), threading.Event()

    def accept() -> None:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                held.append(server.accept()[0])
                contacted.set()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield Endpoint(f"http://127.0.0.1:{server.getsockname()[1]}", contacted)
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nbrunner", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **env}, stdin=subprocess.DEVNULL,
        preexec_fn=default_signals(),  # noqa: PLW1509 - the tests send SIGINT, which the suite may ignore
    )  # fmt: skip


# -- 1. a stop wins everywhere ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code", "status"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
@pytest.mark.parametrize("where", ["output bucket check", "s3 input"])
def test_a_stop_while_waiting_on_a_silent_endpoint_wins(
    notebooks: Path, silent_endpoint: Endpoint, signum: int, code: int, status: str, where: str
) -> None:
    env = {**AWS, "AWS_ENDPOINT_URL": silent_endpoint.url}
    args = ["run", str(notebooks / "ok.ipynb"), "-o", "s3://reports/x.ipynb", "--s3-check-timeout", "60"]
    if where == "s3 input":
        args = ["run", "s3://notebooks/ok.ipynb", "-o", str(notebooks / "x.ipynb")]
    proc = start(*args, env=env)
    assert silent_endpoint.contacted.wait(120), "nbrunner never reached the endpoint"  # its request is out
    sent = time.monotonic()
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert time.monotonic() - sent < 30  # the stop, not the 60 s wait for an answer, ends the run
    assert "[nbrunner] cell" not in stderr and "Traceback" not in stderr
    assert Result(code, stdout, stderr).record["status"] == status


# -- 7. a silent endpoint costs bounded time ----------------------------------------------------------------------


def test_a_silent_endpoint_costs_bounded_time_and_keeps_the_copy(
    notebooks: Path, silent_endpoint: Endpoint, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = run_cli(
        "run", str(notebooks / "ok.ipynb"), "-o", "s3://reports/x/ok.ipynb", "--s3-check-timeout", "1",
        "--s3-timeout", "3", "--spool", str(tmp_path / "spool"),
        env={**AWS, "AWS_ENDPOINT_URL": silent_endpoint.url}, timeout=60,
    )  # fmt: skip
    assert result.code == 8, result.stderr
    assert time.monotonic() - started < 20
    assert "running anyway" in result.stderr and "no answer within" in result.stderr
    kept = Path(result.record["storage"]["local_copy"])
    assert kept.is_relative_to(tmp_path / "spool") and f"the local copy is kept at {kept}" in result.stderr
    assert outputs_text(read_nb(kept).cells[3]) == "42"


# -- 2. nothing lost: what can be checked before the run is -------------------------------------------------------


def test_text_that_is_not_valid_unicode_is_refused_before_the_run(notebooks: Path) -> None:
    nb = json.loads((notebooks / "ok.ipynb").read_text())
    nb["cells"][2]["source"] = "print('" + chr(0xD800) + "')"
    (notebooks / "surrogate.ipynb").write_text(json.dumps(nb))  # json escapes the lone surrogate as \ud800
    result = run_cli("run", str(notebooks / "surrogate.ipynb"))
    assert result.code == 2 and "not valid Unicode" in result.stderr, result.stderr
    raw = subprocess.run(
        [sys.executable, "-m", "nbrunner", "run", str(notebooks / "ok.ipynb"), "-r", os.fsdecode(b"greeting=\xff")],
        capture_output=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert raw.returncode == 3 and b"not valid Unicode" in raw.stderr, raw.stderr
    assert not (notebooks / "ok.out.ipynb").exists()


def test_text_that_is_not_valid_unicode_never_stops_a_notebook_being_written(tmp_path: Path) -> None:
    # a kernel cannot send a lone surrogate (jupyter_client refuses to pack it), but metadata or a parameter
    # read some other way could hold one: the writer escapes it rather than lose the file
    from nbformat import v4

    from nbrunner.notebook import document

    nb = v4.new_notebook(cells=[v4.new_code_cell("x", outputs=[v4.new_output("stream", text="bad \ud800 text")])])
    document.normalize(nb)
    document.write(tmp_path / "out.ipynb", nb)
    assert "bad \ud800 text" in outputs_text(read_nb(tmp_path / "out.ipynb").cells[0])


# -- 3. no escape from the output folder --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["../../escape", "a/b", "..", "a\\b", "x\ny", ""])
@pytest.mark.parametrize("output", ["{out}/{{date}}.ipynb", "s3://reports/out/{{date}}.ipynb"])
def test_a_parameter_cannot_add_path_segments(notebooks: Path, tmp_path: Path, value: str, output: str) -> None:
    target = output.format(out=tmp_path / "out")
    result = run_cli("run", str(notebooks / "noparams.ipynb"), "-r", f"date={value}", "-o", target, env=AWS)
    assert result.code == 3, result.stderr
    assert "cannot go into the output path" in result.stderr
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("*.ipynb")) and not Path("escape.ipynb").exists()
    assert not (notebooks / "noparams.out.ipynb").exists()


def test_sub_folders_from_a_parameter_only_when_asked_and_never_up(notebooks: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "out" / "{date}.ipynb")
    result = run_cli(
        "run", str(notebooks / "noparams.ipynb"), "-r", "date=2026/11/20", "-o", out, "--allow-path-params"
    )
    assert result.code == 0, result.stderr
    assert (tmp_path / "out" / "2026" / "11" / "20.ipynb").exists()
    up = run_cli("run", str(notebooks / "noparams.ipynb"), "-r", "date=a/../../x", "-o", out, "--allow-path-params")
    assert up.code == 3 and "would climb out of the output folder" in up.stderr


# -- 4. parameter files that would hang or crash ------------------------------------------------------------------


def billion_laughs() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    return text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (billion_laughs(), "more than 100,000 items"),
        ("a: &a [*a]\n", "nested more than 100 levels"),
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 100 levels"),
        ("x: " + "9" * 5000 + "\n", "a number has more than"),
        ("x: !!python/object/apply:os.system ['echo pwned']\n", "not valid YAML or JSON"),
    ],
)
def test_hostile_parameter_files_fail_fast_with_exit_3(
    notebooks: Path, tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "p.yaml").write_text(content)
    started = time.monotonic()
    result = run_cli("run", str(notebooks / "noparams.ipynb"), "-f", str(tmp_path / "p.yaml"), timeout=60)
    assert result.code == 3, result.stderr
    assert time.monotonic() - started < 15
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- 5. YAML 1.2, not 1.1 -----------------------------------------------------------------------------------------


def test_command_line_values_are_typed_with_yaml_1_2(notebooks: Path) -> None:
    result = run_cli(
        "run", str(notebooks / "noparams.ipynb"), "--prepare-only",
        "-p", "t=12:30", "-p", "r=1:30", "-p", "b=NO", "-p", "o=on", "-p", "y=true", "-p", "n=NaN", "-p", "i=.inf",
        "-p", "octal=0o17", "-p", "zero=012",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    injected = read_nb(Path(result.record["output"])).cells[0].source
    for line in ("t = '12:30'", "r = '1:30'", "b = 'NO'", "o = 'on'", "y = True", 'n = float("nan")',
                 'i = float("inf")', "octal = 15", "zero = 12"):  # fmt: skip
        assert line in injected.splitlines(), (line, injected)


# -- 8. nbrunner's own output never shows a value, nor URL credentials --------------------------------------------


def test_progress_lines_never_show_parameter_values(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-p", "greeting=hunter2")
    assert result.code == 0
    assert "hunter2" not in result.stderr
    assert "(injected parameters: greeting)" in result.stderr


def test_endpoint_credentials_are_never_printed_nor_stored(notebooks: Path, tmp_path: Path) -> None:
    endpoint = f"http://AKIAUSER:sekrit-password@127.0.0.1:{free_port()}"
    result = run_cli(
        "run", str(notebooks / "ok.ipynb"), "-o", "s3://reports/x/ok.ipynb", "--endpoint-url", endpoint,
        "--s3-timeout", "5", "--spool", str(tmp_path / "spool"), env={**AWS, "AWS_MAX_ATTEMPTS": "1"}, timeout=90,
    )  # fmt: skip
    assert result.code == 8, result.stderr
    kept = Path(result.record["storage"]["local_copy"])
    everything = result.stdout + result.stderr + "".join(p.read_text() for p in kept.parent.iterdir())
    assert "sekrit-password" not in everything and "AKIAUSER" not in everything
    assert f"127.0.0.1:{endpoint.rsplit(':', 1)[1]}" in result.stderr


# -- 9. smaller ---------------------------------------------------------------------------------------------------


def test_sys_exit_false_is_success(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "sysexit_false.ipynb"))
    assert result.code == 0, result.stderr
    assert result.record["message"] == "stopped early by sys.exit(0)"


def test_parameters_tag_on_markdown_is_ignored_and_two_tagged_cells_warn(notebooks: Path) -> None:
    result = run_cli("run", str(notebooks / "tag_misuse.ipynb"), "-p", "x=5")
    assert result.code == 0, result.stderr
    assert "cell 0 is tagged 'parameters' but is a markdown cell" in result.stderr
    assert "2 cells are tagged 'parameters'; cell 1 declares them (not 2)" in result.stderr
    nb = read_nb(Path(result.record["output"]))
    assert nb.cells[2].metadata.tags == ["injected-parameters"]  # right after the first code parameters cell
    assert outputs_text(nb.cells[4]).strip() == "5 2"


def test_closed_stdout_and_stderr_do_not_stop_the_run(notebooks: Path) -> None:
    command = f"{sys.executable} -m nbrunner run {notebooks / 'ok.ipynb'} >&- 2>&-; echo $?"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False, timeout=120)
    assert done.stdout.strip() == "0", done.stderr
    record = json.loads((notebooks / "ok.out.run.json").read_text())
    assert record["status"] == "succeeded"
    assert outputs_text(read_nb(notebooks / "ok.out.ipynb").cells[3]) == "42"


def test_the_kernel_files_of_a_killed_nbrunner_are_removed_by_the_next_run(notebooks: Path, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    pid_file = tmp_path / "kernel.pid"
    proc = start("run", str(notebooks / "slow.ipynb"), "-r", f"pid_file={pid_file}", env={"TMPDIR": str(tmp)})
    assert proc.stderr is not None
    for line in proc.stderr:
        if "cell 2/" in line:
            break
    leftovers = list(tmp.glob("nbrunner-kernel-*"))
    assert leftovers and (leftovers[0] / "kernel.json").exists()
    proc.kill()
    proc.wait()
    kernel = int(pid_file.read_text())
    deadline = time.monotonic() + 15  # ipykernel notices its parent is gone, and exits
    while Path(f"/proc/{kernel}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_matching(str(leftovers[0])) == []
    assert leftovers[0].exists()  # SIGKILL: nobody cleaned up
    again = run_cli("run", str(notebooks / "ok.ipynb"), env={"TMPDIR": str(tmp)})
    assert again.code == 0, again.stderr
    assert not leftovers[0].exists() and not list(tmp.glob("nbrunner-kernel-*"))
    assert tempfile.gettempdir() != str(tmp)


def gone_reader(*args: str) -> tuple[int, str]:
    """The real CLI with stdout a pipe whose reader has gone before anything is written (``| head`` done, a driver
    JVM gone): its exit code and stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "nbrunner", *args], stdout=write_end, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, timeout=120, check=False)  # fmt: skip
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("run", "{nbs}/scheduler.ipynb", "--print-set-value", "-o", "{tmp}/out.ipynb"),
        ("run", "{nbs}/scheduler.ipynb", "{nbs}/ok.ipynb", "--print-set-value", "-o", "{tmp}/chain/"),
        ("inspect", "{nbs}/params.ipynb"),
        ("inspect", "{nbs}/params.ipynb", "--json"),
        ("entrypoint",),
    ],
    ids=["run-set-value", "chain-set-value", "inspect", "inspect-json", "entrypoint"],
)
def test_a_reader_of_stdout_that_has_gone_never_makes_exit_1(
    notebooks: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Every print to stdout goes through one guard: the command's own outcome and exit code stand."""
    code, stderr = gone_reader(*(arg.format(nbs=notebooks, tmp=tmp_path) for arg in command))
    assert code == 0, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    if command[0] == "run":
        assert list(tmp_path.rglob("*.run.json"))  # the run's record is in its files


def test_fifos_where_nbrunner_reads_its_own_files_never_hold_the_run(notebooks: Path, tmp_path: Path) -> None:
    """A FIFO at every entry of the template cache (the run blocked forever, SIGTERM ignored, nothing written) and
    as a secret's file: nbrunner never opens one for reading; the run ends as it would without them."""
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = run_cli("run", str(notebooks / "ok.ipynb"), "-o", str(tmp_path / "first.ipynb"), env=env)
    assert first.code == 0, first.stderr
    entries = list((tmp_path / "cache" / "nbrunner" / "templates").iterdir())
    assert entries
    for entry in entries:
        entry.unlink()
        os.mkfifo(entry)
    again = run_cli("run", str(notebooks / "ok.ipynb"), "-o", str(tmp_path / "again.ipynb"), env=env, timeout=300)
    assert again.code == 0, again.stderr
    assert (tmp_path / "again.html").read_text().count("42") == (tmp_path / "first.html").read_text().count("42")
    os.mkfifo(tmp_path / "secret.fifo")
    secret = run_cli("run", str(notebooks / "secret.ipynb"), "--secret", f"password=file:{tmp_path / 'secret.fifo'}",
                     "-o", str(tmp_path / "s.ipynb"), timeout=300)  # fmt: skip
    assert secret.code == 3 and "is not a regular file" in secret.stderr, secret.stderr


def test_a_deep_tmpdir_still_starts_the_kernel(notebooks: Path, tmp_path: Path) -> None:
    """A Unix socket's path holds 107 bytes: under a deep TMPDIR (a CI workspace, pytest-xdist's) the kernel's
    channels go over TCP on 127.0.0.1 instead, and its files still live (and are removed) there."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    result = run_cli("run", str(notebooks / "ok.ipynb"), "-o", str(tmp_path / "out.ipynb"), env={"TMPDIR": str(deep)})
    assert result.code == 0, result.stderr
    assert result.record["status"] == "succeeded"
    assert not list(deep.glob("nbrunner-kernel-*"))  # removed once the run ended
