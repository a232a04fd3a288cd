"""The command line: options (see :mod:`nbrunner.options`) -> one frozen RunConfig -> one API call -> an exit code.

Only this module prints to stdout (the run record) and exits; :func:`main` maps every outcome to a code through
:func:`nbrunner.errors.exit_code_of`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from nbrunner import __version__
from nbrunner.config import RunConfig, SparkOptions, StorageOptions
from nbrunner.errors import (
    EXIT_CODE_HELP,
    ExitCode,
    InternalError,
    NbrunnerError,
    Skipped,
    StorageError,
    exit_code_of,
)
from nbrunner.options import (
    RunCommand,
    endpoint_option,
    ordered_parameters,
    run_option_group,
    storage_options,
)
from nbrunner.status import Status


def _exit_code_table() -> str:
    rows = "\n".join(f"  {int(code):>3}  {text}" for code, text in EXIT_CODE_HELP.items())
    return f"\b\nExit codes:\n{rows}"


@click.group(epilog=_exit_code_table(), context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="nbrunner")
def cli() -> None:
    """Run a parameterized Jupyter notebook unattended: under spark-submit, with results kept.

    \b
      nbrunner run report.ipynb -p date=2026-11-20 -o 'out/{notebook}-{date}.ipynb'
      nbrunner inspect report.ipynb
      spark-submit "$(nbrunner entrypoint)" run report.ipynb ...
    """


@cli.command(cls=RunCommand, epilog=_exit_code_table())
@run_option_group
@click.pass_context
def run(ctx: click.Context, /, **options: Any) -> int:
    """Parameterize, execute and keep NOTEBOOK (a local path or s3://); several (or a --chain-file's) run in order,
    in one process (under spark-submit: one Spark application), each with its own output.

    Progress goes to stderr; the run record (one JSON line; a summary for several notebooks) is the last line of stdout.
    """
    from nbrunner.api import run_config
    from nbrunner.core.report import StreamReporter

    notebooks, chain_file = options["notebooks"], options["chain_file"]
    if bool(notebooks) == bool(chain_file):
        raise click.UsageError("give the notebooks to run as NOTEBOOK... or in --chain-file FILE" + (
            ", not both" if notebooks else ""))  # fmt: skip
    config = RunConfig(
        notebook=notebooks[0] if notebooks else chain_file,
        output=options["output"],
        param_files=tuple(options["files"]),
        parameters=ordered_parameters(ctx, options),
        allow_undeclared=options["allow_undeclared"],
        allow_path_params=options["allow_path_params"],
        kernel=options["kernel"],
        cwd=options["cwd"],
        cell_timeout=options["cell_timeout"],
        timeout=options["timeout"],
        start_timeout=options["start_timeout"],
        prepare_only=options["prepare_only"],
        resume=options["resume"],
        html=options["html"],
        storage=storage_options(options),
        spark=SparkOptions(
            define_session=options["spark_session"],
            early_context=options["spark_early_context"],
            remote=options["remote"],
            connect_timeout=options["remote_timeout"],
            flink_mode=options["flink_mode"],
        ),  # fmt: skip
    )
    reporter = StreamReporter(
        sys.stderr,
        progress=not options["quiet"],
        log_output=options["log_output"],
        live=False if options["for_each"] else None,
    )  # several runs at once: per-cell lines
    from nbrunner.storage import Stores

    stores = Stores(config.storage, config.env)  # the process's: each store built on first use, once
    configs = [config]
    if len(notebooks) > 1 or chain_file:
        from nbrunner.run.chain import configs_for, configs_from_file

        configs = configs_from_file(config, chain_file, stores) if chain_file else configs_for(config, notebooks)
    outputs_file = None
    if options["outputs_file"] is not None:  # checked before anything runs, like the other artifacts
        from nbrunner.run.deliver import OutputsFile

        outputs_file = OutputsFile(options["outputs_file"], stores=stores)
    if options["for_each"]:
        return _for_each(config, options, reporter, stores, outputs_file, several=len(notebooks) > 1 or chain_file)
    from nbrunner.plan.build import plan_runs

    # every run planned, and every artifact checked against the others and the inputs, before anything runs
    extra = {"--outputs-file": outputs_file.where} if outputs_file is not None else {}
    plans = plan_runs(configs, reporter, inputs=[chain_file] if chain_file else [], extra=extra, stores=stores)
    if len(configs) > 1 or chain_file:
        from nbrunner.run.chain import run_chain
        from nbrunner.run.deliver import chain_outputs, flat

        try:
            summary = run_chain(configs, reporter, keep_going=options["keep_going"], plans=plans)
        finally:
            reporter.finish()
        outputs = chain_outputs(summary.runs, [c.notebook for c in configs])
        code = _scheduler_outputs(outputs, flat(outputs), outputs_file, options["print_set_value"], summary.exit_code)
        if code != summary.exit_code:
            summary.failed_after(StorageError(""), "the outputs file could not be stored")
        _print_record(summary.as_json())
        return summary.exit_code
    code = 0
    try:
        try:
            record = run_config(config, reporter, plans[0])
        finally:
            reporter.finish()
    except NbrunnerError as e:
        if e.record is None:
            raise  # nothing ran: main says why
        record, code = e.record, int(e.exit_code)
        if isinstance(e, InternalError) and e.__cause__ is not None:
            import traceback

            traceback.print_exception(type(e.__cause__), e.__cause__, e.__cause__.__traceback__, file=sys.stderr)
            print_line(
                "nbrunner: internal error (a bug in nbrunner); please report it with the traceback above", err=True
            )
        if isinstance(e, Skipped):
            print_line(f"nbrunner: {record.message} (notebook: {record.output})", err=True)
        else:
            print_line(f"nbrunner: error: {record.message} (notebook: {record.output})", err=True)
    new_code = _scheduler_outputs(record.outputs, record.outputs, outputs_file, options["print_set_value"], code)
    if new_code != code:
        record.failed_after(StorageError(""), "the outputs file could not be stored; the outputs are in this record")
        code = int(record.exit_code or new_code)
    _print_record(record.as_json())
    return code


def _for_each(config: RunConfig, options: dict[str, Any], reporter: Any, stores: Any, outputs_file: Any,
              *, several: bool) -> int:  # fmt: skip
    """``--for-each``: every iteration planned, then run (:mod:`nbrunner.run.foreach`); the summary printed last."""
    from nbrunner.plan.foreach import configs_for_each, iterations, parse_spec, plan_iterations
    from nbrunner.run.deliver import flat
    from nbrunner.run.foreach import outputs_by_iteration, run_for_each

    if several:
        raise click.UsageError("--for-each runs one NOTEBOOK (not several, nor a --chain-file)")
    found = iterations([parse_spec(spec, stores=stores) for spec in options["for_each"]])
    configs = configs_for_each(config, found)
    extra = {"--outputs-file": outputs_file.where} if outputs_file is not None else {}
    plans = plan_iterations(configs, found, reporter, extra=extra, stores=stores)
    summary = run_for_each(configs, found, plans, reporter, parallel=options["parallel"],
                           keep_going=options["keep_going"], retries=options["retries"])  # fmt: skip
    outputs = outputs_by_iteration(summary, found)
    code = _scheduler_outputs(outputs, flat(outputs), outputs_file, options["print_set_value"], summary.exit_code)
    if code != summary.exit_code:
        summary.failed_after(StorageError(""), "the outputs file could not be stored")
    _print_record(summary.as_json())
    return summary.exit_code


def _scheduler_outputs(outputs: Any, flat: dict[str, Any], file: Any, set_value: bool, code: int) -> int:
    """The notebook's outputs where schedulers look for them (:mod:`nbrunner.run.deliver`): the outputs
    file, setValue lines on stdout. Returns the exit code: a failure to store the file makes a success exit 8."""
    from nbrunner.run.deliver import set_value_lines

    if file is not None:
        try:
            file.write(outputs)
        except NbrunnerError as e:
            print_line(f"nbrunner: error: {e}", err=True)
            code = code or int(e.exit_code)
    if set_value:
        for line in set_value_lines(flat, lambda message: print_line(f"nbrunner: warning: {message}", err=True)):
            print_line(line)
    return code


def print_line(text: str, *, err: bool = False) -> None:
    """``text`` as a line on stdout (``err``: stderr), for every print of the command line. When the stream's reader
    has gone (a closed pipe: ``| head``, a driver JVM gone, a closed descriptor) the line is dropped and the stream
    points to /dev/null for the rest of the command: what the command did stands, and its exit code is its own,
    never 1 (a bug in nbrunner). A stream that cannot be written otherwise (a full disk) is said once on stderr."""
    stream = sys.stderr if err else sys.stdout
    try:
        click.echo(text, err=err)
    except BrokenPipeError:
        _to_devnull(stream)
    except (OSError, ValueError) as e:  # ValueError: the stream was closed
        _to_devnull(stream)
        if not err:
            print_line(f"nbrunner: warning: stdout cannot be written ({getattr(e, 'strerror', None) or e})", err=True)


def _to_devnull(stream: Any) -> None:
    """Later writes to ``stream`` (and what its buffer still holds) go to /dev/null."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's capture) or closed: nothing to point
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def _print_record(record: dict[str, Any]) -> None:
    """The record as the last line of stdout, even where stderr is merged into it (spark-submit does that); where
    nobody reads stdout any more (the driver JVM is gone) the record is in the files."""
    print_line(json.dumps(record, ensure_ascii=False, separators=(",", ":")))


@cli.command()
@click.argument("notebook")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@endpoint_option
def inspect(notebook: str, as_json: bool, endpoint_url: str | None) -> int:
    """List the parameters NOTEBOOK declares (name, type, default, help), its kernel and its SQL cells' markers."""
    from nbrunner.api import inspect_notebook

    info = inspect_notebook(notebook, storage=StorageOptions(endpoint_url=endpoint_url))
    for message in info.warnings:
        print_line(f"nbrunner: warning: {message}", err=True)
    if as_json:
        print_line(json.dumps(info.as_json(), ensure_ascii=False))
        return 0
    print_line(f"Parameters of {notebook}:")
    for p in info.parameters:
        default = repr(p.default) if p.default_is_literal else p.default
        help_text = f"  # {p.help}" if p.help else ""
        print_line(f"  {p.name}: {p.type or 'any'} = {default}{help_text}")
    if not info.parameters:
        print_line("  (none)")
    if info.language:
        print_line(f"Kernel: {info.kernel_name or '?'} ({info.language})")
    for sql in info.sql_cells:  # %%sql cells: the markers each binds from the notebook's variables
        said = ", ".join(f":{name}" for name in sql["markers"]) or "no markers"
        said += f" ({sql['error']})" if "error" in sql else ""
        print_line(f"SQL cell {sql['cell']} -> {sql['variable']}: {said}")
    return 0


@cli.command()
@click.argument("location")
@click.option("--status", "statuses", multiple=True, metavar="STATUS",
              type=click.Choice([*sorted(s.value for s in Status), "failure", "lost"]),
              help="Only runs with this status (repeatable); 'failure': any but succeeded and skipped; 'lost': "
                   "started and never wrote a record.")  # fmt: skip
@click.option("--since", metavar="WHEN", help="Only runs started since: 30m, 24h, 7d, or a UTC date or time.")
@click.option("--notebook", metavar="NAME", help="Only this notebook's runs (a glob, or part of its name).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="At most the N newest runs.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run (its record) instead of lines.")
@click.option("--html", "page", metavar="FILE", help="Also write one offline page of them (local or s3://).")
@click.option("--url-template", metavar="URL", help="How the page links an s3:// run HTML: {bucket} and {key}.")
@click.option("--group-by", type=click.Choice(["none", "dag", "notebook"]), default="none", show_default=True,
              help="List the runs under their Airflow DAG and task (from the record), or notebook.")  # fmt: skip
@click.option("--attention/--no-attention", default=None,
              help="The 'needs attention' block above the lines (default: on a terminal).")  # fmt: skip
@click.option("--lost-after", type=click.IntRange(min=0), default=60, show_default=True, metavar="MINUTES",
              help="A run of another host that started this long ago and has no record is shown as lost.")  # fmt: skip
@endpoint_option
def runs(location: str, statuses: tuple[str, ...], since: str | None, notebook: str | None, limit: int | None,
         as_json: bool, page: str | None, url_template: str | None, group_by: str, attention: bool | None,
         lost_after: int, endpoint_url: str | None) -> int:  # fmt: skip
    """List the runs whose records lie under LOCATION (a folder, or an s3:// prefix), newest first: start time,
    status, duration, notebook, parameters, the failing cell and its error, and where the run's HTML is; above
    them, the notebooks whose last runs failed; for a failed run, the command resuming it."""
    from datetime import datetime, timedelta, timezone

    from nbrunner.storage import Stores
    from nbrunner.view import page as pages
    from nbrunner.view import runs as found_runs

    stores = Stores(StorageOptions(endpoint_url=endpoint_url))
    after = found_runs.since_of(since) if since is not None else None
    url_template = pages.url_template_of(url_template) if url_template is not None else None
    now = datetime.now(timezone.utc)
    everything = found_runs.find(location, stores, warn=lambda m: print_line(f"nbrunner: warning: {m}", err=True),
                                 lost_after=timedelta(minutes=lost_after), now=now)  # fmt: skip
    # the attention block reads every run of the notebooks shown (a success older than --limit still ends a streak)
    recent = found_runs.select(everything, since=after, notebook=notebook)
    chosen = found_runs.select(recent, statuses=statuses, limit=limit)
    if page is not None:
        pages.check_target(page, location, everything)
    if not chosen:
        filtered = " matching the filters" if everything else ""
        print_line(found_runs.printable(f"nbrunner: no runs found under {location}{filtered}"), err=True)
    if as_json:
        shown = list(map(found_runs.json_line, chosen))
    else:
        on_terminal = attention if attention is not None else sys.stdout.isatty()
        shown = found_runs.attention_lines(recent, now) if on_terminal else []
        shown += found_runs.lines(chosen, now, by=group_by)
    for line in shown:
        print_line(line)
    if page is not None:
        text = pages.page(chosen, title=f"nbrunner runs: {location}", where=page, url_template=url_template,
                          location=location, group_by=group_by, needing=recent, now=now)  # fmt: skip
        pages.store(page, text, stores)
    return 0


@cli.command()
def entrypoint() -> int:
    """Print the path of nbrunner's .py launcher, for spark-submit's primary resource."""
    from nbrunner.gateway import launcher_path

    print_line(str(launcher_path()))
    return 0


def _standard_streams_open() -> None:
    """A closed stdin/stdout/stderr becomes /dev/null: a later open() must not take fd 1 or 2 (the kernel would
    write its logs into a socket or the notebook), and the run goes on, reporting through its files."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            os.set_inheritable(fd, True)  # as the descriptor it replaces was: children get it
    for name, fd in (("stdout", 1), ("stderr", 2)):
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "w", encoding="utf-8", closefd=False))  # noqa: SIM115


def _refused(error: NbrunnerError, args: Sequence[str]) -> None:
    """A run refused before anything ran (exit 2, 3, 7, 8, a signal): the error line, and a record on stdout."""
    print_line(f"nbrunner: error: {error}", err=True)
    if next((arg for arg in args if not arg.startswith("-")), None) == "run":
        from nbrunner.core.record import refused

        _print_record(refused(error))


def main(argv: Sequence[str] | None = None) -> None:
    """The console script. Turns every outcome into one exit status, in this one place. With ``argv`` None it is
    this process's own command: signals are stops from here on, and ignored once the outcome is printed."""
    from nbrunner.core.signals import StopGuard, StopSignal, settle_exit, stop_early

    args = list(argv) if argv is not None else sys.argv[1:]
    try:
        if argv is None:
            stop_early()  # the console entry (nbrunner.__main__) did it already, before importing this module
        _standard_streams_open()
        code: int = cli.main(args=args, prog_name="nbrunner", standalone_mode=False)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = ExitCode.USAGE if isinstance(e, click.UsageError | click.BadParameter) else e.exit_code
    except click.Abort:
        code = ExitCode.INTERRUPTED
    except NbrunnerError as e:
        _refused(e, args)
        code = exit_code_of(e)
    except KeyboardInterrupt as e:
        print_line("nbrunner: interrupted", err=True)
        code = exit_code_of(e)
    except StopSignal as stop:  # before any run started, or between two notebooks of a chain
        error = StopGuard.error(stop)
        _refused(error, args)
        code = exit_code_of(error)
    except BrokenPipeError:
        code = ExitCode.INTERNAL
    except Exception as e:
        import traceback

        traceback.print_exc()
        print_line("nbrunner: internal error (a bug in nbrunner); please report it with the traceback above", err=True)
        code = exit_code_of(e)
    if argv is None:
        settle_exit()
    sys.exit(int(code or 0))
