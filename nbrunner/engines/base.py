"""The one protocol of a compute engine: what runs a notebook's work besides the kernel (spark-submit's driver JVM, a
Spark Connect server). The pipeline, the plan and the chain speak only this; each engine lives in a folder of its own
and is registered by one line in :mod:`nbrunner.engines` (:data:`~nbrunner.engines.ENGINES`).

An :class:`Engine` is process level: chosen by the plan (``detect``), checked before any kernel starts (``check``,
exit 7 in one line), shared by the runs of a chain, released at the end. Each run gets an :class:`EngineRun`: its
start-up code in the kernel, its cell hooks (labels, job ids), a cancel of *this run's* work only, and its facts for
the record (``engine: {kind, ...facts}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from nbrunner.config import RunConfig
from nbrunner.core.hooks import CellHooks
from nbrunner.core.kernels import KernelChoice
from nbrunner.core.node import Notebook
from nbrunner.core.signals import StopGuard
from nbrunner.errors import NbrunnerError


class EngineRun(CellHooks):
    """One run on an engine. Called from the run's thread, except :meth:`cancel` (also from the stop thread)."""

    #: cancel before the kernel is interrupted (Connect: the server's operations) rather than once a stop is decided
    cancel_before_interrupt: bool = False

    def startup(self, guard: StopGuard) -> list[str | Callable[[], None]]:
        """What the kernel runs (code, silently) or nbrunner waits for (a callable), in order, before the first cell;
        a failure there is exit 7."""
        return []

    def ready(self) -> None:
        """The start-up steps are done."""

    def watch(self, guard: StopGuard) -> None:
        """Start watching what the run depends on (spark-submit's JVM): ``guard.stop(...)`` when it goes."""

    def cancel(self) -> None:
        """Cancel the work this run started that still runs (never another run's); once, idempotent."""

    def after_run(self, nb: Notebook, *, failed: bool) -> dict[str, Any]:
        """The cells are done (``failed``: not all ran well): cancel what a failure left running; the facts for the
        record."""
        return {}

    def failure(self) -> NbrunnerError | None:
        """Asked once every cell returned well, after :meth:`after_run`: work this run started that failed after
        its cell returned (a Flink job left running), as the run's error; None when there is none."""
        return None


class Engine(Protocol):
    """An engine for the runs of one process (a run, or every notebook of a chain)."""

    #: the record's ``engine.kind``
    kind: str
    #: whether several runs (a for-each's iterations) may go on at once on it, in threads of one process
    concurrent: bool

    @property
    def key(self) -> object:
        """Engines of equal keys are one: a chain's notebooks share it."""

    def check(self) -> None:
        """Before the run's kernel starts: the engine answers and fits the kernel (GatewayError: exit 7)."""

    def kernel_env(self) -> dict[str, str]:
        """Variables the kernel needs (after :meth:`check`)."""

    def kernel_secrets(self) -> dict[str, str]:
        """Values the kernel gets through nbrunner's secrets descriptor, never its environment (a URL's token)."""

    def withheld(self) -> frozenset[str]:
        """Environment variables that must not reach the kernel (they may hold credentials)."""

    def hidden(self) -> list[str]:
        """Values redacted from every artifact and stream (a token)."""

    def prepare(self, app_name: str, config: RunConfig) -> None:
        """Work that can overlap the kernel's start (spark-submit: creating the SparkContext)."""

    def start_run(self, *, run_id: str, notebook: str, app_name: str, nb: Notebook, config: RunConfig) -> EngineRun:
        """This run's hooks, once its notebook is known."""

    def end_run(self, *, in_chain: bool) -> None:
        """A run is over (its facts taken): release what was held for it alone; in a chain, keep what the next
        notebook shares and make it fit for that notebook."""

    def end_chain(self) -> None:
        """The chain's last notebook is done: release what its notebooks shared."""


class EngineType(Protocol):
    """What the registry holds: a class that says whether a run uses it."""

    @classmethod
    def detect(cls, config: RunConfig, kernel: KernelChoice, environ: Mapping[str, str]) -> Engine | None:
        """This engine for the run ``config`` asks for (UsageError, exit 2, for a request it must refuse), else
        None."""
