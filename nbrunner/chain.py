"""Several notebooks in one process (and, under spark-submit, one Spark application): run in order, each in a
fresh kernel attached to the same driver JVM and SparkContext, each with its own output, HTML, record and job labels.

The first failure stops the chain (unless ``keep_going``; a stop by signal or the driver JVM going away stops it
always); the chain's exit code is the first failure's, and its summary lists every notebook's outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nbrunner.config import RunConfig
from nbrunner.errors import GatewayError, NbrunnerError, Stopped, UsageError, status_of
from nbrunner.report import Reporter


@dataclass
class ChainRecord:
    """The chain's summary: its outcome, and each notebook's record (or what refused it, or that it did not run)."""

    status: str = "succeeded"
    exit_code: int = 0
    message: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"chain": True, "status": self.status, "exit_code": self.exit_code, "message": self.message,
                "runs": self.runs}  # fmt: skip


def configs_for(config: RunConfig, notebooks: Sequence[str]) -> list[RunConfig]:
    """One configuration per notebook; their outputs must not collide."""
    template = config.output
    if len(notebooks) > 1:
        if config.resume is not None:
            raise UsageError("--resume takes one notebook")
        if template is not None and "{notebook}" not in template and not template.endswith("/"):
            raise UsageError(
                f"-o {template!r}: with several notebooks, put {{notebook}} in it or end it with / (a folder)"
            )
    return [replace(config, notebook=notebook) for notebook in notebooks]


def run_chain(configs: Sequence[RunConfig], reporter: Reporter, *, keep_going: bool = False) -> ChainRecord:
    from nbrunner.api import run_config

    summary = ChainRecord()
    first: NbrunnerError | None = None
    for number, config in enumerate(configs):
        try:
            summary.runs.append(run_config(config, reporter).as_json())
            continue
        except NbrunnerError as e:
            if e.record is not None:
                summary.runs.append(e.record.as_json())
            else:  # refused before it ran
                summary.runs.append({"input": config.notebook, "status": e.status, "exit_code": int(e.exit_code),
                                     "message": str(e)})  # fmt: skip
            reporter.notice(f"error: {summary.runs[-1].get('message')} (notebook: {config.notebook})")
            first = first or e
            if isinstance(e, Stopped | GatewayError) or not keep_going:
                for rest in configs[number + 1 :]:
                    summary.runs.append({"input": rest.notebook, "status": "not-run", "exit_code": None})
                break
    if first is not None:
        summary.status, summary.exit_code, summary.message = status_of(first), int(first.exit_code), str(first)
    return summary
