"""For each: one notebook over many parameter values. ``--for-each NAME=SPEC`` parsed into values typed like ``-p``,
several of them crossed into iterations, each iteration a configuration of its own, all planned together before the
first starts (:func:`plan_iterations`: refused whole, in one line; no two artifacts one path).

A SPEC is a comma list (``north,south``), an inclusive range of dates (``2026-11-01..2026-11-30``, daily) or of
integers (``1..12``), or ``@FILE`` (YAML or JSON, local or any store: a list of values, or a list of mappings of
parameter names to values).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from nbrunner import values
from nbrunner.config import RunConfig
from nbrunner.core import location
from nbrunner.core.location import Artifacts, Location
from nbrunner.core.report import Reporter
from nbrunner.errors import ParameterError, UsageError
from nbrunner.plan.build import Plan
from nbrunner.storage import Stores

#: more iterations than this is a mistake (a date range typed with the wrong year), not a backfill
MAX_ITERATIONS = 10_000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT = re.compile(r"^[-+]?\d+$")


@dataclass(frozen=True)
class Iteration:
    """One iteration: its place, the values it sets (as given, typed like ``-p``) and its label."""

    index: int
    given: tuple[values.Given, ...]

    @property
    def values(self) -> dict[str, Any]:
        return {item.name: item.value for item in self.given}

    @property
    def label(self) -> str:
        """How progress lines name it: ``date=2026-11-03`` (``region=north date=2026-11-03`` for several)."""
        return " ".join(f"{item.name}={item.raw if item.raw is not None else item.value}" for item in self.given)


def parse_spec(text: str, *, stores: Stores | None = None) -> list[tuple[values.Given, ...]]:
    """One ``--for-each NAME=SPEC`` (or ``@FILE``, whose entries may set several names): each value, or each group of
    values, in order. UsageError (exit 2) for a malformed SPEC; ParameterError (exit 3) for a bad value."""
    if text.startswith("@"):
        return _from_file(text[1:], stores)
    name, spec = values.split_assignment(text, "--for-each")
    source = f"--for-each {name}"
    values.check_name(name, source=source)
    if not spec.strip():
        raise UsageError(f"{source}: no values; give a comma list, a range (1..12, 2026-11-01..2026-11-30) or @FILE")
    if spec.startswith("@"):  # NAME=@FILE: a list of values for NAME
        return [(item,) for item in _file_values(spec[1:], stores, param=name)]
    if ".." in spec and "," not in spec:
        raws = _range(spec, source)
    else:
        raws = [part.strip() for part in spec.split(",")]
        if any(part == "" for part in raws):
            raise UsageError(f"{source}: an empty value in {spec!r}; separate values with single commas")
    found: list[tuple[values.Given, ...]] = []
    for raw in raws:
        value = values.typed_value(raw, source=source)
        values.check_value(value, name=name, source=source)
        found.append((values.Given(name, value, raw, source),))
    _check_unique(found, source)
    return found


def _range(spec: str, source: str) -> list[str]:
    start, _, end = (part.strip() for part in spec.partition(".."))
    if _DATE.match(start) and _DATE.match(end):
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError as e:
            raise UsageError(f"{source}: {spec!r} is not a range of dates ({e})") from None
        days = (last - first).days
        _check_size(days + 1, source, spec)
        return [(first + timedelta(days=n)).isoformat() for n in range(days + 1)]
    if _INT.match(start) and _INT.match(end):
        low, high = int(start), int(end)
        _check_size(high - low + 1, source, spec)
        return [str(n) for n in range(low, high + 1)]
    raise UsageError(f"{source}: {spec!r} is neither a range of dates (2026-11-01..2026-11-30) nor of integers (1..12)")


def _check_size(size: int, source: str, spec: str) -> None:
    if size < 1:
        raise UsageError(f"{source}: the range {spec!r} is empty; write the first value first")
    if size > MAX_ITERATIONS:
        raise UsageError(f"{source}: the range {spec!r} has {size:,} values, more than {MAX_ITERATIONS:,}")


def _read(name: str, stores: Stores | None) -> tuple[str, Any]:
    from nbrunner.config import StorageOptions
    from nbrunner.plan import inputs
    from nbrunner.storage import locate

    what = f"--for-each @{name}"
    text = inputs.read_text(locate(name, what="--for-each file"), what="--for-each file",
                            stores=stores or Stores(StorageOptions()))  # fmt: skip
    try:
        return what, values.parse_yaml(text, source=what)
    except ParameterError as e:  # the file's shape is the command's: exit 2
        raise UsageError(str(e)) from e


def _file_values(name: str, stores: Stores | None, *, param: str) -> list[values.Given]:
    what, data = _read(name, stores)
    if not isinstance(data, list) or not data:
        raise UsageError(f"{what}: expected a non-empty list of values for {param}")
    return [values.from_mapping({param: item}, source=f"{what}, entry {n}")[0] for n, item in enumerate(data, 1)]


def _from_file(name: str, stores: Stores | None) -> list[tuple[values.Given, ...]]:
    """``@FILE``: a list of mappings, each an iteration's parameters (every entry naming the same parameters)."""
    what, data = _read(name, stores)
    if not isinstance(data, list) or not data:
        raise UsageError(f"{what}: expected a non-empty list of parameter mappings (or use NAME=@FILE for values)")
    found: list[tuple[values.Given, ...]] = []
    for number, entry in enumerate(data, 1):
        if not isinstance(entry, Mapping) or not entry:
            raise UsageError(f"{what}, entry {number}: expected a mapping of parameter names to values")
        found.append(tuple(values.from_mapping(entry, source=f"{what}, entry {number}")))
        if {g.name for g in found[-1]} != {g.name for g in found[0]}:
            raise UsageError(f"{what}, entry {number}: sets other parameters than entry 1; every entry sets the same")
    _check_unique(found, what)
    return found


def from_api(for_each: Any, *, stores: Stores | None = None) -> list[Iteration]:
    """The Python API's ``for_each``: a mapping of parameter names to a list of values (or a SPEC string, as on the
    command line), crossed; or a list of parameter mappings, one per iteration."""
    if isinstance(for_each, Sequence) and not isinstance(for_each, str):
        if not for_each or not all(isinstance(entry, Mapping) and entry for entry in for_each):
            raise UsageError("for_each: expected a mapping of names to values, or a non-empty list of mappings")
        groups = [tuple(values.from_mapping(entry, source=f"for_each[{n}]")) for n, entry in enumerate(for_each)]
        if any({g.name for g in group} != {g.name for g in groups[0]} for group in groups):
            raise UsageError("for_each: every mapping must set the same parameters")
        _check_unique(groups, "for_each")
        return iterations([groups])
    if not isinstance(for_each, Mapping) or not for_each:
        raise UsageError("for_each: expected a mapping of names to values, or a non-empty list of mappings")
    specs = []
    for name, spec in for_each.items():
        if isinstance(spec, str):
            specs.append(parse_spec(f"{name}={spec}", stores=stores))
            continue
        if not isinstance(spec, Sequence) or not spec:
            raise UsageError(f"for_each[{name!r}]: expected a non-empty list of values or a SPEC string")
        found = [tuple(values.from_mapping({name: item}, source=f"for_each[{name!r}]")) for item in spec]
        _check_unique(found, f"for_each[{name!r}]")
        specs.append(found)
    return iterations(specs)


def _check_unique(found: Sequence[tuple[values.Given, ...]], source: str) -> None:
    seen: set[str] = set()
    for group in found:
        key = repr([(g.name, g.value) for g in group])
        if key in seen:
            shown = ", ".join(f"{g.name}={g.value!r}" for g in group)
            raise UsageError(f"{source}: {shown} is listed twice; each iteration must differ")
        seen.add(key)


def iterations(specs: Sequence[Sequence[tuple[values.Given, ...]]]) -> list[Iteration]:
    """The cross product of the parsed SPECs, in order (the first varies slowest)."""
    names = [{g.name for g in spec[0]} for spec in specs]
    for i, j in itertools.combinations(range(len(specs)), 2):
        both = names[i] & names[j]
        if both:
            raise UsageError(f"--for-each: {sorted(both)[0]} is given by two --for-each; give each name once")
    size = 1
    for spec in specs:
        size *= len(spec)
    if size > MAX_ITERATIONS:
        raise UsageError(f"--for-each: {size:,} iterations, more than {MAX_ITERATIONS:,}")
    return [
        Iteration(index, tuple(itertools.chain.from_iterable(combo)))
        for index, combo in enumerate(itertools.product(*specs))
    ]


def configs_for_each(config: RunConfig, found: Sequence[Iteration]) -> list[RunConfig]:
    """One configuration per iteration: its values after the command's own (they win over ``-p``/``-f``). ``-o`` must
    tell the iterations apart: a template naming every parameter the iterations set (UsageError, exit 2)."""
    if config.resume is not None:
        raise UsageError("--resume takes one run, not --for-each")
    names = [g.name for g in found[0].given]
    template = config.output
    missing = [name for name in names if template is None or f"{{{name}}}" not in template]
    if missing and len(found) > 1:
        example = "out/{notebook}-" + "-".join(f"{{{name}}}" for name in names) + ".ipynb"
        shown = repr(template) if template is not None else "(none)"
        raise UsageError(
            f"-o {shown}: with --for-each, name the iteration's parameters in it ({', '.join(missing)} missing), "
            f"e.g. -o '{example}'"
        )
    return [replace(config, parameters=config.parameters + it.given, spark=replace(config.spark, iteration=it.label))
            for it in found]  # fmt: skip


def plan_iterations(
    configs: Sequence[RunConfig],
    found: Sequence[Iteration],
    reporter: Reporter,
    *,
    extra: Mapping[str, Any] = {},
    stores: Stores | None = None,
    inputs: Sequence[str] = (),
) -> list[Plan]:
    """Every iteration planned and checked together before the first starts (refused whole, in one line naming the
    iteration); each plan names its iteration (``for_each``: id, index, size, values) instead of a chain, and gets
    an engine of its own where the engine's sessions are per key (Spark Connect: one session per iteration)."""
    from nbrunner.engines.connect.engine import ConnectEngine
    from nbrunner.plan.build import plan_runs

    labels = [f"iteration {it.label}" for it in found]
    plans = plan_runs(configs, reporter, inputs=inputs, extra=extra, stores=stores, labels=labels,
                      apart=lambda engine: isinstance(engine, ConnectEngine))  # fmt: skip
    group = plans[0].run_id
    return [
        replace(
            plan,
            chain=None,
            for_each={
                "id": group,
                "index": it.index,
                "size": len(found),
                "values": plan_values(plan, it),
                "attempt": 1,
            },
        )  # fmt: skip
        for plan, it in zip(plans, found, strict=True)
    ]


def plan_values(plan: Plan, it: Iteration) -> dict[str, Any]:
    """The iteration's values as its record shows them (a secret as the plan shows it)."""
    return {name: plan.values.get(name, value) for name, value in it.values.items()}


def attempt_artifacts(notebook: Location, attempt: int) -> Artifacts[Location]:
    """Where an iteration's failed ``attempt`` is kept once the iteration runs again: beside its final results, as
    ``<stem>.attempt<N>.ipynb``, ``.attempt<N>.html`` and ``.attempt<N>.run.json`` (the final ones keep -o's names)."""
    return location.artifacts(notebook.with_name(f"{location.stem(notebook)}.attempt{attempt}.ipynb"))
