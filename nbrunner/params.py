"""Parameters: read what a notebook declares, check the given values against it, and render them as code.

papermill-compatible: the cell tagged ``parameters`` declares names and defaults; values are injected as a new cell
tagged ``injected-parameters`` (see :mod:`nbrunner.notebook.document`). Unlike papermill, names are checked to be
identifiers, values are rendered as Python literals (never as code) and checked against the declared types before a
kernel starts.
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nbrunner.core.secret_values import Secret
from nbrunner.errors import ParameterError
from nbrunner.values import Given


@dataclass(frozen=True)
class Declared:
    """One parameter the ``parameters`` cell declares."""

    name: str
    type: str | None  # annotation text, else the default's type name, else None (unknown)
    default: Any  # the literal default, or the default's source text when it is not a literal
    default_is_literal: bool
    help: str
    line: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default if self.default_is_literal else None,
            "default_source": None if self.default_is_literal else self.default,
            "help": self.help,
            "line": self.line,
        }


@dataclass(frozen=True)
class Declaration:
    """What a ``parameters`` cell declares, and the lines that could not be read."""

    found: bool  # False when the notebook has no cell tagged "parameters"
    parameters: tuple[Declared, ...] = ()
    skipped: tuple[str, ...] = field(default=())  # one message per unreadable line

    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def get(self, name: str) -> Declared | None:
        return next((p for p in self.parameters if p.name == name), None)


# ---------------------------------------------------------------------------------------------------------------
# What a parameters cell declares


def _comments(source: str) -> dict[int, str]:
    """Trailing comments by line number (1-based). Tolerates broken source."""
    comments: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError, SyntaxError):
        for number, line in enumerate(source.splitlines(), 1):
            if "#" in line:
                comments.setdefault(number, line.split("#", 1)[1].strip())
    return comments


def _parse_tolerant(source: str) -> tuple[ast.Module, list[str]]:
    """Parse ``source``, blanking out lines that do not parse until the rest does."""
    lines = source.splitlines()
    skipped: list[str] = []
    for _ in range(len(lines) + 1):
        try:
            return ast.parse("\n".join(lines)), skipped
        except SyntaxError as e:
            number = e.lineno or 0
            if not 1 <= number <= len(lines) or not lines[number - 1].strip():
                # the error is not pinned to a line we can drop: give up on the whole cell
                skipped.append(f"the parameters cell does not parse: {e.msg}")
                return ast.Module(body=[], type_ignores=[]), skipped
            skipped.append(f"line {number} skipped, it does not parse ({e.msg}): {lines[number - 1].strip()}")
            lines[number - 1] = ""
    return ast.Module(body=[], type_ignores=[]), skipped


# a None default (or no literal default) declares no type: any value is accepted
_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}


def declaration(source: str | None) -> Declaration:
    """Read the names, types, defaults and help a ``parameters`` cell declares. ``None``: no such cell."""
    if source is None:
        return Declaration(found=False)
    tree, skipped = _parse_tolerant(source)
    comments = _comments(source)
    found: dict[str, Declared] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            targets, annotation, value = [node.target], ast.unparse(node.annotation), node.value
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            targets, annotation, value = [t for t in node.targets if isinstance(t, ast.Name)], None, node.value
        else:
            kind = type(node).__name__
            skipped.append(f"line {node.lineno} skipped, not a simple assignment ({kind})")
            continue
        default: Any = None
        literal = True
        if value is not None:
            try:
                default = ast.literal_eval(value)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                default, literal = ast.unparse(value), False
        type_name = annotation
        if type_name is None and literal and value is not None:
            type_name = _TYPE_NAMES.get(type(default))
        end = node.end_lineno or node.lineno
        help_text = comments.get(node.lineno) or comments.get(end) or ""
        for target in targets:
            found[target.id] = Declared(target.id, type_name, default, literal, help_text, node.lineno)
    return Declaration(found=True, parameters=tuple(found.values()), skipped=tuple(skipped))


# ---------------------------------------------------------------------------------------------------------------
# Checking values against declarations


def _strip_optional(annotation: str) -> tuple[str, bool]:
    """'Optional[int]' / 'int | None' / 'None | int' -> ('int', True)."""
    text = annotation.replace(" ", "")
    for prefix in ("Optional[", "typing.Optional["):
        if text.startswith(prefix) and text.endswith("]"):
            return text[len(prefix) : -1], True
    parts = text.split("|")
    if "None" in parts and len(parts) == 2:
        return next(p for p in parts if p != "None"), True
    return text, False


_CHECKS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
    "List": (list,),
    "typing.List": (list,),
    "dict": (dict,),
    "Dict": (dict,),
    "typing.Dict": (dict,),
}


def _fits(value: Any, type_text: str) -> bool | None:
    """True/False when the type is one nbrunner knows; None when it cannot tell (anything goes)."""
    base, optional = _strip_optional(type_text)
    if value is None:
        return optional or base in ("None", "Any", "object")
    head = base.split("[", 1)[0]
    allowed = _CHECKS.get(head)
    if allowed is None:
        return None
    if isinstance(value, bool) and bool not in allowed:
        return False  # True is an int to Python, not to a parameter declared int
    return isinstance(value, allowed)


def accepts_text(type_text: str | None) -> bool:
    """Whether a parameter declared ``type_text`` (None: untyped) takes a string."""
    return type_text is None or _fits("", type_text) is not False


def resolve(given: Mapping[str, Given], declared: Declaration, *, allow_undeclared: bool) -> dict[str, Any]:
    """Check the given values against the declaration; return the values to inject, in the given order.

    A value given with ``-p`` for a parameter declared ``str`` keeps its command-line text (``-p build=007``).
    """
    values: dict[str, Any] = {}
    for name, item in given.items():
        spec = declared.get(name)
        if spec is None:
            if declared.found and not allow_undeclared:
                names = ", ".join(declared.names()) or "none"
                raise ParameterError(
                    f"{item.source}: the notebook does not declare parameter {name!r} (declared: {names}); "
                    "fix the name, or pass --allow-undeclared"
                )
            values[name] = item.value
            continue
        if spec.type is None:
            values[name] = item.value
            continue
        value = item.value
        if isinstance(value, Secret):
            if not accepts_text(spec.type):
                raise ParameterError(f"{item.source}: parameter {name!r} is declared {spec.type}; a secret is text")
            values[name] = value
            continue
        if item.raw is not None and _strip_optional(spec.type)[0] == "str" and not isinstance(value, str):
            value = item.raw if value is not None else None
        if _fits(value, spec.type) is False:
            raise ParameterError(
                f"{item.source}: parameter {name!r} is declared {spec.type} but got "
                f"{type(value).__name__} {value!r}; pass a value of type {spec.type}"
            )
        values[name] = value
    return values


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def literal(value: Any) -> str:
    """Python source that evaluates back to ``value``: a literal, never code from the user. A secret is fetched by
    name in the kernel (``nbrunner.secret("password")``): its value is never written."""
    if isinstance(value, Secret):
        return f"nbrunner.secret({value.name!r})"
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if value is not None and type(value) not in (str, int, float, bool):  # values.plain made them so: never an
        raise ParameterError(f"refusing to inject a value of type {type(value).__name__}")  # object's own repr
    return repr(value)


def render(values: Mapping[str, Any]) -> str:
    lines = ["# Parameters injected by nbrunner"]
    if any(isinstance(value, Secret) for value in values.values()):
        lines.append("import nbrunner")
    for name, value in values.items():
        if not name.isidentifier() or keyword.iskeyword(name):  # checked on input; never write code
            raise ParameterError(f"refusing to inject parameter name {name!r}")
        lines.append(f"{name} = {literal(value)}")
    return "\n".join(lines) + "\n"
