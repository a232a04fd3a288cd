"""Where things are: a local path or an ``s3://bucket/key`` URI; output names from the ``-o`` template."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbrunner.errors import UsageError

# bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html), relaxed to
# what S3-compatible stores accept too: 3-63 chars of lowercase letters, digits, dots, hyphens (and underscores)
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def with_name(self, name: str) -> S3Uri:
        head, _, _ = self.key.rpartition("/")
        return S3Uri(self.bucket, f"{head}/{name}" if head else name)


Location = Path | S3Uri


def parse(text: str, *, what: str) -> Location:
    """``s3://bucket/key`` -> S3Uri; any other URL scheme is refused; anything else is a local path."""
    if text.startswith("s3://") or text.startswith("s3a://"):
        rest = text.split("://", 1)[1]
        bucket, _, key = rest.partition("/")
        if not _BUCKET.match(bucket):
            raise UsageError(
                f"{what} {text!r}: {bucket!r} is not a valid bucket name; write s3://BUCKET/KEY with a bucket of "
                "3-63 lowercase letters, digits, dots or hyphens"
            )
        if not key or key.endswith("/") and what != "output":
            raise UsageError(f"{what} {text!r}: no object key after the bucket; write s3://{bucket}/path/to/object")
        return S3Uri(bucket, key)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        scheme = text.split("://", 1)[0]
        raise UsageError(f"{what} {text!r}: {scheme}:// is not supported; use a local path or s3://BUCKET/KEY")
    return Path(text)


def stem(location: Location) -> str:
    name = location.name
    return name[: -len(".ipynb")] if name.endswith(".ipynb") else Path(name).stem


def render_template(template: str, fields: Mapping[str, Any]) -> str:
    """Fill ``{notebook}``, ``{run_id}``, ``{started}`` and ``{parameter}`` placeholders; nothing else."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise UsageError(
            f"output {template!r}: bad placeholder syntax ({e}); use {{name}}, and {{{{ for a brace"
        ) from e
    out = []
    for literal, name, spec, conversion in parsed:
        out.append(literal)
        if name is None:
            continue
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise UsageError(f"output {template!r}: unknown placeholder {{{name}}}; known: {known}")
        value = fields[name]
        out.append(format(value, spec or "") if conversion is None else format(str(value), spec or ""))
    return "".join(out)


@dataclass(frozen=True)
class Artifacts:
    """The three things a run leaves: the executed notebook, its HTML rendering, the run record."""

    notebook: Location
    html: Location
    record: Location


def artifacts(notebook: Location) -> Artifacts:
    base = stem(notebook)
    return Artifacts(notebook, notebook.with_name(base + ".html"), notebook.with_name(base + ".run.json"))


def output_location(template: str | None, source: Location, fields: Mapping[str, Any]) -> Location:
    """Where the executed notebook goes. Default: beside a local input, as ``<stem>.out.ipynb``."""
    if template is None:
        if isinstance(source, S3Uri):
            return Path.cwd() / f"{stem(source)}.out.ipynb"
        return source.resolve().with_name(f"{stem(source)}.out.ipynb")
    text = render_template(template, fields)
    if text.endswith("/"):
        text += f"{fields['notebook']}.ipynb"
    location = parse(text, what="output")
    if not location.name.endswith(".ipynb"):
        raise UsageError(f"output {text!r} must end in .ipynb (or / for a folder); the HTML and record go beside it")
    if isinstance(location, Path):
        location = location.absolute()
    if isinstance(location, Path) and isinstance(source, Path) and location.resolve() == source.resolve():
        raise UsageError(f"output {text!r} is the input notebook; nbrunner never overwrites its input, pick another -o")
    if isinstance(location, S3Uri) and location == source:
        raise UsageError(f"output {text!r} is the input notebook; nbrunner never overwrites its input, pick another -o")
    return location
