"""Before anything runs: the inputs read and checked, the parameters resolved, the outputs placed, into one Plan.

This is the only place exits 2 (usage) and 3 (parameters) arise; the output bucket is checked here too (exit 8),
so a run that cannot keep its results does not start.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nbrunner import params, values
from nbrunner.config import RunConfig
from nbrunner.core import location
from nbrunner.core.kernels import KernelChoice, kernel_choice
from nbrunner.core.location import Artifacts, Location, Uri
from nbrunner.core.report import Reporter
from nbrunner.core.secret_values import SHOWN, Redactor, Secret, SecretRef
from nbrunner.engines import choose
from nbrunner.engines.base import Engine
from nbrunner.errors import ParameterError, UsageError
from nbrunner.magics import markers as sql_markers
from nbrunner.notebook import document
from nbrunner.plan import inputs
from nbrunner.plan.resume import Resume
from nbrunner.plan.resume import load as load_resume
from nbrunner.storage import Stores, locate


@dataclass(frozen=True)
class Plan:
    """A notebook with its parameters resolved, the kernel to run it in, and where its results go."""

    config: RunConfig
    run_id: str
    started: datetime
    source: Location
    data: bytes  # the notebook as read; parsed with nbformat while the kernel starts
    sha256: str
    values: dict[str, Any]  # as the record shows them: a secret as "[secret]"
    injected: str | None  # the injected-parameters cell's source, if any
    targets: Artifacts[Location]  # where the results are stored
    local: Artifacts[Path]  # where they are written first (the same as targets for local outputs)
    cwd: Path
    kernel: KernelChoice
    stores: Stores = field(compare=False)  # the run's stores, each built on first use
    secrets: dict[str, str] = field(default_factory=dict)  # name -> value, for the kernel only
    secret_refs: dict[str, str] = field(default_factory=dict)  # name -> env:VAR / file:PATH, for the record
    resume: Resume | None = None  # --resume: where the resumed run failed, and what it had
    # the one boundary between what the kernel sends and every artifact, stream and record (secret_values)
    redactor: Redactor = field(default_factory=lambda: Redactor(()))
    launch_dir: Path | None = None  # the caller's working folder at start (None: already gone); never looked up later
    chain: dict[str, Any] | None = None  # in a chain: its id (the first run's), this notebook's index, its size
    for_each: dict[str, Any] | None = None  # an iteration of --for-each: its id, index, size, values, attempt
    # the engine that runs the notebook's work besides the kernel (nbrunner.engines), if any; one for a whole chain
    engine: Engine | None = field(default=None, compare=False)

    def artifacts(self) -> list[Location]:
        """Every path this run writes (its local copies in the spool are its own folder's)."""
        found = [self.targets.notebook, self.targets.record]
        return found + [self.targets.html] if self.config.html else found

    @property
    def stores_remotely(self) -> bool:
        return self.local != self.targets

    @property
    def remote(self) -> Artifacts[Uri] | None:
        """Where the results go in a store (None: they stay local)."""
        notebook, html, record = self.targets.notebook, self.targets.html, self.targets.record
        if isinstance(notebook, Uri) and isinstance(html, Uri) and isinstance(record, Uri):
            return Artifacts(notebook, html, record)
        return None

    @property
    def secret_variables(self) -> frozenset[str]:
        """The environment variables that hold secrets: not passed to the kernel."""
        found = (SecretRef(ref).variable for ref in self.secret_refs.values())
        withheld = self.engine.withheld() if self.engine is not None else ()  # they reach it as secrets, if at all
        return frozenset(variable for variable in found if variable) | frozenset(withheld)


def load_given(
    config: RunConfig, stores: Stores, resume: Resume | None
) -> tuple[dict[str, values.Given], dict[str, str]]:
    """The parameters files in order, then the parameters: later values win (or a resumed run's own). Secrets are
    resolved; their references are returned too (the record keeps them, the kernel does not get their variables)."""
    given: list[values.Given] = []
    for name in config.param_files:
        where = locate(name, what="parameters file")
        text = inputs.read_text(where, what="parameters file", stores=stores)
        given.extend(values.from_mapping(values.parse_yaml(text, source=f"-f {name}"), source=f"-f {name}"))
    merged = values.merge(given, config.parameters if resume is None else resume.parameters)
    refs = {}
    for name, item in merged.items():
        if isinstance(item.value, SecretRef):  # read now, from the environment or a file; never shown
            merged[name] = values.Given(name, item.value.resolve(name, config.env), None, item.source)
            refs[name] = item.value.ref
    return merged, refs


def render_parameters(given: dict[str, Any], kernel: KernelChoice) -> str:
    """The injected cell's code: Python literals, or the kernel's language through papermill's translators."""
    if kernel.is_python:
        return params.render(given)
    if any(isinstance(value, Secret) for value in given.values()):
        raise UsageError(f"secret parameters need a Python kernel; this notebook runs in {kernel.language}")
    from papermill.exceptions import PapermillException
    from papermill.translators import papermill_translators

    for name in given:
        values.check_name(name, source="parameters")  # papermill writes names as given: never code
    try:
        translator = papermill_translators.find_translator(kernel.name, kernel.language)
    except PapermillException as e:
        raise UsageError(f"cannot write parameters for a {kernel.language} kernel ({kernel.name}): {e}") from e
    return str(translator.codify(given, "Parameters injected by nbrunner"))


def make_plan(
    config: RunConfig, *, run_id: str, started: datetime, reporter: Reporter, stores: Stores | None = None
) -> Plan:
    """Everything that can be checked before a kernel starts: exit 2, 3 or 8 here, nothing run. ``stores``: the
    process's (default: the run's own, on ``config.storage``)."""
    launch_dir = current_dir()
    stores = stores if stores is not None else Stores(config.storage, config.env)
    source = locate(config.notebook, what="notebook")
    data = inputs.read_bytes(source, what="notebook", stores=stores)
    text = inputs.decode(data, what="notebook", name=str(source))
    raw = document.parse_json(text, source=str(source))
    kernel = kernel_choice(config.kernel, document.raw_metadata(raw))
    if kernel.is_python:  # refused in one line, before any warning about the cell's lines
        check_parameters_cell(raw)
    declared, warnings = document.declared_parameters(raw)
    for message in warnings:
        reporter.warning(message)
    sha = hashlib.sha256(data).hexdigest()
    resume = None
    if config.resume is not None:
        if config.parameters or config.param_files:
            raise UsageError("--resume reruns with the resumed run's own parameters; drop -p, -r, -f and --secret")
        resume = load_resume(config.resume, sha256=sha, stores=stores, reporter=reporter)
    given, refs = load_given(config, stores, resume)
    resolved = params.resolve(given, declared, allow_undeclared=config.allow_undeclared)
    for message in sql_markers.check(raw["cells"], resolved) if kernel.is_python else ():  # %%sql cells' :name
        reporter.warning(message)
    injected = None
    if given:
        if not declared.found:
            reporter.warning("the notebook has no cell tagged 'parameters'; parameters are injected at the top")
        injected = render_parameters(resolved, kernel)
    secrets = {name: value.value for name, value in resolved.items() if isinstance(value, Secret)}
    shown = {name: SHOWN if name in secrets else value for name, value in resolved.items()}
    # -o placeholders: the notebook's own literal defaults, then the values given (a secret never)
    fields: dict[str, Any] = {p.name: p.default for p in declared.parameters if p.default_is_literal}
    fields.update((name, value) for name, value in resolved.items() if name not in secrets)
    for name in secrets:
        fields.pop(name, None)
    fields.update(notebook=location.stem(source), run_id=run_id, started=started.strftime("%Y%m%dT%H%M%SZ"))
    template = config.output or config.env.get("NBRUNNER_OUTPUT") or None
    if template is None and resume is not None and resume.output:  # never over the failed run's own evidence
        failed = locate(resume.output, what="resumed notebook")
        template = str(failed.with_name(f"{location.stem(failed)}.resumed-{run_id}.ipynb")).replace("{", "{{")
        template = template.replace("}", "}}")
    target = location.output_location(
        template, source, fields, locate=_output, allow_path_params=config.allow_path_params
    )
    location.check_name_lengths(target)
    targets: Artifacts[Location] = location.artifacts(target)
    if isinstance(target, Path):
        location.check_writable(target)
        local = location.artifacts(target)
    else:  # checked for --prepare-only too: the prepared notebook is stored there
        warning = stores.of(target).check_target(target)
        if warning is not None:
            reporter.warning(warning)
        local = spool_artifacts(target, run_id, config)
    if config.cwd is not None:
        cwd = Path(config.cwd)
        if not cwd.is_dir():
            raise UsageError(f"--cwd {config.cwd}: not a directory; create it or pick another")
    else:
        if not isinstance(source, Path) and launch_dir is None:
            raise UsageError("the current folder no longer exists; pass --cwd DIR for the kernel's working folder")
        cwd = source.parent if isinstance(source, Path) else launch_dir or Path("/")
    engine = choose(config, kernel, config.env)
    hidden = [*secrets.values(), *(engine.hidden() if engine is not None else [])]
    return Plan(
        config, run_id, started, source, data, sha, shown, injected, targets, local, cwd.resolve(), kernel,
        stores, secrets, refs, resume, Redactor(hidden), launch_dir,
        engine=engine,
    )  # fmt: skip


def _output(text: str) -> Location:
    return locate(text, what="output")


def check_parameters_cell(raw: dict[str, Any]) -> None:
    """A Python notebook's ``parameters`` cell, when it runs, must parse (IPython's syntax: magics, ``!cmd``, a
    top-level ``await``): one that does not would fail the run at that cell, after the kernel started and, in a
    chain, after the notebooks before it ran. ParameterError (exit 3) naming the line, before anything runs."""
    import ast

    index, _ = document.parameters_cells(raw["cells"])
    if index is None:
        return
    cell = raw["cells"][index]
    source = document.source_of(cell)
    if not source.strip() or "skip-execution" in document.tags(cell):
        return
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        compile(source, "<parameters>", "exec", flags=flags, dont_inherit=True)
        return
    except (SyntaxError, ValueError):
        pass
    from IPython.core.inputtransformer2 import TransformerManager  # only for a cell plain Python refuses

    try:
        compile(TransformerManager().transform_cell(source), "<parameters>", "exec", flags=flags, dont_inherit=True)
    except SyntaxError as e:
        where = f"line {e.lineno}: " if e.lineno else ""
        raise ParameterError(
            f"the parameters cell (cell {index}) does not parse ({where}{e.msg}); fix it in the notebook"
        ) from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise ParameterError(
            f"the parameters cell (cell {index}) does not parse ({type(e).__name__}); fix it in the notebook"
        ) from None


def new_run_id(started: datetime) -> str:
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def plan_runs(
    configs: Sequence[RunConfig],
    reporter: Reporter,
    *,
    inputs: Sequence[str] = (),
    extra: Mapping[str, Location] = {},
    stores: Stores | None = None,
    labels: Sequence[str] | None = None,
    apart: Callable[[Engine], bool] = lambda engine: False,
) -> list[Plan]:
    """Plan every run (one, or each notebook of a chain) before any starts, and check them together: a chain is
    refused whole, in one line, before anything runs. ``inputs`` are more files the run reads (a chain file),
    ``extra`` more artifacts it writes (``--outputs-file``): no two artifacts may be the same path, and none may
    be an input (UsageError, exit 2). ``stores``: the process's (default: one per run). ``labels``: how a refusal
    names each run (default: its notebook); ``apart``: engines the runs must not share (one session per run)."""
    from nbrunner.core.signals import StopGuard, StopSignal
    from nbrunner.errors import NbrunnerError

    plans = []
    with StopGuard() as guard:
        try:
            for config in configs:
                started = datetime.now(timezone.utc)
                try:
                    run_id = new_run_id(started)
                    plans.append(make_plan(config, run_id=run_id, started=started, reporter=reporter, stores=stores))
                except NbrunnerError as e:
                    if len(configs) > 1:  # say which notebook (or iteration) refused the chain
                        label = labels[len(plans)] if labels is not None else config.notebook
                        e.args = (f"{label}: {e}", *e.args[1:])
                    raise
        except StopSignal as stop:
            raise guard.error(stop) from None
    check_artifacts(plans, inputs, extra)
    from dataclasses import replace

    shared: dict[object, Engine] = {}  # a chain's notebooks on one engine per key (one Connect session per server)
    plans = [replace(p, engine=shared.setdefault((p.engine.key, i) if apart(p.engine) else p.engine.key, p.engine))
             if p.engine else p for i, p in enumerate(plans)]  # fmt: skip
    if len(plans) > 1:  # each record says which chain it belongs to (nbrunner runs shows them together)
        chain_id = plans[0].run_id
        plans = [replace(p, chain={"id": chain_id, "index": i, "size": len(plans)}) for i, p in enumerate(plans)]
    return plans


def _key(where: Location) -> str:
    return str(where.resolve()) if isinstance(where, Path) else str(where)


def check_artifacts(plans: Sequence[Plan], inputs: Sequence[str], extra: Mapping[str, Location]) -> None:
    """Nothing overwritten: every artifact of the runs (notebook, HTML, record of each, and ``extra``) is a path
    of its own, and none is an input (a notebook, a parameters file, a resumed run's record or notebook)."""
    read: dict[str, str] = {}
    for name in inputs:
        read[_key(locate(name, what="input"))] = name
    for plan in plans:
        read[_key(plan.source)] = str(plan.source)
        for name in plan.config.param_files:
            read[_key(locate(name, what="parameters file"))] = name
        if plan.config.resume is not None:
            read[_key(locate(plan.config.resume, what="--resume record"))] = plan.config.resume
        if plan.resume is not None and plan.resume.output:
            read[_key(locate(plan.resume.output, what="resumed notebook"))] = plan.resume.output
    written: dict[str, str] = {}
    for what, where in [
        *((f"the output of {plan.source}", target) for plan in plans for target in plan.artifacts()),
        *extra.items(),
    ]:
        key = _key(where)
        if key in read:
            raise UsageError(f"{what} would be {where}, which is an input of this run ({read[key]}); "
                             "nbrunner never overwrites an input: pick another -o")  # fmt: skip
        if key in written:
            raise UsageError(f"{where} would be written twice ({written[key]}, and {what}); give each its own "
                             "path (put {notebook} in -o, or an output of its own in the chain file)")  # fmt: skip
        written[key] = what


def current_dir() -> Path | None:
    try:
        return Path.cwd()
    except OSError:  # deleted under us
        return None


def spool_artifacts(target: Uri, run_id: str, config: RunConfig) -> Artifacts[Path]:
    """Where the local copy of a store's output is written first: a folder of its own in the spool."""
    import tempfile

    root = Path(config.storage.spool) if config.storage.spool else Path(tempfile.gettempdir()) / "nbrunner-spool"
    folder = root / run_id
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--spool {root}: cannot create the spool folder: {e.strerror or e}") from e
    local = location.artifacts(folder / target.name)
    location.check_name_lengths(local.notebook)
    return local
