"""Where things are: a local path or an ``s3://bucket/key`` URI; output names from the ``-o`` template."""

from __future__ import annotations

import os
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
        if key.startswith("/") or "//" in key or "/./" in f"/{key}" or "/../" in f"/{key}":
            raise UsageError(f"{what} {text!r}: the key has an empty, '.' or '..' segment; write s3://{bucket}/a/b")
        return S3Uri(bucket, key)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        scheme = text.split("://", 1)[0]
        raise UsageError(f"{what} {text!r}: {scheme}:// is not supported; use a local path or s3://BUCKET/KEY")
    return Path(text)


def stem(location: Location) -> str:
    name = location.name
    return name[: -len(".ipynb")] if name.endswith(".ipynb") else Path(name).stem


#: placeholders nbrunner fills itself; every other placeholder is a parameter's value
BUILT_IN = ("notebook", "run_id", "started")
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]|^\.{1,2}$|\.\.")


def render_template(template: str, fields: Mapping[str, Any], *, allow_path_params: bool = False) -> str:
    """Fill ``{notebook}``, ``{run_id}``, ``{started}`` and ``{parameter}`` placeholders; nothing else.

    A parameter's value must not add path segments (``/``, ``\\``, ``..``, control characters): a ParameterError
    (exit 3) unless ``allow_path_params``, and then still no ``..`` segment nor control character.
    """
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
        if spec or conversion or name not in fields:
            if name not in fields:
                known = ", ".join(sorted(fields))
                raise UsageError(f"output {template!r}: unknown placeholder {{{name}}}; known: {known}")
            raise UsageError(f"output {template!r}: placeholders take no format spec or conversion; write {{{name}}}")
        value = str(fields[name])
        if name not in BUILT_IN:
            check_path_value(name, value, allow_path_params=allow_path_params)
        elif value in ("", ".", "..") or ".." in value.split("/"):  # a notebook named "...ipynb" has the stem ".."
            raise UsageError(f"output {template!r}: {{{name}}} would be {value!r}, which climbs out of the folder; "
                             "rename the notebook or write the name into -o")  # fmt: skip
        out.append(value)
    return "".join(out)


def check_path_value(name: str, value: str, *, allow_path_params: bool) -> None:
    from nbrunner.errors import ParameterError

    if allow_path_params:
        segments = value.replace("\\", "/").split("/")
        if ".." in segments or re.search(r"[\x00-\x1f\x7f]", value):
            raise ParameterError(f"-o: parameter {name!r} = {value!r} would climb out of the output folder ('..')")
        return
    if value == "" or _UNSAFE.search(value):
        raise ParameterError(
            f"-o: parameter {name!r} = {value!r} cannot go into the output path: it is empty or has '/', '\\', "
            "'..' or a control character; pass another value, or --allow-path-params for sub-folders"
        )


def check_name_lengths(location: Location) -> None:
    """Each file name within what the file system allows: the longest sibling (``.run.json``) as the temporary
    file it is first written to (``.NAME.XXXXXXXX.tmp``: 14 characters more)."""
    longest = stem(location) + ".run.json" + "." * 14
    if isinstance(location, S3Uri):
        if len(location.with_name(longest).key.encode("utf-8")) > 1024:
            raise UsageError(f"output {location}: the S3 key is longer than 1024 bytes; shorten it")
        return
    parts = [*location.parent.parts, longest]
    try:
        limit = os.pathconf(_existing(location.parent), "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > limit:
            raise UsageError(
                f"output {str(location)!r}: the name {part[:40]!r}... is longer than the file system allows "
                f"({limit} bytes); shorten -o"
            )


def check_writable(location: Path) -> None:
    """The output folder exists and is writable, or can be made: else a UsageError before anything runs."""
    folder = _existing(location.parent)
    if not folder.is_dir():
        raise UsageError(f"output {str(location)!r}: {str(folder)!r} is not a folder; pick another -o")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"output {str(location)!r}: the folder {str(folder)!r} is not writable; pick another -o")


def _existing(folder: Path) -> Path:
    """The nearest existing ancestor of ``folder`` (itself if it exists)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


@dataclass(frozen=True)
class Artifacts:
    """The three things a run leaves: the executed notebook, its HTML rendering, the run record."""

    notebook: Location
    html: Location
    record: Location


def artifacts(notebook: Location) -> Artifacts:
    base = stem(notebook)
    return Artifacts(notebook, notebook.with_name(base + ".html"), notebook.with_name(base + ".run.json"))


def output_location(
    template: str | None, source: Location, fields: Mapping[str, Any], *, allow_path_params: bool = False
) -> Location:
    """Where the executed notebook goes. Default: beside a local input, as ``<stem>.out.ipynb``."""
    if template is None:
        if isinstance(source, S3Uri):
            return Path.cwd() / f"{stem(source)}.out.ipynb"
        return source.resolve().with_name(f"{stem(source)}.out.ipynb")
    text = render_template(template, fields, allow_path_params=allow_path_params)
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
