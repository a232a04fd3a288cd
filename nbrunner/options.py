"""The command line's vocabulary, defined once: the NAME=VALUE type, the order of -p/-r/--secret, and the option
groups shared by ``run`` and ``inspect``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

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


class RunCommand(click.Command):
    """Keeps the command-line order of ``-p`` and ``-r`` from click's own parse, so the later one wins whichever
    of the two it is (``-r x=raw -qp x=typed`` gives the typed value)."""

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
            seconds_option(
                "--s3-timeout", 300.0, "Seconds for reading an s3:// input, and for storing all results (exit 8)."
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


def storage_options(options: dict[str, Any]) -> StorageOptions:
    return StorageOptions(
        endpoint_url=options["endpoint_url"],
        sse=options.get("sse"),
        kms_key_id=options.get("sse_kms_key_id"),
        acl=options.get("acl"),
        checkpoint_every=options.get("checkpoint_every", 300.0),
        spool=options.get("spool"),
        timeout=options.get("s3_timeout", 300.0),
        check_timeout=options.get("s3_check_timeout", 10.0),
    )
