"""Real ``flink run`` (the apache-flink wheel's own scripts, in .venv-flink made by dev/test.sh; Java 17) and a
loopback session cluster for the Flink tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat

from tests.conftest import Result
from tests.spark_support import free_port

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-flink"
PYTHON = VENV / "bin" / "python"


def flink_home() -> Path:
    """The wheel's FLINK_HOME: pyflink's own folder (bin/flink, lib/, opt/, conf/)."""
    assert PYTHON.exists(), "no Flink virtualenv: bash dev/test.sh makes .venv-flink"
    found = subprocess.run([str(PYTHON), "-c", "import pyflink, os; print(os.path.dirname(pyflink.__file__))"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    return Path(found)


def hosts_file(host: str, folder: Path) -> Path:
    """A hosts file for ``-Djdk.net.hosts.file``: the JVM then resolves ``host`` and localhost, and nothing else."""
    found = folder / f"hosts-{host}"
    found.write_text(f"127.0.0.1 localhost {host}\n")
    return found


def flink_env(**extra: str) -> dict[str, str]:
    """flink run's environment. Where this host's name does not resolve (a container, a chroot), Flink's local
    mini-cluster cannot start (nbrunner says so, exit 7): the JVM gets a hosts file naming it, the fix
    docs/flink.md gives, so that the other tests test what they are about."""
    env = {**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ.get('PATH', '')}"}
    for name in ("PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET", "SPARK_REMOTE", "VIRTUAL_ENV"):
        env.pop(name, None)
    env.update(hosts_file_for_jvm(env))
    env.update(extra)
    return env


def hosts_file_for_jvm(env: Mapping[str, str], variable: str = "JVM_ARGS") -> dict[str, str]:
    """``variable`` (flink's ``JVM_ARGS``, spark-submit's ``SPARK_SUBMIT_OPTS``) with a hosts file that maps this
    host's name added, where it does not resolve (the docs' fix: the JVM's equivalent of /etc/hosts); nothing where
    it resolves."""
    host = socket.gethostname()
    try:
        socket.getaddrinfo(host, None)
    except OSError:
        mapped = hosts_file(host, Path(tempfile.gettempdir()))
        return {variable: f"{env.get(variable, '')} -Djdk.net.hosts.file={mapped}".strip()}
    return {}


def entrypoint() -> str:
    return subprocess.run([str(VENV / "bin" / "nbrunner"), "entrypoint"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def flink_command(*args: str, target: Sequence[str] = ("-t", "local")) -> list[str]:
    """flink run [target] -py <nbrunner launcher> run args..., the job's Python being .venv-flink's."""
    return [str(flink_home() / "bin" / "flink"), "run", *target, "-pyclientexec", str(PYTHON), "-pyexec",
            str(PYTHON), "-py", entrypoint(), "run", *args]  # fmt: skip


def flink_run(*args: str, target: Sequence[str] = ("-t", "local"), timeout: float = 300, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> Result:  # fmt: skip
    proc = subprocess.run(flink_command(*args, target=target), capture_output=True, text=True, timeout=timeout,
                          env=env or flink_env(), stdin=subprocess.DEVNULL, cwd=cwd)  # fmt: skip
    return Result(proc.returncode, proc.stdout, proc.stderr)


def notebook(path: Path, *sources: str, parameters: str | None = None) -> Path:
    cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})] if parameters else []
    cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


#: a batch query that runs for hours unless cancelled (5 rows a second into a blackhole)
ENDLESS = (
    "t_env.execute_sql(\"CREATE TABLE g (a BIGINT) WITH ('connector'='datagen', 'number-of-rows'='100000000', "
    "'rows-per-second'='5')\")\n"
    "t_env.execute_sql(\"CREATE TABLE bh (a BIGINT) WITH ('connector'='blackhole')\")\n"
    "result = t_env.execute_sql('INSERT INTO bh SELECT a FROM g')\n"
    "print('job started', result.get_job_client().get_job_id(), flush=True)\n"
    "result.wait()"
)


class SessionCluster:
    """A Flink session cluster on 127.0.0.1 (a JobManager and a TaskManager, foreground processes of the wheel's
    own scripts), with its REST API."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.rest_port = free_port()
        self.conf = workdir / "conf"
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def target(self) -> tuple[str, ...]:
        return ("-t", "remote", "-Drest.address=127.0.0.1", f"-Drest.port={self.rest_port}")

    def start(self) -> None:
        home = flink_home()
        shutil.copytree(home / "conf", self.conf)
        config = {
            "jobmanager.bind-host": "127.0.0.1", "jobmanager.rpc.address": "127.0.0.1",
            "jobmanager.rpc.port": str(free_port()), "jobmanager.memory.process.size": "1024m",
            "taskmanager.bind-host": "127.0.0.1", "taskmanager.host": "127.0.0.1",
            "taskmanager.numberOfTaskSlots": "4", "taskmanager.memory.process.size": "1536m",
            "rest.address": "127.0.0.1", "rest.bind-address": "127.0.0.1", "rest.port": str(self.rest_port),
            "python.executable": str(PYTHON), "parallelism.default": "1",
        }  # fmt: skip
        (self.conf / "config.yaml").write_text("".join(f"{key}: {value}\n" for key, value in config.items()))
        env = flink_env(FLINK_CONF_DIR=str(self.conf), FLINK_LOG_DIR=str(self.workdir))
        for script in ("jobmanager.sh", "taskmanager.sh"):
            log = open(self.workdir / f"{script}.log", "wb")  # noqa: SIM115 - closed with the process
            command = [str(home / "bin" / script), "start-foreground"]
            self.procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if self.get("/overview").get("slots-available", 0) >= 4:
                    return
            except OSError:
                pass
            for proc, script in zip(self.procs, ("jobmanager.sh", "taskmanager.sh"), strict=True):
                assert proc.poll() is None, f"{script} exited: " + (self.workdir / f"{script}.log").read_text()[-3000:]
            time.sleep(0.5)
        raise TimeoutError("the Flink session cluster did not come up in 180 s")

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.rest_port}{path}", timeout=10) as answer:  # noqa: S310
            return json.load(answer)

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.get("/jobs/overview")["jobs"])

    def cancel_all(self) -> None:
        for job in self.jobs():
            if job["state"] not in ("FINISHED", "FAILED", "CANCELED"):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{self.rest_port}/jobs/{job['jid']}?mode=cancel", method="PATCH"
                )
                urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def stop(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def session_cluster(workdir: Path) -> Iterator[SessionCluster]:
    cluster = SessionCluster(workdir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def wait_until(condition: Any, what: str, timeout: float = 120) -> None:
    """Until ``condition()`` is true: an event, not a margin (a loaded machine may take long)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout} s: {what}")


def read_until(proc: subprocess.Popen[str], text: str, timeout: float = 600) -> str:
    """What ``proc`` printed up to the first line holding ``text`` (an event, not a sleep); killed (and the test
    failed) if that never comes."""
    import threading

    assert proc.stdout is not None
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if text in line:
                return "".join(seen)
    finally:
        watchdog.cancel()
    raise AssertionError(f"{text!r} never printed:\n" + "".join(seen)[-3000:])
