"""nbrunner's own connection to the ``flink run`` client JVM: plain Py4J, no callback server (pyflink's
``get_gateway()`` would point the JVM's callbacks, Python UDFs among them, at nbrunner instead of the kernel).

Each run gets a board in the JVM (a ``ConcurrentHashMap``) where the kernel's job listener puts the ``JobClient`` of
every job it submits, keyed ``"<cell>:<job id>"``: nbrunner reads, states and cancels them from here, whatever the
kernel is doing (a cell blocked in ``wait()``, a kernel killed), on any target (``-t local``'s mini-clusters
included).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nbrunner.errors import GatewayError, error_line

PORT_VAR = "PYFLINK_GATEWAY_PORT"

#: the client configuration's keys the record may carry (never a credential: no ``*.secret*`` or ``*.password``)
CLUSTER_KEYS = ("rest.address", "rest.port", "yarn.application.id", "kubernetes.cluster-id", "kubernetes.namespace")

#: a job in one of these states is over (Flink's JobStatus.isGloballyTerminalState, and SUSPENDED)
FINAL = frozenset({"FINISHED", "FAILED", "CANCELED", "SUSPENDED"})

#: seconds for one answer of a job's JobClient (its state, a cancel)
ANSWER_SECONDS = 10


def under_flink_run(environ: Mapping[str, str]) -> bool:
    return environ.get(PORT_VAR, "").isdigit()


@dataclass
class Job:
    """A job a run started: its id, the cell that started it, and what nbrunner knows of it."""

    id: str
    cell: int
    name: str | None = None
    state: str | None = None
    cancelled: bool = False

    def as_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"id": self.id, "cell": self.cell, "state": self.state}
        if self.name:
            found["name"] = self.name
        if self.cancelled:
            found["cancelled_by_nbrunner"] = True
        return found


TRACEBACK = "Traceback (most recent call last):"
#: unindented lines of a Python traceback that are not its exception
NOT_THE_ERROR = (TRACEBACK, "During handling of the above exception", "The above exception was the direct cause")


def root_cause(trace: str) -> str:
    """The line of a JVM exception's text (through Py4J) that says why: its last ``Caused by:``, and where that is a
    Python UDF worker's traceback, the Python exception that ends it (``ValueError: ...``); at most 300 characters."""
    lines = trace.splitlines()
    # unindented only: an indented "Caused by:" belongs to a Suppressed: block (a close that failed afterwards)
    at = max((i for i, line in enumerate(lines) if line.startswith("Caused by:")), default=None)
    if at is None:
        return error_line(trace)[:300]
    cause = lines[at][len("Caused by:") :].strip()
    if cause.endswith(TRACEBACK):
        found = None
        for line in lines[at + 1 :]:
            if line.startswith(("\tat ", "Caused by:", "\t...")):
                break
            if line.strip() and not line[0].isspace() and not line.startswith(NOT_THE_ERROR):
                found = line.strip()
        if found:
            cause = f"{cause[: -len(TRACEBACK)].rstrip(' :')}: {found}"
    return cause[:300]


class FlinkJvm:
    """The ``flink run`` JVM, as nbrunner sees it."""

    def __init__(self, environ: Mapping[str, str]):
        self.port = int(environ[PORT_VAR])
        self._gateway: Any = None
        self._lock = threading.Lock()
        self.version = ""
        self.configuration: dict[str, str] = {}
        self.answering = True  # whether the last look at a board got an answer (else the JVM is going)

    def connect(self) -> None:
        """Connect (no secret: the gateway listens on 127.0.0.1 only) and read the version and client
        configuration; GatewayError (exit 7) when unreachable."""
        from py4j.java_gateway import GatewayParameters, JavaGateway

        try:
            self._gateway = JavaGateway(gateway_parameters=GatewayParameters(port=self.port, auto_convert=True))
            jvm = self._gateway.jvm
            self.version = str(jvm.org.apache.flink.runtime.util.EnvironmentInformation.getVersion())
            environment = jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment
            conf = environment.getExecutionEnvironment().getConfiguration().toMap()
            self.configuration = {str(k): str(v) for k, v in conf.items()}
        except Exception as e:
            self.close()
            raise GatewayError(
                f"cannot reach the flink run JVM's gateway on 127.0.0.1:{self.port} ({type(e).__name__}); "
                'start nbrunner with flink run -py "$(nbrunner entrypoint)" run NOTEBOOK'
            ) from e

    @property
    def target(self) -> str:
        return self.configuration.get("execution.target", "")

    def cluster(self) -> dict[str, str]:
        """Where the jobs go, without credentials: the REST address of a session cluster, YARN's application id,
        Kubernetes' cluster id (as the client's configuration says)."""
        if self.target in ("local", ""):
            return {}  # a mini-cluster per job, inside this JVM
        found = {key: self.configuration[key] for key in CLUSTER_KEYS if key in self.configuration}
        if "rest.address" in found:
            found["rest.address"] = found["rest.address"].rpartition("@")[2]  # no user info, were one given
        return found

    def unresolvable_host(self) -> str | None:
        """This host's name when the JVM cannot resolve it (``InetAddress.getLocalHost()`` fails), else None:
        ``-t local`` starts a mini-cluster per job, which asks for it and fails every job without it."""
        try:
            self._gateway.jvm.java.net.InetAddress.getLocalHost()
        except Exception as e:
            if "UnknownHostException" in str(e):
                import socket

                return socket.gethostname()
        return None

    def warm_up(self, mode: str) -> None:
        """Create (and drop) a TableEnvironment in the JVM: its classes load and the planner starts while the kernel
        boots, so the kernel's own ``t_env`` is made faster. Best effort: a failure here shows in the kernel."""
        try:
            api = self._gateway.jvm.org.apache.flink.table.api
            settings = api.EnvironmentSettings.inStreamingMode() if mode == "streaming" else None
            api.TableEnvironment.create(settings or api.EnvironmentSettings.inBatchMode())
        except Exception:  # noqa: S110 - the kernel makes its own and reports what fails
            pass

    def new_board(self) -> tuple[Any, str]:
        """A map in the JVM for one run's jobs, and its Py4J id (the kernel's listener writes to it)."""
        board = self._gateway.jvm.java.util.concurrent.ConcurrentHashMap()
        return board, str(board._target_id)

    def jobs(self, board: Any, known: Mapping[str, Any] = {}) -> dict[str, tuple[int, Any, bool]]:
        """The board's jobs not in ``known``: id -> (cell, JobClient, whether the notebook named the job itself:
        its environment had a ``pipeline.name`` of its own)."""
        found: dict[str, tuple[int, Any, bool]] = {}
        with self._lock:
            self.answering = False
            try:
                for key in list(board.keySet().toArray()):
                    cell, _, rest = str(key).partition(":")
                    job, _, flag = rest.partition(":")
                    if job not in known:
                        found[job] = (int(cell) if cell.lstrip("-").isdigit() else -1, board.get(key), flag == "own")
                self.answering = True
            except Exception:  # noqa: S110 - the JVM is gone or going (flink run was stopped): what was seen stays
                pass
        return found

    def rest(self) -> str | None:
        """The session cluster's REST API, where the configuration names it (``-t remote``): nbrunner cancels and
        asks there too, so a job is cancelled even once the client JVM is going (flink run stopped)."""
        if self.target != "remote" or "rest.address" not in self.configuration:
            return None
        if self.configuration.get("security.ssl.rest.enabled", "false").lower() == "true":
            return None  # its certificates are the JVM's to use
        host = self.configuration["rest.address"].rpartition("@")[2]
        return f"http://{host}:{self.configuration.get('rest.port', '8081')}"

    def cancel_by_id(self, job_id: str) -> bool:
        """Cancel one job through the cluster's REST API alone (one nbrunner has no JobClient of)."""
        try:
            return self._rest("PATCH", f"/jobs/{job_id}?mode=cancel") is not None
        except Exception:
            return False

    def _rest(self, method: str, path: str) -> Any:
        import json
        import urllib.request

        base = self.rest()
        if base is None:
            return None
        request = urllib.request.Request(f"{base}{path}", method=method)  # noqa: S310 - http(s) only
        with urllib.request.urlopen(request, timeout=ANSWER_SECONDS) as answer:  # noqa: S310 - the cluster's own
            body = answer.read()
        return json.loads(body) if body else {}

    def state(self, client: Any, job_id: str) -> str | None:
        """A job's state (RUNNING, FINISHED, FAILED, CANCELED, ...), or None when nobody can tell any more."""
        try:
            seconds = self._gateway.jvm.java.util.concurrent.TimeUnit.SECONDS
            return str(client.getJobStatus().get(ANSWER_SECONDS, seconds).name())
        except Exception:  # noqa: S110 - -t local: the job's mini-cluster is shut down once the job ended
            pass
        try:
            result = client.getJobExecutionResult()  # the client keeps the outcome of a job that ended
            if result.isDone():
                if not result.isCompletedExceptionally():
                    return "FINISHED"
                try:
                    result.get()
                except Exception as e:
                    return "CANCELED" if "JobCancellationException" in str(e) else "FAILED"
        except Exception:  # noqa: S110 - the JVM is going: ask the cluster itself
            pass
        try:
            found = self._rest("GET", f"/jobs/{job_id}")
            return str(found["state"]) if found else None
        except Exception:
            return None

    def failure_cause(self, client: Any) -> str | None:
        """Why a failed job failed, in one line (the root cause of the JVM's exception), as its JobClient keeps
        it; None when nobody can tell any more."""
        try:
            seconds = self._gateway.jvm.java.util.concurrent.TimeUnit.SECONDS
            client.getJobExecutionResult().get(ANSWER_SECONDS, seconds)
        except Exception as e:
            return root_cause(str(e)) or None
        return None

    def running_named(self, suffix: str) -> dict[str, str]:
        """The session cluster's unfinished jobs whose name ends with ``suffix`` (a run's ``[<run id>]``), id -> name,
        from its REST API (``-t remote``); {} where there is none or it does not answer. When the client JVM is going,
        the board cannot say what the running cell had just started; the cluster can."""
        try:
            found = self._rest("GET", "/jobs/overview") or {}
        except Exception:
            return {}
        return {str(job["jid"]): str(job.get("name", "")) for job in found.get("jobs", [])
                if str(job.get("name", "")).endswith(suffix) and job.get("state") not in FINAL}  # fmt: skip

    def cancel(self, client: Any, job_id: str) -> bool:
        """Cancel one job (through its JobClient, else the cluster's REST API); whether the cluster took it."""
        try:
            seconds = self._gateway.jvm.java.util.concurrent.TimeUnit.SECONDS
            client.cancel().get(ANSWER_SECONDS, seconds)
            return True
        except Exception:  # noqa: S110 - the JVM is going: ask the cluster itself
            pass
        return self.cancel_by_id(job_id)

    def close(self) -> None:
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            try:
                gateway.close()
            except Exception:  # noqa: S110 - the JVM went first
                pass
