"""Where things are: a local path or a store's ``scheme://bucket/key`` URI; output names from the ``-o`` template.

Which schemes exist, and each one's naming rules, are the stores' (:mod:`nbrunner.storage`): this module knows a
:class:`Uri` only as three strings.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from nbrunner.errors import UsageError


@dataclass(frozen=True)
class Uri:
    """An object in a store: ``scheme://bucket/key`` (the bucket is a container, a namenode...: the store says)."""

    scheme: str
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    def with_name(self, name: str) -> Uri:
        head, _, _ = self.key.rpartition("/")
        return Uri(self.scheme, self.bucket, f"{head}/{name}" if head else name)


Location = Path | Uri


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
    if not isinstance(location, Path):
        return  # a store's own limits are checked by its check_uri
    longest = stem(location) + ".run.json" + "." * 14
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


L = TypeVar("L", bound=Location, covariant=True)


@dataclass(frozen=True)
class Artifacts(Generic[L]):
    """The three things a run leaves: the executed notebook, its HTML rendering, the run record."""

    notebook: L
    html: L
    record: L


@overload
def artifacts(notebook: Path) -> Artifacts[Path]: ...
@overload
def artifacts(notebook: Uri) -> Artifacts[Uri]: ...
@overload
def artifacts(notebook: Location) -> Artifacts[Location]: ...
def artifacts(notebook: Location) -> Artifacts[Location]:
    base = stem(notebook)
    return Artifacts(notebook, notebook.with_name(base + ".html"), notebook.with_name(base + ".run.json"))


def output_location(
    template: str | None,
    source: Location,
    fields: Mapping[str, Any],
    *,
    locate: Callable[[str], Location],
    allow_path_params: bool = False,
) -> Location:
    """Where the executed notebook goes. Default: beside a local input, as ``<stem>.out.ipynb``. ``locate`` turns
    the filled template into a location (:func:`nbrunner.storage.locate`, given ``what="output"``)."""
    if template is None:
        if not isinstance(source, Path):
            return Path.cwd() / f"{stem(source)}.out.ipynb"
        return source.resolve().with_name(f"{stem(source)}.out.ipynb")
    text = render_template(template, fields, allow_path_params=allow_path_params)
    if text.endswith("/"):
        text += f"{fields['notebook']}.ipynb"
    location = locate(text)
    if not location.name.endswith(".ipynb"):
        raise UsageError(f"output {text!r} must end in .ipynb (or / for a folder); the HTML and record go beside it")
    if isinstance(location, Path):
        location = location.absolute()
    if isinstance(location, Path) and isinstance(source, Path) and location.resolve() == source.resolve():
        raise UsageError(f"output {text!r} is the input notebook; nbrunner never overwrites its input, pick another -o")
    if not isinstance(location, Path) and location == source:
        raise UsageError(f"output {text!r} is the input notebook; nbrunner never overwrites its input, pick another -o")
    return location
