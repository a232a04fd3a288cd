"""The command line: options -> one frozen RunConfig -> one call -> an exit code.

Only this module exits or prints errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from nbrunner import __version__
from nbrunner.config import RunConfig, SparkOptions, StorageOptions
from nbrunner.errors import EXIT_CODE_HELP, ExitCode, NbrunnerError


def _exit_code_table() -> str:
    rows = "\n".join(f"  {int(code):>3}  {text}" for code, text in EXIT_CODE_HELP.items())
    return f"\b\nExit codes:\n{rows}"


_PARAM_FLAGS = {"-p": "-p", "--param": "-p", "-r": "-r", "--raw-param": "-r"}


class _RunCommand(click.Command):
    """Remembers the command-line order of -p and -r, so a later one wins whichever of the two it is."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        kinds = []
        for arg in args:
            if arg == "--":
                break
            flag = arg.split("=", 1)[0] if arg.startswith("--") else arg[:2]
            if flag in _PARAM_FLAGS:
                kinds.append(_PARAM_FLAGS[flag])
        ctx.meta["nbrunner.param_kinds"] = kinds
        return super().parse_args(ctx, args)


def _ordered_params(ctx: click.Context, typed: Sequence[str], raw: Sequence[str]) -> tuple[tuple[str, str], ...]:
    kinds: list[str] = ctx.meta.get("nbrunner.param_kinds", [])
    if kinds.count("-p") != len(typed) or kinds.count("-r") != len(raw):
        kinds = ["-p"] * len(typed) + ["-r"] * len(raw)  # could not tell the order: -r after -p
    queues = {"-p": list(typed), "-r": list(raw)}
    return tuple((kind, queues[kind].pop(0)) for kind in kinds)


_positive = click.FloatRange(min=0, min_open=True)


@click.group(epilog=_exit_code_table(), context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nbrunner")
def cli() -> None:
    """Run a parameterized Jupyter notebook unattended: under spark-submit, with results kept.

    \b
      nbrunner run report.ipynb -p date=2026-11-20 -o 'out/{notebook}-{date}.ipynb'
      nbrunner inspect report.ipynb
      spark-submit "$(nbrunner entrypoint)" run report.ipynb ...
    """


@cli.command(cls=_RunCommand, epilog=_exit_code_table())
@click.argument("notebook")
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Where the executed notebook goes (local path or s3://). "
    "Placeholders: {notebook}, {run_id}, {started}, any parameter. Default: $NBRUNNER_OUTPUT, "
    "else NOTEBOOK's folder as <name>.out.ipynb.",
)
@click.option(
    "-p",
    "--param",
    "typed",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter, typed like YAML (3, 0.5, true, null; dates stay strings). Repeatable.",
)
@click.option(
    "-r",
    "--raw-param",
    "raw",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter kept as the raw string. Repeatable.",
)
@click.option(
    "-f",
    "--param-file",
    "files",
    multiple=True,
    metavar="FILE",
    help="A YAML or JSON mapping of parameters (local or s3://). Repeatable; -p/-r win over it.",
)
@click.option(
    "--allow-undeclared",
    is_flag=True,
    help="Accept parameters the notebook's parameters cell does not declare.",
)
@click.option(
    "-k",
    "--kernel",
    metavar="NAME",
    help="An installed kernelspec. Default: a kernel on this same Python, no kernelspec needed.",
)
@click.option("--cwd", metavar="DIR", help="The kernel's working directory. Default: the notebook's folder.")
@click.option(
    "--cell-timeout",
    type=_positive,
    metavar="S",
    help="Fail a cell that runs longer than S seconds (exit 5).",
)
@click.option("--timeout", type=_positive, metavar="S", help="Fail the run if it lasts longer than S seconds (exit 5).")
@click.option(
    "--start-timeout",
    type=_positive,
    default=60.0,
    show_default=True,
    metavar="S",
    help="Seconds the kernel has to start (exit 6).",
)
@click.option("--log-output", is_flag=True, help="Stream cell outputs to stderr, prefixed with the cell index.")
@click.option("-q", "--quiet", is_flag=True, help="No per-cell progress lines on stderr.")
@click.option("--prepare-only", is_flag=True, help="Write the parameterized notebook; run nothing.")
@click.option("--html/--no-html", default=True, show_default=True, help="Also write an HTML rendering.")
@click.option(
    "--spark-session/--no-spark-session",
    default=True,
    show_default=True,
    help="Under spark-submit, define `spark` and `sc` in the notebook before the first cell.",
)
@click.option(
    "--endpoint-url",
    metavar="URL",
    envvar="NBRUNNER_S3_ENDPOINT_URL",
    help="S3 endpoint (S3-compatible stores). Default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS.",
)
@click.option("--sse", type=click.Choice(["AES256", "aws:kms"]), help="Server-side encryption of stored objects.")
@click.option("--sse-kms-key-id", metavar="KEY", help="The KMS key for --sse aws:kms.")
@click.option("--acl", metavar="ACL", help="A canned ACL for stored objects (none is set by default).")
@click.option(
    "--checkpoint-every",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    metavar="S",
    help="Upload the partial notebook of an s3:// output at most every S seconds; 0: never.",
)
@click.option(
    "--spool",
    metavar="DIR",
    envvar="NBRUNNER_SPOOL",
    help="Folder for the local copy of s3:// outputs (default: $NBRUNNER_SPOOL, else a temp folder).",
)
@click.pass_context
def run(ctx: click.Context, /, **options: Any) -> int:
    """Parameterize, execute and keep NOTEBOOK (a local path or s3://).

    Progress goes to stderr; the run record (one JSON line) is the last line of stdout.
    """
    config = RunConfig(
        notebook=options["notebook"],
        output=options["output"],
        param_files=tuple(options["files"]),
        cli_params=_ordered_params(ctx, options["typed"], options["raw"]),
        allow_undeclared=options["allow_undeclared"],
        kernel=options["kernel"],
        cwd=options["cwd"],
        cell_timeout=options["cell_timeout"],
        timeout=options["timeout"],
        start_timeout=options["start_timeout"],
        log_output=options["log_output"],
        progress=not options["quiet"],
        prepare_only=options["prepare_only"],
        html=options["html"],
        storage=StorageOptions(
            endpoint_url=options["endpoint_url"],
            sse=options["sse"],
            kms_key_id=options["sse_kms_key_id"],
            acl=options["acl"],
            checkpoint_every=options["checkpoint_every"],
            spool=options["spool"],
        ),
        spark=SparkOptions(define_session=options["spark_session"]),
    )
    from nbrunner.run import run as run_notebook

    return int(run_notebook(config).exit_code or 0)


@cli.command()
@click.argument("notebook")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def inspect(notebook: str, as_json: bool) -> int:
    """List the parameters NOTEBOOK declares: name, type, default and help."""
    from nbrunner import location, params
    from nbrunner import notebook as nbdoc
    from nbrunner.run import read_source

    source = location.parse(notebook, what="notebook")
    nb = nbdoc.parse(read_source(source, RunConfig(notebook=notebook)), source=str(source))
    declared = params.declaration(nbdoc.parameters_source(nb))
    for message in declared.skipped:
        click.echo(f"nbrunner: warning: parameters cell: {message}", err=True)
    if not declared.found:
        click.echo("nbrunner: warning: the notebook has no cell tagged 'parameters'", err=True)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "notebook": notebook,
                    "parameters_cell": declared.found,
                    "parameters": [p.as_json() for p in declared.parameters],
                },
                ensure_ascii=False,
            )
        )
        return 0
    click.echo(f"Parameters of {notebook}:")
    for p in declared.parameters:
        default = repr(p.default) if p.default_is_literal else p.default
        help_text = f"  # {p.help}" if p.help else ""
        click.echo(f"  {p.name}: {p.type or 'any'} = {default}{help_text}")
    if not declared.parameters:
        click.echo("  (none)")
    return 0


@cli.command()
def entrypoint() -> int:
    """Print the path of nbrunner's .py launcher, for spark-submit's primary resource."""
    from nbrunner.gateway import launcher_path

    click.echo(str(launcher_path()))
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """The console script. Turns every outcome into one exit status, in this one place."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="nbrunner", standalone_mode=False)
    except click.exceptions.Exit as e:
        code = e.exit_code
    except click.ClickException as e:
        e.show()
        code = ExitCode.USAGE if isinstance(e, click.UsageError | click.BadParameter) else e.exit_code
    except click.Abort:
        code = ExitCode.INTERRUPTED
    except NbrunnerError as e:
        click.echo(f"nbrunner: error: {e}", err=True)
        code = e.exit_code
    except KeyboardInterrupt:
        click.echo("nbrunner: interrupted", err=True)
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        code = ExitCode.INTERNAL
    except Exception:
        import traceback

        traceback.print_exc()
        click.echo(
            "nbrunner: internal error (a bug in nbrunner); please report it with the traceback above",
            err=True,
        )
        code = ExitCode.INTERNAL
    sys.exit(int(code or 0))
