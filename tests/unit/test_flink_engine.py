"""The Flink engine's own decisions, without a JVM: when it applies, what the record may say of the cluster, where
it cancels when the client JVM is going. (tests/test_flink.py runs it under a real flink run.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from nbrunner.config import RunConfig, SparkOptions
from nbrunner.core.kernels import KernelChoice
from nbrunner.engines import choose
from nbrunner.engines.flink.engine import FlinkEngine, check_kernel_pyflink
from nbrunner.engines.flink.hooks import FlinkRun, job_name
from nbrunner.engines.flink.jvm import FlinkJvm
from nbrunner.errors import GatewayError, UsageError

PYTHON = KernelChoice(name="python3", spec=None, language="python")


def jvm(configuration: dict[str, str]) -> FlinkJvm:
    found = FlinkJvm({"PYFLINK_GATEWAY_PORT": "40123"})
    found.configuration = configuration
    return found


def test_flink_run_is_recognised_by_its_gateway_port_alone() -> None:
    config = RunConfig(notebook="nb.ipynb")
    assert isinstance(choose(config, PYTHON, {"PYFLINK_GATEWAY_PORT": "40123"}), FlinkEngine)
    assert choose(config, PYTHON, {}) is None
    assert choose(config, PYTHON, {"PYFLINK_GATEWAY_PORT": "not-a-port"}) is None


def test_a_kernel_that_is_not_pythons_is_refused_in_one_line() -> None:
    r = KernelChoice(name="ir", spec=None, language="R")
    with pytest.raises(UsageError, match="flink run needs a Python kernel"):
        choose(RunConfig(notebook="nb.ipynb"), r, {"PYFLINK_GATEWAY_PORT": "40123"})


def test_the_mode_is_batch_or_streaming() -> None:
    assert SparkOptions(flink_mode="streaming").flink_mode == "streaming"
    with pytest.raises(UsageError, match="--flink-mode 'micro': give batch or streaming"):
        SparkOptions(flink_mode="micro")


def test_the_record_names_the_cluster_without_credentials() -> None:
    remote = jvm({"execution.target": "remote", "rest.address": "admin:pw@flink.internal", "rest.port": "8082",
                  "s3.secret-key": "hidden", "security.ssl.internal.keystore-password": "hidden"})  # fmt: skip
    assert remote.cluster() == {"rest.address": "flink.internal", "rest.port": "8082"}
    assert remote.rest() == "http://flink.internal:8082"  # where nbrunner cancels once the client JVM is going
    yarn = jvm({"execution.target": "yarn-session", "yarn.application.id": "application_1_0001",
                "rest.address": "localhost"})  # fmt: skip
    assert yarn.cluster()["yarn.application.id"] == "application_1_0001" and yarn.rest() is None
    assert jvm({"execution.target": "local", "rest.address": "localhost"}).cluster() == {}  # a mini-cluster in the JVM
    tls = jvm({"execution.target": "remote", "rest.address": "h", "security.ssl.rest.enabled": "true"})
    assert tls.rest() is None  # its certificates are the JVM's


def test_a_jobs_name_says_the_notebook_the_cell_and_the_run() -> None:
    assert job_name("20261207T0000Z-ab", "daily", 3) == "nbrunner daily cell 3 [20261207T0000Z-ab]"


class Board:
    """A FlinkJvm's job board and states, in Python: each job says RUNNING ``running`` times, then FINISHED."""

    def __init__(self, jobs: dict[str, tuple[int, int]]):
        self.jobs = jobs  # id -> (cell, how many answers say RUNNING)
        self.asked: dict[str, int] = {}

    def new_board(self) -> tuple[object, str]:
        return object(), "o1"

    def jobs_on(self, board: object, known: object = None) -> dict[str, tuple[int, object]]:
        return {job: (cell, job) for job, (cell, _) in self.jobs.items()}

    def state(self, client: object, job_id: str) -> str:
        self.asked[job_id] = self.asked.get(job_id, 0) + 1
        return "RUNNING" if self.asked[job_id] <= self.jobs[job_id][1] else "FINISHED"


def flink_run_on(board: Board) -> FlinkRun:
    fake = SimpleNamespace(new_board=board.new_board, jobs=board.jobs_on, state=board.state, version="2.3.0",
                           target="local", port=40123, cluster=dict)  # fmt: skip
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("t_env.execute_sql('...')")])
    return FlinkRun(fake, run_id="r1", app_name="nb", nb=nb)  # type: ignore[arg-type]


def test_a_job_that_ends_just_after_the_last_cell_is_recorded_finished() -> None:
    board = Board({"j1": (0, 3)})  # the collected job ends a moment after the cell returns
    run = flink_run_on(board)
    facts = run.after_run(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")]), failed=False)
    assert facts["jobs"] == [{"id": "j1", "cell": 0, "state": "FINISHED", "name": "nbrunner nb cell 0 [r1]"}]


def test_a_job_left_running_is_recorded_running_once_the_wait_is_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("nbrunner.engines.flink.hooks.END_WAIT", 0.3)
    board = Board({"j1": (0, 10**9)})  # a streaming job the notebook started and left running
    facts = flink_run_on(board).after_run(nbformat.v4.new_notebook(), failed=False)
    assert [job["state"] for job in facts["jobs"]] == ["RUNNING"] and "cancelled_jobs" not in facts


def fake_pyflink(folder: Path, version: str) -> Path:
    (folder / "pyflink").mkdir(parents=True)
    (folder / "pyflink" / "__init__.py").write_text("")
    (folder / "pyflink" / "version.py").write_text(f'__version__ = "{version}"\n')
    return folder


def kernel_with_env(env: dict[str, str]) -> KernelChoice:
    from jupyter_client.kernelspec import KernelSpec

    spec = KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher"], language="python", env=env)
    return KernelChoice(name="other", spec=spec, language="python")


def test_the_version_check_sees_the_kernels_environment_as_the_kernel_will(tmp_path: Path) -> None:
    old = fake_pyflink(tmp_path / "old", "1.19.1")
    new = fake_pyflink(tmp_path / "new", "2.3.0")
    kernel = kernel_with_env({"PYTHONPATH": str(old)})
    engine = FlinkEngine({"PYFLINK_GATEWAY_PORT": "40123", "PYTHONPATH": str(new)}, kernel)
    # flink run's path (its -pyfs files) first, the kernelspec's after it: what the kernel will import
    assert engine.kernel_env()["PYTHONPATH"] == os.pathsep.join((str(new), str(old)))
    assert check_kernel_pyflink("2.3.0", kernel, {}, engine.kernel_env()) == "2.3.0"
    with pytest.raises(GatewayError, match=r"pyflink is 1\.19\.1 .* install apache-flink==2\.3\.0"):
        check_kernel_pyflink("2.3.0", kernel, {"PYTHONPATH": str(new)}, {})  # the kernelspec's env over the base
