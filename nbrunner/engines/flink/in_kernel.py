"""Run inside the notebook's kernel under ``flink run``: define ``env`` (a StreamExecutionEnvironment) and ``t_env``
(a TableEnvironment, batch unless ``--flink-mode streaming``) on the ``flink run`` JVM, name each cell's jobs, and
put every job the kernel submits on the run's board (:mod:`nbrunner.engines.flink.jvm`).

Environments the notebook creates itself (``StreamExecutionEnvironment.get_execution_environment()``,
``TableEnvironment.create(...)``, ``StreamTableEnvironment.create(...)``) get the same job listener and names, so
nbrunner sees and can cancel every job the kernel starts. Called once, silently, before the first cell
(:class:`~nbrunner.engines.flink.hooks.FlinkRun`); imports nothing of nbrunner's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: what must live as long as the kernel: the board's Py4J proxy (collecting it would delete the JVM's binding that
#: nbrunner reads too) and the listener the JVM calls back
_KEPT: list[Any] = []


class JobListener:
    """``org.apache.flink.core.execution.JobListener``, implemented in the kernel (pyflink's gateway routes the JVM's
    callbacks here): each submitted job's ``JobClient`` goes on the board under ``"<cell>:<job id>"``, with
    ``":own"`` after it for an environment the notebook named itself."""

    def __init__(self, board: Any, state: dict[str, int], own_name: bool = False):
        self.board = board
        self.state = state
        self.suffix = ":own" if own_name else ""

    def onJobSubmitted(self, client: Any, error: Any) -> None:  # noqa: N802 - Java's name
        if client is not None:
            self.board.put(f"{self.state['cell']}:{client.getJobID().toString()}{self.suffix}", client)

    def onJobExecuted(self, result: Any, error: Any) -> None:  # noqa: N802 - Java's name
        """Only execute() calls it; the board's JobClient says the same."""

    class Java:
        implements = ("org.apache.flink.core.execution.JobListener",)


class Tracker:
    """Every execution environment of the kernel: the listener registered once on each, the cell's job name set on
    each before the cell runs, except on one whose configuration named its jobs when it was made (the notebook's
    ``pipeline.name``, or flink run's ``-Dpipeline.name``): that name stays."""

    def __init__(self, gateway: Any, board: Any, state: dict[str, int]):
        self.gateway = gateway
        self.listeners = {own: JobListener(board, state, own) for own in (False, True)}
        self.streams: dict[int, Any] = {}  # Java StreamExecutionEnvironment by identity (None: named by the notebook)
        self.tables: list[Any] = []  # pyflink TableConfig
        self.name: str | None = None
        self.given: set[str] = set()  # every name nbrunner set: a configuration holding one was not named by the user

    def own(self, name: Any) -> bool:
        """Whether a configuration's ``pipeline.name`` (None: unset) is one the notebook or flink run gave."""
        return name is not None and str(name) != "" and str(name) not in self.given

    def stream(self, j_env: Any, own: bool | None = None) -> None:
        key = int(self.gateway.jvm.java.lang.System.identityHashCode(j_env))
        if key not in self.streams:
            if own is None:
                own = self.own(j_env.getConfiguration().toMap().get("pipeline.name"))
            j_env.registerJobListener(self.listeners[own])
            self.streams[key] = None if own else j_env
            if not own:
                self._name_stream(j_env)

    def table(self, t_env: Any) -> None:
        config = t_env.get_config()
        own = self.own(config.get("pipeline.name", ""))  # before stream() names the environment under it
        self.stream(t_env._j_tenv.getPlanner().getExecEnv(), own=own)
        if own:
            return  # named when it was made: its jobs keep that name
        self.tables.append(config)
        if self.name is not None:
            config.set("pipeline.name", self.name)

    def _name_stream(self, j_env: Any) -> None:
        if self.name is not None:
            conf = self.gateway.jvm.org.apache.flink.configuration.Configuration()
            conf.setString("pipeline.name", self.name)
            j_env.configure(conf)

    def name_jobs(self, name: str) -> None:
        self.name = name
        self.given.add(name)
        for config in self.tables:
            config.set("pipeline.name", name)
        for j_env in self.streams.values():
            if j_env is not None:
                self._name_stream(j_env)


def track_new_environments(tracker: Tracker) -> None:
    """pyflink's factories, wrapped: what they return is tracked before the notebook sees it."""
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment, TableEnvironment

    def wrap(owner: Any, name: str, track: Any) -> None:
        original = getattr(owner, name)

        def created(*args: Any, **kwargs: Any) -> Any:
            made = original(*args, **kwargs)
            track(made)
            return made

        created.__doc__ = original.__doc__
        setattr(owner, name, staticmethod(created))

    wrap(StreamExecutionEnvironment, "get_execution_environment",
         lambda env: tracker.stream(env._j_stream_execution_environment))  # fmt: skip
    wrap(TableEnvironment, "create", tracker.table)
    wrap(StreamTableEnvironment, "create", tracker.table)


def start(board_id: str, names: Sequence[tuple[int, str]], mode: str) -> None:
    """Define ``env`` and ``t_env``, and name and list each cell's jobs from a ``pre_run_cell`` callback."""
    from IPython import get_ipython
    from py4j.java_gateway import JavaObject
    from pyflink.java_gateway import get_gateway  # the kernel's own gateway: the JVM's callbacks now come here

    gateway = get_gateway()
    board = JavaObject(board_id, gateway._gateway_client)
    state = {"cell": -1}
    tracker = Tracker(gateway, board, state)
    _KEPT.extend((board, tracker))
    track_new_environments(tracker)

    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment, TableEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    if mode == "streaming":
        t_env = StreamTableEnvironment.create(env, EnvironmentSettings.in_streaming_mode())
    else:
        t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    order = [(int(index), str(name)) for index, name in names]
    counter = {"n": 0}

    def name_cell(info: Any = None) -> None:
        n = counter["n"]
        counter["n"] = n + 1
        if n >= len(order):
            return
        index, name = order[n]
        state["cell"] = index
        try:
            tracker.name_jobs(name)
        except Exception:  # noqa: S110 - the JVM is going: the cell fails on its own
            pass

    shell = get_ipython()
    shell.events.register("pre_run_cell", name_cell)
    shell.user_ns.update(env=env, t_env=t_env)
