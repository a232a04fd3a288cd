"""The Flink engine's own decisions, without a JVM: when it applies, what the record may say of the cluster, where
it cancels when the client JVM is going. (tests/test_flink.py runs it under a real flink run.)"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import pytest

from nbrunner.config import RunConfig, SparkOptions
from nbrunner.core.kernels import KernelChoice
from nbrunner.engines import choose
from nbrunner.engines.flink.engine import FlinkEngine, check_kernel_pyflink
from nbrunner.engines.flink.hooks import FlinkRun, job_name
from nbrunner.engines.flink.jvm import FlinkJvm, root_cause
from nbrunner.errors import CellFailed, GatewayError, UsageError

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
    """A FlinkJvm's job board, states and cancels, in Python: each job answers RUNNING ``running`` times, then its
    final state (FINISHED unless given); a cancelled one answers CANCELED."""

    def __init__(self, jobs: dict[str, tuple[Any, ...]]):
        self.jobs = dict(jobs)  # id -> (cell, how many answers say RUNNING[, final state])
        self.asked: dict[str, int] = {}
        self.cancels: list[str] = []
        self.on_cluster: dict[str, str] = {}  # job id -> name: what only the cluster's REST API lists

    def new_board(self) -> tuple[object, str]:
        return object(), "o1"

    def jobs_on(self, board: object, known: Any = ()) -> dict[str, tuple[int, object, bool]]:
        return {job: (spec[0], job, job.startswith("own")) for job, spec in self.jobs.items() if job not in known}

    def state(self, client: object, job_id: str) -> str:
        if job_id in self.cancels:
            return "CANCELED"
        self.asked[job_id] = self.asked.get(job_id, 0) + 1
        cell, running, *final = self.jobs[job_id]
        return "RUNNING" if self.asked[job_id] <= running else (final or ["FINISHED"])[0]

    def cancel(self, client: object, job_id: str) -> bool:
        self.cancels.append(job_id)
        return True

    def failure_cause(self, client: object) -> str:
        return "java.io.IOException: the sink's bucket is gone"

    def running_named(self, suffix: str) -> dict[str, str]:
        """The session cluster's REST API: its unfinished jobs of this name (none unless a test puts some)."""
        return {job: name for job, name in self.on_cluster.items() if name.endswith(suffix) and job not in self.cancels}

    def cancel_by_id(self, job_id: str) -> bool:
        self.cancels.append(job_id)
        return True


def flink_run_on(board: Board, *sources: str) -> FlinkRun:
    fake = SimpleNamespace(new_board=board.new_board, jobs=board.jobs_on, state=board.state, cancel=board.cancel,
                           failure_cause=board.failure_cause, running_named=board.running_named,
                           cancel_by_id=board.cancel_by_id, version="2.3.0", target="local", port=40123,
                           cluster=dict, answering=True)  # fmt: skip
    cells = [nbformat.v4.new_code_cell(source) for source in sources or ("t_env.execute_sql('...')",)]
    return FlinkRun(fake, run_id="r1", app_name="nb", nb=nbformat.v4.new_notebook(cells=cells))  # type: ignore[arg-type]


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


def test_a_job_started_after_a_first_cancel_is_cancelled_by_the_next() -> None:
    """A cell that goes on past its cancelled query (a loop with try/except) starts another job: the stop thread's
    cancel ran once already, the failure path's last look cancels the new one too."""
    board = Board({"a": (0, 10**9)})
    run = flink_run_on(board)
    run.cancel()  # the stop thread, on SIGTERM
    board.jobs["b"] = (0, 10**9)  # the cell's loop submits the next query
    run.cancel()  # after_run(failed=True), once the kernel is gone
    assert board.cancels == ["a", "b"] and run.cancelled == ["a", "b"]


def test_a_job_a_cell_left_running_that_fails_later_fails_the_run_in_that_cell() -> None:
    cells = ("t_env.execute_sql('INSERT INTO sink ...')", "print('next')")
    board = Board({"insert": (0, 2, "FAILED")})  # still running when cell 0 returned, failed during cell 1
    run = flink_run_on(board, *cells)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    run.cell_finished(0, nb.cells[0], "ok", 0.1)
    run.cell_finished(1, nb.cells[1], "ok", 0.1)
    facts = run.after_run(nb, failed=False)
    assert [job["state"] for job in facts["jobs"]] == ["FAILED"]
    error = run.failure()
    assert isinstance(error, CellFailed) and error.cell_index == 0 and int(error.exit_code) == 4
    assert "failed after the cell returned: java.io.IOException: the sink's bucket is gone" in str(error)


def test_a_job_that_failed_within_its_cell_is_the_cells_business() -> None:
    board = Board({"q": (0, 0, "FAILED")})  # over when the cell returned: the cell raised, or chose to go on
    run = flink_run_on(board)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("try: ...\nexcept Exception: pass")])
    run.cell_finished(0, nb.cells[0], "ok", 0.1)
    run.after_run(nb, failed=False)
    assert run.failure() is None


def test_a_failed_jobs_cause_is_its_last_caused_by_or_the_python_udfs_own_error() -> None:
    udf = (  # the shape of a Python UDF's failure through JobClient.getJobExecutionResult().get(), shortened
        "An error occurred while calling o133.get.\n: java.util.concurrent.ExecutionException: "
        "org.apache.flink.runtime.client.JobExecutionException: Job execution failed.\n\tat a.b(C.java:1)\n"
        "Caused by: org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy\n"
        "\tat a.b(C.java:2)\n\t... 7 more\n"
        "Caused by: java.lang.RuntimeException: Error received from SDK harness for instruction 1: Traceback (most "
        'recent call last):\n  File "/x/sdk_worker.py", line 311, in _execute\n    response = task()\n'
        "               ^^^^^^\nKeyError: 'inner'\n\nDuring handling of the above exception, another exception "
        'occurred:\n\nTraceback (most recent call last):\n  File "/tmp/ipykernel_1/1.py", line 8, in late\n'
        "    raise ValueError('the sink refused row %d' % x)\nValueError: the sink refused row 1\n\n"
        "\tat org.apache.beam.runners.fnexecution.control.FnApiControlClient.onNext(FnApiControlClient.java:180)\n"
    )
    assert root_cause(udf) == (
        "java.lang.RuntimeException: Error received from SDK harness for instruction 1: ValueError: the sink refused "
        "row 1"
    )
    suppressed = (
        udf + "\tSuppressed: java.io.IOException: close failed\n\t\tat x.y(Z.java:1)\n"
        "\tCaused by: java.io.IOException: Stream closed\n\t\tat x.y(Z.java:2)\n"
    )
    assert root_cause(suppressed).endswith("ValueError: the sink refused row 1")  # not the close that failed after
    java = "An error occurred while calling o9.get.\n: java.lang.IllegalStateException: no slots\n\tat a.b(C.java:1)"
    assert root_cause(java) == "java.lang.IllegalStateException: no slots"
    assert root_cause("x\nCaused by: java.io.IOException: " + "y" * 500).startswith("java.io.IOException: yyy")
    assert len(root_cause("Caused by: e: " + "y" * 500)) == 300


def test_runs_on_an_engine_that_takes_one_at_a_time_wait_for_each_other() -> None:
    """Two runs of the Python API in threads under one flink run: the second waits, saying so, until the first is
    over (a Flink JVM sends its callbacks to one Python process); a Spark engine lets them go on together."""
    import threading

    from nbrunner.run.pipeline import one_at_a_time

    class Reporter:
        def __init__(self) -> None:
            self.said: list[str] = []
            self.waiting = threading.Event()

        def warning(self, message: str) -> None:
            self.said.append(message)
            self.waiting.set()

    flink = FlinkEngine({"PYFLINK_GATEWAY_PORT": "40123"}, PYTHON)
    reporter, first_over, order = Reporter(), threading.Event(), []

    def first() -> None:
        with one_at_a_time(flink, reporter):  # type: ignore[arg-type]
            order.append("first in")
            reporter.waiting.wait(60)  # the second is waiting now
            order.append("first out")
        first_over.set()

    def second() -> None:
        with one_at_a_time(FlinkEngine({"PYFLINK_GATEWAY_PORT": "40123"}, PYTHON), reporter):  # type: ignore[arg-type]
            order.append("second in")

    one = threading.Thread(target=first)
    one.start()
    while not order:  # the first holds the engine
        threading.Event().wait(0.01)
    two = threading.Thread(target=second)
    two.start()
    one.join(60)
    two.join(60)
    assert order == ["first in", "first out", "second in"]
    assert reporter.said == ["another run is going on on this flink engine, which takes one at a time: waiting"]
    spark = SimpleNamespace(concurrent=True, kind="spark-submit", key="s")
    with one_at_a_time(spark, reporter), one_at_a_time(spark, reporter):  # type: ignore[arg-type]
        assert len(reporter.said) == 1  # no wait, no word


def test_a_job_the_board_never_showed_is_cancelled_through_the_cluster_by_the_runs_name() -> None:
    """-t remote, SIGTERM to flink run: the client JVM is going and the board cannot say what the running cell had
    just started; the session cluster lists it under the run's name, and only this run's."""
    board = Board({"seen": (0, 10**9)})
    board.on_cluster = {"late": "nbrunner nb cell 1 [r1]", "theirs": "nbrunner nb cell 1 [r2]", "own": "my job"}
    run = flink_run_on(board, "x", "y")
    run.cancel()  # the board answers: the cluster is not asked
    assert board.cancels == ["seen"]
    run.jvm.answering = False  # the client JVM is going: its board no longer answers
    run.cancel()
    assert board.cancels == ["seen", "late"] and run.cancelled == ["seen", "late"]
    assert run.known["late"].cell == 1 and run.known["late"].cancelled


def test_a_job_of_an_environment_the_notebook_named_keeps_its_name_in_the_record() -> None:
    board = Board({"own-1": (0, 0), "j2": (0, 0)})  # the listener of a notebook-named environment marks its jobs
    facts = flink_run_on(board).after_run(nbformat.v4.new_notebook(), failed=False)
    assert {job["id"]: job.get("name") for job in facts["jobs"]} == {"own-1": None, "j2": "nbrunner nb cell 0 [r1]"}


class FakeConfig:
    def __init__(self, name: str | None = None):
        self.values = {"pipeline.name": name} if name else {}

    def get(self, key: str, default: str) -> str:
        return self.values.get(key, default)

    def set(self, key: str, value: str) -> None:
        self.values[key] = value

    def toMap(self) -> dict[str, str]:  # noqa: N802 - Java's name
        return self.values


def test_an_environment_holding_a_name_nbrunner_gave_is_still_nbrunners_to_name() -> None:
    """A table environment made in a cell over an environment nbrunner names already reads nbrunner's name through
    its configuration: it is not the notebook's own, so nbrunner names it cell by cell (a name a cell sets on it holds
    for that cell only); one made with a name of its own keeps it."""
    from nbrunner.engines.flink.in_kernel import Tracker

    class Env:
        def __init__(self, name: str | None = None):
            self.config = FakeConfig(name)
            self.listeners: list[Any] = []

        def getConfiguration(self) -> FakeConfig:  # noqa: N802 - Java's name
            return self.config

        def registerJobListener(self, listener: Any) -> None:  # noqa: N802 - Java's name
            self.listeners.append(listener)

        def configure(self, conf: Any) -> None:
            self.config.values.update(conf.values)

    class TEnv:
        def __init__(self, env: Env, name: str | None = None):
            self.config = FakeConfig(name)
            self.env = env
            self._j_tenv = SimpleNamespace(getPlanner=lambda: SimpleNamespace(getExecEnv=lambda: env))

        def get_config(self) -> FakeConfig:
            return self.config

    class Conf(FakeConfig):
        def setString(self, key: str, value: str) -> None:  # noqa: N802 - Java's name
            self.values[key] = value

    jvm = SimpleNamespace(java=SimpleNamespace(lang=SimpleNamespace(System=SimpleNamespace(identityHashCode=id))),
                          org=SimpleNamespace(apache=SimpleNamespace(flink=SimpleNamespace(
                              configuration=SimpleNamespace(Configuration=Conf)))))  # fmt: skip
    tracker = Tracker(SimpleNamespace(jvm=jvm), board=None, state={"cell": 0})
    env = Env()
    tracker.stream(env)
    tracker.name_jobs("nbrunner nb cell 1 [r1]")
    assert env.config.values["pipeline.name"] == "nbrunner nb cell 1 [r1]"
    over_env = TEnv(env)  # StreamTableEnvironment.create(env) in cell 1: reads nbrunner's name through env
    over_env.config.get = lambda key, default: env.config.values.get(key, default)  # type: ignore[method-assign]
    tracker.table(over_env)
    assert tracker.tables == [over_env.config]  # nbrunner's to name
    named = TEnv(Env(), "my own name")
    tracker.table(named)
    assert named.config not in tracker.tables and named.config.values["pipeline.name"] == "my own name"
    assert named.env.listeners == [tracker.listeners[True]]  # its jobs are marked as named by the notebook
    tracker.name_jobs("nbrunner nb cell 2 [r1]")
    assert over_env.config.values["pipeline.name"] == "nbrunner nb cell 2 [r1]"
    assert named.config.values["pipeline.name"] == "my own name"


def test_a_stop_while_a_run_waits_for_the_engine_ends_the_wait() -> None:
    import signal
    import threading

    from nbrunner.errors import Terminated
    from nbrunner.run.pipeline import one_at_a_time

    flink = FlinkEngine({"PYFLINK_GATEWAY_PORT": "40124"}, PYTHON)
    warned, raised = threading.Event(), []
    reporter = SimpleNamespace(warning=lambda message: warned.set())
    guard = SimpleNamespace(reason=None)

    def waits() -> None:
        try:
            with one_at_a_time(flink, reporter, guard):  # type: ignore[arg-type]
                raised.append("ran")
        except Terminated as e:
            raised.append(e)

    with one_at_a_time(flink, reporter):  # type: ignore[arg-type]
        other = threading.Thread(target=waits)
        other.start()
        warned.wait(60)
        guard.reason = Terminated(signal.SIGTERM)  # type: ignore[assignment]
        other.join(60)
    assert len(raised) == 1 and isinstance(raised[0], Terminated)  # it never ran
    with one_at_a_time(flink, reporter):  # type: ignore[arg-type]
        pass  # and the lock was left free
