"""The command line's vocabulary, defined once: the NAME=VALUE type, the order of -p/-r/--secret, and the option
groups of ``run`` and those it shares with ``inspect`` and ``runs``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
import cloup

from nbrunner.config import StorageOptions
from nbrunner.values import Given, from_text, secret_from_text

F = TypeVar("F", bound=Callable[..., Any])


class Assignment(click.ParamType):  # type: ignore[type-arg]
    """``NAME=VALUE`` into a :class:`~nbrunner.values.Given`: typed like YAML for ``-p``, kept as text for ``-r``.

    A bad name or value is a ParameterError (exit 3, as for parameters files), not a usage error.
    """

    name = "NAME=VALUE"

    def __init__(self, option: str):
        self.option = option

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Given:
        if isinstance(value, Given):
            return value
        return secret_from_text(str(value)) if self.option == "--secret" else from_text(self.option, str(value))


#: ``run --help`` in sections (cloup's option groups), each option by its name; one not named here is listed under
#: "Other options"
RUN_GROUPS = {
    "What runs": ("chain_file", "for_each", "parallel", "retries", "resume", "prepare_only", "keep_going", "kernel",
                  "cwd"),
    "Parameters": ("typed", "raw", "secrets", "files", "allow_undeclared", "allow_path_params"),
    "Outputs": ("output", "html", "outputs_file", "print_set_value", "log_output", "quiet"),
    "Spark": ("spark_session", "spark_early_context", "remote", "remote_timeout"),
    "Flink": ("flink_mode",),
    "Storage (s3://)": ("endpoint_url", "sse", "sse_kms_key_id", "acl", "checkpoint_every", "spool", "store_timeout",
                        "s3_check_timeout"),
    "Limits": ("cell_timeout", "timeout", "start_timeout"),
}  # fmt: skip


class RunCommand(cloup.Command):
    """Keeps the command-line order of ``-p`` and ``-r`` from click's own parse, so the later one wins whichever
    of the two it is (``-r x=raw -qp x=typed`` gives the typed value); lists the options in :data:`RUN_GROUPS`."""

    def __init__(self, *args: Any, params: list[click.Parameter] | None = None, **kwargs: Any):
        groups = {title: cloup.OptionGroup(title) for title in RUN_GROUPS}
        place = {name: (number, title) for number, (title, names) in enumerate(RUN_GROUPS.items()) for name in names}
        params = list(params or [])
        for param in params:
            if isinstance(param, click.Option) and param.name in place:
                param.group = groups[place[param.name][1]]  # type: ignore[attr-defined]
        # the help lists the groups in RUN_GROUPS' order; parsing does not depend on it
        params.sort(key=lambda param: place.get(param.name or "", (len(RUN_GROUPS), ""))[0])
        super().__init__(*args, params=params, **kwargs)

    def make_parser(self, ctx: click.Context) -> Any:
        parser = super().make_parser(ctx)
        parse = parser.parse_args

        def parse_args(args: list[str]) -> Any:
            opts, largs, order = parse(args=args)
            ctx.meta["nbrunner.param_order"] = [param.name for param in order if param.name in _PARAMETERS]
            return opts, largs, order

        parser.parse_args = parse_args  # type: ignore[method-assign]
        return parser


_PARAMETERS = ("typed", "raw", "secrets")  # the options that give parameters: a later one wins, whichever it is


def ordered_parameters(ctx: click.Context, options: dict[str, Any]) -> tuple[Given, ...]:
    queues = {name: list(options[name]) for name in _PARAMETERS}
    return tuple(queues[name].pop(0) for name in ctx.meta.get("nbrunner.param_order", []))


def endpoint_option(f: F) -> F:
    return click.option(
        "--endpoint-url",
        metavar="URL",
        envvar="NBRUNNER_S3_ENDPOINT_URL",
        help="S3 endpoint (S3-compatible stores). Default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS.",
    )(f)


def seconds_option(name: str, default: float | None, help_text: str) -> Callable[[F], F]:
    """A duration option (checked in RunConfig: finite, and above 0 where 0 would mean nothing)."""
    return click.option(
        name, type=float, default=default, show_default=default is not None, metavar="S", help=help_text
    )


def storage_option_group(f: F) -> F:
    """The options of object storage, for every command that reads or writes s3://."""
    for option in reversed(
        [
            click.option(
                "--sse", type=click.Choice(["AES256", "aws:kms"]), help="Server-side encryption of stored objects."
            ),
            click.option("--sse-kms-key-id", metavar="KEY", help="The KMS key for --sse aws:kms."),
            click.option("--acl", metavar="ACL", help="A canned ACL for stored objects (none is set by default)."),
            seconds_option(
                "--checkpoint-every",
                300.0,
                "Upload the partial notebook of an s3:// output at most every S seconds; 0: never.",
            ),
            click.option(
                "--store-timeout",
                "--s3-timeout",
                "store_timeout",
                type=float,
                default=300.0,
                show_default=True,
                metavar="S",
                help="Seconds for reading an input from a store (s3://), and for storing all results (exit 8); "
                "--s3-timeout is its old name.",
            ),
            seconds_option(
                "--s3-check-timeout", 10.0, "Seconds for checking the output bucket before the run; then it goes on."
            ),
            click.option(
                "--spool",
                metavar="DIR",
                envvar="NBRUNNER_SPOOL",
                help="Folder for the local copy of s3:// outputs (default: $NBRUNNER_SPOOL, else a temp folder).",
            ),
        ]
    ):
        f = option(f)
    return endpoint_option(f)


#: the argument and options of ``nbrunner run``, in the order ``--help`` lists them (then the storage group)
RUN_OPTIONS = [
    click.argument("notebooks", nargs=-1, metavar="NOTEBOOK..."),
    click.option(
        "-o",
        "--output",
        metavar="PATH",
        help="Where the executed notebook goes (local path or s3://). "
        "Placeholders: {notebook}, {run_id}, {started}, any parameter. Default: $NBRUNNER_OUTPUT, "
        "else NOTEBOOK's folder as <name>.out.ipynb.",
    ),
    click.option(
        "-p",
        "--param",
        "typed",
        multiple=True,
        type=Assignment("-p"),
        help="A parameter, typed like YAML 1.2 (3, 0.5, true, null; dates stay strings). Repeatable.",
    ),
    click.option(
        "-r", "--raw-param", "raw", multiple=True, type=Assignment("-r"), help="A parameter kept as the raw string."
    ),
    click.option(
        "--secret",
        "secrets",
        multiple=True,
        type=Assignment("--secret"),
        help="A secret parameter, NAME=env:VARIABLE or NAME=file:/path: its value is never written, and redacted from "
        "outputs.",
    ),
    click.option(
        "-f",
        "--param-file",
        "files",
        multiple=True,
        metavar="FILE",
        help="A YAML or JSON mapping of parameters (local or s3://). Repeatable; -p/-r win over it.",
    ),
    click.option("--allow-undeclared", is_flag=True, help="Accept parameters the parameters cell does not declare."),
    click.option(
        "--allow-path-params", is_flag=True, help="Let parameter values in -o add sub-folders ('/'; never '..')."
    ),
    click.option(
        "-k",
        "--kernel",
        metavar="NAME",
        help="An installed kernelspec. Default: the notebook's own for a language "
        "other than Python, else a kernel on this same Python (no kernelspec needed).",
    ),
    click.option("--cwd", metavar="DIR", help="The kernel's working directory. Default: the notebook's folder."),
    seconds_option("--cell-timeout", None, "Fail a cell that runs longer than S seconds (exit 5)."),
    seconds_option("--timeout", None, "Fail the run if it lasts longer than S seconds (exit 5)."),
    seconds_option("--start-timeout", 60.0, "Seconds the kernel has to start (exit 6)."),
    click.option("--log-output", is_flag=True, help="Stream cell outputs to stderr, prefixed with the cell index."),
    click.option("-q", "--quiet", is_flag=True, help="No per-cell progress lines on stderr (--log-output still logs)."),
    click.option("--prepare-only", is_flag=True, help="Write the parameterized notebook; run nothing."),
    click.option(
        "--chain-file",
        metavar="FILE",
        help="Run the notebooks this YAML or JSON list names (local or s3://), each with its own parameters and "
        "output, instead of NOTEBOOK...",
    ),
    click.option(
        "--keep-going",
        is_flag=True,
        help="With several notebooks (or --for-each): run the rest after one fails (exit: the first failure's).",
    ),
    click.option(
        "--for-each",
        "for_each",
        multiple=True,
        metavar="NAME=SPEC",
        help="Run NOTEBOOK once per value: SPEC is a comma list, a range (2026-11-01..2026-11-30 daily, 1..12) or "
        "@FILE (a YAML/JSON list of values, or @FILE alone: a list of parameter mappings). Repeatable: the cross "
        "product. -o must name these parameters.",
    ),
    click.option(
        "--parallel",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        metavar="N",
        help="With --for-each: run at most N iterations at once, each in its own kernel.",
    ),
    click.option(
        "--retries",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        metavar="K",
        help="With --for-each: run a failed iteration again up to K times (every attempt recorded).",
    ),
    click.option(
        "--resume",
        metavar="RECORD",
        help="Resume the failed run of this .run.json (local or s3://): cells tagged setup, the parameters, then from "
        "the failed cell on.",
    ),
    click.option("--html/--no-html", default=True, show_default=True, help="Also write an HTML rendering."),
    click.option(
        "--spark-session/--no-spark-session",
        default=True,
        show_default=True,
        help="Under spark-submit, define `spark` and `sc` in the notebook before the first cell.",
    ),
    click.option(
        "--spark-early-context/--no-spark-early-context",
        default=True,
        show_default=True,
        help="Under spark-submit, create the SparkContext and SparkSession from nbrunner while the kernel starts (the "
        "kernel wraps them); with --no-spark-early-context the kernel creates them once it is up.",
    ),
    click.option(
        "--remote",
        metavar="URL",
        help="Run against a Spark Connect server, sc://HOST:PORT[/;token=T;use_ssl=true], instead of under "
        "spark-submit (default: SPARK_REMOTE outside spark-submit; the token may come from "
        "SPARK_CONNECT_AUTHENTICATE_TOKEN).",
    ),
    seconds_option("--remote-timeout", 10.0, "Seconds the Spark Connect server has to answer the check (exit 7)."),
    click.option(
        "--flink-mode",
        type=click.Choice(["batch", "streaming"]),
        default="batch",
        show_default=True,
        help="Under flink run, the runtime mode of the predefined `t_env` (a TableEnvironment; `env` is the "
        "StreamExecutionEnvironment either way).",
    ),
    click.option(
        "--outputs-file",
        metavar="PATH",
        help="Also write the notebook's outputs (nbrunner.output, scrapbook glue) to PATH as a JSON object, whatever "
        "the outcome (Azkaban: $JOB_OUTPUT_PROP_FILE).",
    ),
    click.option(
        "--print-set-value",
        is_flag=True,
        help="Also print each output as a DolphinScheduler ${setValue(name=value)} line on stdout, before the record.",
    ),
]


def run_option_group(f: F) -> F:
    for decorator in reversed(RUN_OPTIONS):
        f = decorator(f)
    return storage_option_group(f)


def storage_options(options: dict[str, Any]) -> StorageOptions:
    return StorageOptions(
        endpoint_url=options["endpoint_url"],
        sse=options.get("sse"),
        kms_key_id=options.get("sse_kms_key_id"),
        acl=options.get("acl"),
        checkpoint_every=options.get("checkpoint_every", 300.0),
        spool=options.get("spool"),
        timeout=options.get("store_timeout", 300.0),
        check_timeout=options.get("s3_check_timeout", 10.0),
    )
