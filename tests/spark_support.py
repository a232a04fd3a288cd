"""Real spark-submit (from the pyspark package, Java 17) and a loopback standalone cluster for the Spark tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import Result

BIN = Path(sys.executable).parent


def spark_env(**extra: str) -> dict[str, str]:
    """spark-submit finds SPARK_HOME and the driver's Python through PATH; everything stays on loopback."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "PYSPARK_PYTHON": sys.executable}
    env.update(SPARK_LOCAL_IP="127.0.0.1", SPARK_LOCAL_HOSTNAME="localhost")
    env.update(extra)
    return env


LOOPBACK_CONF = ["--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
                 "--conf", "spark.ui.showConsoleProgress=false"]  # fmt: skip


def entrypoint() -> str:
    return subprocess.run(
        [str(BIN / "nbrunner"), "entrypoint"], capture_output=True, text=True, check=True
    ).stdout.strip()


def spark_submit(*args: str, master: str = "local[2]", spark_args: tuple[str, ...] = (), timeout: float = 240,
                 env: dict[str, str] | None = None) -> Result:  # fmt: skip
    """spark-submit [spark_args] <nbrunner launcher> args..."""
    cmd = [str(BIN / "spark-submit"), "--master", master, *LOOPBACK_CONF, *spark_args, entrypoint(), *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=env or spark_env(), stdin=subprocess.DEVNULL
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def spark_home() -> str:
    """pyspark's own folder, the SPARK_HOME of a pip install."""
    return subprocess.run(
        [sys.executable, "-c", "import pyspark, os; print(os.path.dirname(pyspark.__file__))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def standalone_cluster(workdir: Path, *, workers: int = 1) -> Iterator[str]:
    """A standalone master and ``workers`` workers (0 or 1) on 127.0.0.1; yields the master URL."""
    home = spark_home()
    spark_class = os.path.join(home, "bin", "spark-class")
    env = spark_env(SPARK_HOME=home, SPARK_WORKER_DIR=str(workdir / "work"))
    port, ui, worker_ui = free_port(), free_port(), free_port()
    logs = [open(workdir / name, "w") for name in ("master.log", "worker.log")]  # noqa: SIM115
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
         "--webui-port", str(ui)],
        stdout=logs[0], stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    procs = [master]
    try:
        wait_for_port(port)
        url = f"spark://127.0.0.1:{port}"
        if not workers:
            yield url
            return
        worker = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "2",
             "--memory", "1g", "--webui-port", str(worker_ui), url],
            stdout=logs[1], stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        procs.append(worker)
        deadline = time.monotonic() + 60
        while "Successfully registered with master" not in (workdir / "worker.log").read_text():
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("the standalone worker did not register:\n" + (workdir / "worker.log").read_text())
            time.sleep(0.2)
        yield url
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


def processes_matching(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if text in cmdline and state != "Z" and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found
