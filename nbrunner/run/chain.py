"""Several notebooks in one process (and, under spark-submit, one Spark application): run in order, each in a
fresh kernel attached to the same driver JVM and SparkContext, each with its own output, HTML, record and job labels.

The first failure stops the chain (unless ``keep_going``; a stop by signal or the driver JVM going away stops it
always); the chain's exit code is the first failure's, and its summary lists every notebook's outcome.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from nbrunner.config import RunConfig
from nbrunner.core.location import Location
from nbrunner.core.record import Outcome, chain_summary
from nbrunner.core.report import Reporter
from nbrunner.errors import GatewayError, NbrunnerError, ParameterError, Skipped, Stopped, UsageError, status_of
from nbrunner.plan.build import Plan
from nbrunner.status import Status
from nbrunner.storage import Stores, locate


@dataclass
class ChainRecord(Outcome):
    """The chain's summary: its outcome, and each notebook's record (or what refused it, or that it did not run)."""

    status: str = Status.SUCCEEDED
    exit_code: int = 0
    message: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return chain_summary(self.status, self.exit_code, self.message, self.runs)


def configs_for(config: RunConfig, notebooks: Sequence[str]) -> list[RunConfig]:
    """One configuration per notebook; their outputs must not collide."""
    if len(notebooks) > 1:
        _check_shared(config, len(notebooks))
    return [replace(config, notebook=notebook) for notebook in notebooks]


def _check_shared(config: RunConfig, sharing: int) -> None:
    """Several notebooks: no --resume, and an -o that ``sharing`` of them use must tell them apart."""
    if config.resume is not None:
        raise UsageError("--resume takes one notebook")
    template = config.output
    if sharing > 1 and template is not None and "{notebook}" not in template and not template.endswith("/"):
        raise UsageError(f"-o {template!r}: with several notebooks, put {{notebook}} in it or end it with / (a folder)")


ENTRY_KEYS = ("notebook", "parameters", "output")


def configs_from_file(config: RunConfig, name: str, stores: Stores | None = None) -> list[RunConfig]:
    """One configuration per entry of a chain file (``--chain-file``): YAML or JSON, local or s3://, either a list
    or a mapping with one key, ``notebooks``, holding the list. An entry is a notebook, or a mapping with
    ``notebook`` and optionally ``parameters`` (a mapping, as in a ``-f`` file) and ``output`` (an ``-o``
    template). Relative paths are the chain file's. Parameters: ``-f`` files, then the entry's, then ``-p``/``-r``/
    ``--secret``; an entry without ``output`` uses ``-o``. UsageError (exit 2) for anything else. ``stores``: the
    process's (default: new ones on ``config.storage``)."""
    from nbrunner import values
    from nbrunner.plan import inputs

    what = f"--chain-file {name}"
    where = locate(name, what="chain file")
    text = inputs.read_text(where, what="chain file", stores=stores or Stores(config.storage, config.env))
    try:
        data = values.parse_yaml(text, source=what)
    except ParameterError as e:  # the file's shape is the command's, not a parameter's: exit 2
        raise UsageError(str(e)) from e
    if isinstance(data, dict) and list(data) == ["notebooks"]:
        data = data["notebooks"]
    if not isinstance(data, list) or not data:
        raise UsageError(f"{what}: expected a list of notebooks (or notebooks: [...]), got {_kind(data)}")
    configs = []
    using_o = 0  # entries without an output of their own: -o must tell them apart
    for number, entry in enumerate(data, 1):
        source = f"{what}, entry {number}"
        if isinstance(entry, str):
            entry = {"notebook": entry}
        if not isinstance(entry, dict):
            raise UsageError(f"{source}: expected a notebook or a mapping with 'notebook', got {_kind(entry)}")
        unknown = [str(key) for key in entry if key not in ENTRY_KEYS]
        if unknown:
            raise UsageError(f"{source}: unknown key {unknown[0]!r}; an entry has {', '.join(ENTRY_KEYS)}")
        notebook, output = entry.get("notebook"), entry.get("output")
        if not isinstance(notebook, str) or not notebook:
            raise UsageError(f"{source}: 'notebook' must be the notebook's path or s3:// URI")
        if output is not None and (not isinstance(output, str) or not output):
            raise UsageError(f"{source}: 'output' must be a path, an s3:// URI or a template like -o")
        given = tuple(values.from_mapping(entry.get("parameters"), source=f"{source}, parameters"))
        using_o += output is None
        own_output = config.output if output is None else _beside(where, output)
        configs.append(
            replace(config, notebook=_beside(where, notebook), output=own_output, parameters=given + config.parameters)
        )
    _check_shared(config, using_o)
    return configs


def _beside(chain_file: Location, path: str) -> str:
    """``path`` as written in the chain file: relative to the file's own folder (local, or its store's prefix)."""
    from pathlib import Path

    if path.startswith("/") or "://" in path:
        return path
    if isinstance(chain_file, Path):
        return path if chain_file.parent == Path(".") else os.path.join(str(chain_file.parent), path)
    return str(chain_file.with_name(path))


def _kind(value: Any) -> str:
    return "an empty list" if value == [] else "nothing" if value is None else type(value).__name__


def run_chain(
    configs: Sequence[RunConfig], reporter: Reporter, *, keep_going: bool = False, plans: Sequence[Plan] | None = None
) -> ChainRecord:
    """Run the notebooks in order, as planned together before the first starts (:func:`~nbrunner.plan.build.plan_runs`:
    a chain with one bad member is refused whole, before anything runs)."""
    from nbrunner.plan.build import plan_runs

    if plans is None:
        plans = plan_runs(configs, reporter)
    summary = ChainRecord()
    try:
        first, skipped = _run_all(configs, plans, reporter, summary, keep_going=keep_going)
    finally:
        for engine in {id(p.engine): p.engine for p in plans if p.engine is not None}.values():
            engine.end_chain()  # what the chain's notebooks shared (a Connect session), released after the last
    if first is not None:
        summary.settle(status_of(first), int(first.exit_code), str(first))
    elif skipped and skipped == len(configs):  # every member asked to be skipped: the chain is skipped
        summary.settle(Skipped.status, int(Skipped.exit_code), f"every notebook was skipped ({skipped})")
    elif skipped:
        summary.settle(summary.status, summary.exit_code, f"{skipped} of {len(configs)} notebooks skipped themselves")
    return summary


def _run_all(
    configs: Sequence[RunConfig], plans: Sequence[Plan], reporter: Reporter, summary: ChainRecord, *, keep_going: bool
) -> tuple[NbrunnerError | None, int]:
    """Each notebook in turn, its record into ``summary``: the first failure, and how many skipped themselves."""
    from nbrunner.core.record import not_run, refused
    from nbrunner.run.pipeline import run_or_raise

    first: NbrunnerError | None = None
    skipped = 0
    for number, (config, plan) in enumerate(zip(configs, plans, strict=True)):
        try:
            summary.runs.append(run_or_raise(config, reporter, plan).as_json())
            continue
        except NbrunnerError as e:
            if e.record is not None:
                summary.runs.append(e.record.as_json())
            else:  # refused before it ran
                summary.runs.append(refused(e, config.notebook))
            if isinstance(e, Skipped):  # not a failure: the chain goes on
                reporter.notice(f"{summary.runs[-1].get('message')} (notebook: {config.notebook})")
                skipped += 1
                continue
            reporter.notice(f"error: {summary.runs[-1].get('message')} (notebook: {config.notebook})")
            first = first or e
            if isinstance(e, Stopped | GatewayError) or not keep_going:
                for rest in configs[number + 1 :]:
                    summary.runs.append(not_run(rest.notebook))
                break
    return first, skipped
