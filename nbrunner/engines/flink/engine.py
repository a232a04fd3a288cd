"""``flink run`` as an engine: nbrunner runs in the Python process Flink's ``PythonDriver`` started, and the
kernel joins that client JVM (``PYFLINK_GATEWAY_PORT`` forwarded), so one JVM runs and its jobs go where ``flink run``
points. Its run is :class:`~nbrunner.engines.flink.hooks.FlinkRun`.

One JVM sends its callbacks (Python UDFs named in SQL, job listeners) to the Python process that called pyflink's
``get_gateway()`` last, so runs on it go one at a time (:attr:`FlinkEngine.concurrent`): a for-each runs its
iterations in turn, and a chain's notebooks do anyway."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from nbrunner.config import RunConfig
from nbrunner.core.kernels import SAME_INTERPRETER, KernelChoice
from nbrunner.core.node import Notebook
from nbrunner.engines.base import EngineRun
from nbrunner.engines.flink.hooks import FlinkRun
from nbrunner.engines.flink.jvm import PORT_VAR, FlinkJvm, under_flink_run
from nbrunner.engines.packages import kernel_version, same_minor
from nbrunner.errors import GatewayError, UsageError


class FlinkEngine:
    """The ``flink run`` client JVM: connected before the first run's kernel starts, closed after the last."""

    kind = "flink"
    concurrent = False  # one Python process at a time receives the JVM's callbacks

    def __init__(self, environ: Mapping[str, str], kernel: KernelChoice):
        self.environ = environ
        self.kernel = kernel
        self.jvm: FlinkJvm | None = None
        self._lock = threading.Lock()

    @classmethod
    def detect(cls, config: RunConfig, kernel: KernelChoice, environ: Mapping[str, str]) -> FlinkEngine | None:
        if not under_flink_run(environ):
            return None
        if not kernel.is_python:
            raise UsageError(f"flink run needs a Python kernel (pyflink); this notebook runs in {kernel.language}")
        return cls(environ, kernel)

    @property
    def key(self) -> object:
        return (self.kind, self.environ.get(PORT_VAR))

    def check(self) -> None:
        """Connect to the JVM and check the kernel's pyflink against its Flink (major.minor; GatewayError, exit 7)."""
        with self._lock:
            if self.jvm is None:
                jvm = FlinkJvm(self.environ)
                jvm.connect()
                self.jvm = jvm
        check_kernel_pyflink(self.jvm.version, self.kernel, self.environ, self.kernel_env())
        host = self.jvm.unresolvable_host() if self.jvm.target == "local" else None
        if host is not None:  # the JVM resolves names as it started: nbrunner cannot mend it from here
            raise GatewayError(
                f"flink run -t local: this host's name {host!r} does not resolve, and Flink's local mini-cluster "
                f"needs it; map it in /etc/hosts (127.0.1.1 {host}), or start flink run with "
                "JVM_ARGS=-Djdk.net.hosts.file=FILE, FILE mapping it and every other name the job uses"
            )

    def kernel_env(self) -> dict[str, str]:
        """The gateway's port, and the PYTHONPATH flink run gave nbrunner (its -pyfs files), followed by the
        kernelspec's own where it sets one (these win over the kernelspec's ``env``: build_env)."""
        found = {name: self.environ[name] for name in (PORT_VAR, "PYTHONPATH") if self.environ.get(name)}
        own = (self.kernel.spec.env or {}).get("PYTHONPATH") if self.kernel.spec is not None else None
        if own and "PYTHONPATH" in found:
            found["PYTHONPATH"] = os.pathsep.join((found["PYTHONPATH"], str(own)))
        return found

    def kernel_secrets(self) -> dict[str, str]:
        return {}

    def withheld(self) -> frozenset[str]:
        return frozenset()

    def hidden(self) -> list[str]:
        return []

    def prepare(self, app_name: str, config: RunConfig) -> None:
        """While the kernel starts: warm the JVM's Table API up (classes, planner) on a thread of its own."""
        jvm = self.jvm
        if jvm is not None:
            mode = config.spark.flink_mode
            threading.Thread(target=jvm.warm_up, args=(mode,), name="nbrunner-flink-warm-up", daemon=True).start()

    def start_run(self, *, run_id: str, notebook: str, app_name: str, nb: Notebook, config: RunConfig) -> EngineRun:
        if self.jvm is None:
            raise GatewayError("the flink run JVM was not checked before the run")
        return FlinkRun(self.jvm, run_id=run_id, app_name=app_name, nb=nb, mode=config.spark.flink_mode)

    def end_run(self, *, in_chain: bool) -> None:
        if not in_chain:
            self.end_chain()

    def end_chain(self) -> None:
        with self._lock:
            jvm, self.jvm = self.jvm, None
        if jvm is not None:
            jvm.close()


def check_kernel_pyflink(
    flink_version: str, kernel: KernelChoice, base: Mapping[str, str], extra: Mapping[str, str]
) -> str:
    """The kernel's pyflink must match the JVM's Flink (major.minor); GatewayError says which versions met. The
    kernel's environment is built as :func:`nbrunner.run.kernel.build_env` builds it: ``base``, the kernelspec's
    ``env`` over it, nbrunner's ``extra`` over both."""
    same = kernel.name == SAME_INTERPRETER
    spec_env = {} if same or kernel.spec is None else dict(kernel.spec.env or {})
    env = {**base, **spec_env, **extra}
    found = kernel_version("pyflink", kernel.spec, env, same_interpreter=same)
    if found is None:
        raise GatewayError(
            f"the kernel's Python cannot import pyflink, but flink run's JVM runs Flink {flink_version}; "
            f"install apache-flink=={flink_version} for it"
        )
    version, where = found
    if not same_minor(version, flink_version):
        raise GatewayError(
            f"version mismatch: the kernel's pyflink is {version} (from {where}) but flink run's JVM runs "
            f"Flink {flink_version}; install apache-flink=={flink_version} for the kernel's Python"
        )
    return version
