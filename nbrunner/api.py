"""nbrunner's Python API: what the command line calls, and what Airflow tasks, Dagster ops or scripts call.

    from nbrunner import run_notebook
    record = run_notebook("daily_report.ipynb", "out/{notebook}-{date}.ipynb", {"date": "2026-11-20"})

Every failure raises an :class:`~nbrunner.errors.NbrunnerError` subclass whose ``exit_code`` says what happened and
whose ``record`` is the run's :class:`~nbrunner.core.record.RunRecord` (None when nothing ran: bad input, exit 2/3).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from nbrunner.config import RunConfig, SparkOptions, StorageOptions
from nbrunner.core.record import RunRecord
from nbrunner.core.report import LogReporter, Reporter
from nbrunner.params import Declared
from nbrunner.plan.build import Plan

if TYPE_CHECKING:
    from nbrunner.run.foreach import ForEachRecord


def run_config(config: RunConfig, reporter: Reporter | None = None, plan: Plan | None = None) -> RunRecord:
    """Run what ``config`` says (``plan``: as planned already). Returns the record of a successful run; raises for
    anything else (the error carries the record)."""
    from nbrunner.run.pipeline import run_or_raise

    return run_or_raise(config, reporter or LogReporter(), plan)


@overload
def run_notebook(
    input: str | os.PathLike[str],  # noqa: A002 - papermill's name for it
    output: str | os.PathLike[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    *,
    parameter_files: Sequence[str | os.PathLike[str]] = (),
    secrets: Mapping[str, str] | None = None,
    allow_undeclared: bool = False,
    allow_path_params: bool = False,
    kernel: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    cell_timeout: float | None = None,
    timeout: float | None = None,
    start_timeout: float = 60.0,
    prepare_only: bool = False,
    resume: str | os.PathLike[str] | None = None,
    html: bool = True,
    storage: StorageOptions | None = None,
    spark: SparkOptions | None = None,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
    for_each: None = None,
    parallel: int = 1,
    keep_going: bool = False,
    retries: int = 0,
) -> RunRecord: ...


@overload
def run_notebook(
    input: str | os.PathLike[str],  # noqa: A002 - papermill's name for it
    output: str | os.PathLike[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    *,
    parameter_files: Sequence[str | os.PathLike[str]] = (),
    secrets: Mapping[str, str] | None = None,
    allow_undeclared: bool = False,
    allow_path_params: bool = False,
    kernel: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    cell_timeout: float | None = None,
    timeout: float | None = None,
    start_timeout: float = 60.0,
    prepare_only: bool = False,
    resume: str | os.PathLike[str] | None = None,
    html: bool = True,
    storage: StorageOptions | None = None,
    spark: SparkOptions | None = None,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
    for_each: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    parallel: int = 1,
    keep_going: bool = False,
    retries: int = 0,
) -> ForEachRecord: ...


def run_notebook(
    input: str | os.PathLike[str],  # noqa: A002 - papermill's name for it
    output: str | os.PathLike[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    *,
    parameter_files: Sequence[str | os.PathLike[str]] = (),
    secrets: Mapping[str, str] | None = None,
    allow_undeclared: bool = False,
    allow_path_params: bool = False,
    kernel: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    cell_timeout: float | None = None,
    timeout: float | None = None,
    start_timeout: float = 60.0,
    prepare_only: bool = False,
    resume: str | os.PathLike[str] | None = None,
    html: bool = True,
    storage: StorageOptions | None = None,
    spark: SparkOptions | None = None,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
    for_each: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    parallel: int = 1,
    keep_going: bool = False,
    retries: int = 0,
) -> RunRecord | ForEachRecord:
    """Parameterize, execute and keep a notebook; the same run as ``nbrunner run``.

    ``input`` and ``output`` are local paths or ``s3://bucket/key`` URIs (``output`` may use the ``-o``
    placeholders: ``{notebook}``, ``{run_id}``, ``{started}``, any parameter). ``parameters`` are Python values
    (str, int, float, bool, None, lists and dicts of them), checked against the notebook's ``parameters`` cell;
    ``parameter_files`` (YAML or JSON) are read first. ``secrets`` maps parameter names to references
    (``"env:DB_PASSWORD"``, ``"file:/run/secrets/db"``): the notebook gets ``nbrunner.secret("name")``, and the value
    is never written anywhere. Progress goes to ``reporter`` (default: the ``nbrunner``
    logger). ``environ`` is the environment the run reads (``env:`` secrets, ``NBRUNNER_OUTPUT``, ``SPARK_REMOTE``)
    and the kernel inherits, instead of this process's; an S3 client of the caller's goes in
    ``StorageOptions(client=...)``. Raises a :class:`~nbrunner.errors.NbrunnerError` subclass on any failure; the
    executed notebook is written whatever happens once the run started.

    ``for_each`` (``{"date": ["2026-11-01", "2026-11-02"]}``, a SPEC string as ``--for-each`` takes, or a list of
    parameter mappings) runs the notebook once per value (the cross product of several names), at most
    ``parallel`` at once, each in its own kernel; ``output`` must name those parameters. Returns the summary
    (:class:`~nbrunner.run.foreach.ForEachRecord`), or raises the first failure's error carrying it as ``record``;
    ``keep_going`` and ``retries`` as on the command line.
    """
    from nbrunner.core.secret_values import SecretRef
    from nbrunner.values import Given, check_name, from_mapping

    hidden = []
    for name, ref in (secrets or {}).items():
        name = unicodedata.normalize("NFKC", name)
        check_name(name, source=f"secrets[{name!r}]")
        hidden.append(Given(name, SecretRef(ref, name), None, f"secrets[{name!r}]"))

    config = RunConfig(
        notebook=os.fspath(input),
        output=os.fspath(output) if output is not None else None,
        param_files=tuple(os.fspath(name) for name in parameter_files),
        parameters=(*from_mapping(dict(parameters or {}), source="parameters"), *hidden),
        allow_undeclared=allow_undeclared,
        allow_path_params=allow_path_params,
        kernel=kernel,
        cwd=os.fspath(cwd) if cwd is not None else None,
        cell_timeout=cell_timeout,
        timeout=timeout,
        start_timeout=start_timeout,
        prepare_only=prepare_only,
        resume=os.fspath(resume) if resume is not None else None,
        html=html,
        storage=storage or StorageOptions(),
        spark=spark or SparkOptions(),
        environ=environ,
    )
    if for_each is not None:
        return _for_each(config, for_each, reporter or LogReporter(), parallel=parallel, keep_going=keep_going,
                         retries=retries)  # fmt: skip
    return run_config(config, reporter)


def _for_each(config: RunConfig, for_each: Any, reporter: Reporter, *, parallel: int, keep_going: bool,
              retries: int) -> ForEachRecord:  # fmt: skip
    from nbrunner.errors import UsageError
    from nbrunner.plan.foreach import configs_for_each, from_api, plan_iterations
    from nbrunner.run.foreach import raise_for, run_for_each
    from nbrunner.storage import Stores

    if parallel < 1 or retries < 0:
        raise UsageError("parallel must be at least 1 and retries at least 0")
    stores = Stores(config.storage, config.env)
    found = from_api(for_each, stores=stores)
    configs = configs_for_each(config, found)
    plans = plan_iterations(configs, found, reporter, stores=stores)
    return raise_for(run_for_each(configs, found, plans, reporter, parallel=parallel, keep_going=keep_going,
                                  retries=retries))  # fmt: skip


@dataclass(frozen=True)
class NotebookInfo:
    """What ``nbrunner inspect`` tells about a notebook."""

    notebook: str
    parameters_cell: bool  # whether a code cell is tagged "parameters"
    parameters: tuple[Declared, ...]
    kernel_name: str | None  # the kernelspec the notebook names
    language: str | None  # the notebook's language (None: not said; run as Python)
    warnings: tuple[str, ...]
    sql_cells: tuple[dict[str, Any], ...] = ()  # each %%sql cell: {cell, variable, markers} (nbrunner.magics)

    def as_json(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "parameters_cell": self.parameters_cell,
            "parameters": [{**p.as_json(), "secret_capable": secret_capable(p)} for p in self.parameters],
            "kernel": {"name": self.kernel_name, "language": self.language},
            "sql_cells": list(self.sql_cells),
        }


def secret_capable(declared: Declared) -> bool:
    """Whether a parameter can be given with ``--secret``: a secret is text."""
    from nbrunner.params import accepts_text

    return accepts_text(declared.type)


def inspect_notebook(input: str | os.PathLike[str], *, storage: StorageOptions | None = None) -> NotebookInfo:  # noqa: A002
    """The parameters a notebook declares (name, type, default, help), its kernel and the ``:name`` markers of its
    ``%%sql`` cells, without running it."""
    from nbrunner.core.kernels import notebook_language
    from nbrunner.notebook import document
    from nbrunner.plan import inputs
    from nbrunner.storage import Stores, locate

    name = os.fspath(input)
    where = locate(name, what="notebook")
    text = inputs.read_text(where, what="notebook", stores=Stores(storage or StorageOptions()))
    raw = document.parse_json(text, source=name)
    declared, notes = document.declared_parameters(raw)
    if not declared.found:
        notes.append("the notebook has no code cell tagged 'parameters'")
    kernel_name, language = notebook_language(document.raw_metadata(raw))
    from nbrunner.magics.markers import sql_cells

    sql = tuple(sql_cells(raw["cells"]))
    return NotebookInfo(name, declared.found, declared.parameters, kernel_name, language, tuple(notes), sql)
