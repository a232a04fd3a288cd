"""Parameters: read them from the command line and files, read what a notebook declares, check, and render.

papermill-compatible: the cell tagged ``parameters`` declares names and defaults; values are injected as a new cell
tagged ``injected-parameters`` (see :mod:`nbrunner.notebook`). Unlike papermill, names are checked to be identifiers,
values are rendered as Python literals (never as code) and checked against the declared types before a kernel starts.
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import sys
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nbrunner.errors import ParameterError


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
# Values from the command line and from files

#: Bounds on a parameter value (a hostile YAML file must fail fast, not spin or crash): nesting depth, and items
#: in all (a "billion laughs" document expands a few aliases into billions of items).
MAX_DEPTH = 100
MAX_ITEMS = 100_000

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution): only true/false are booleans, no
# sexagesimal numbers (12:30 stays a string), no yes/no/on/off; JSON's NaN and Infinity are floats as .nan/.inf are
_CORE = {
    "tag:yaml.org,2002:null": r"^(?:~|null|Null|NULL|)$",
    "tag:yaml.org,2002:bool": r"^(?:true|True|TRUE|false|False|FALSE)$",
    "tag:yaml.org,2002:int": r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
    "tag:yaml.org,2002:float": (
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|[-+]?Infinity|\.nan|\.NaN|\.NAN|NaN)$"
    ),
}


def _yaml_loader() -> type:
    """A safe YAML loader with the YAML 1.2 core schema: dates and times stay strings (2026-11-20)."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {}
    for tag, pattern in _CORE.items():
        first = list("-+0123456789.~nNtTfFiI") if tag != "tag:yaml.org,2002:null" else [*"~nN", ""]
        Loader.add_implicit_resolver(tag, re.compile(pattern), first)

    def core_int(loader: Any, node: Any) -> int:
        text = str(loader.construct_scalar(node))
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)

    def core_float(loader: Any, node: Any) -> float:
        text = str(loader.construct_scalar(node)).lower().replace("infinity", "inf")
        if text.lstrip("+-").startswith(".inf") or text.lstrip("+-") == "inf":
            return -math.inf if text.startswith("-") else math.inf
        return math.nan if text in (".nan", "nan") else float(text)

    def core_bool(loader: Any, node: Any) -> bool:
        return str(loader.construct_scalar(node)).lower() == "true"

    Loader.add_constructor("tag:yaml.org,2002:int", core_int)
    Loader.add_constructor("tag:yaml.org,2002:float", core_float)
    Loader.add_constructor("tag:yaml.org,2002:bool", core_bool)
    return Loader


def parse_yaml(text: str, *, source: str) -> Any:
    """YAML (or JSON, a subset of it) with the core schema; bounded: one-line ParameterError, never a hang."""
    import yaml

    try:
        value = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ParameterError(f"{source}: not valid YAML or JSON{where}: {getattr(e, 'problem', e)}") from e
    except RecursionError as e:
        raise ParameterError(f"{source}: nested more than {MAX_DEPTH} levels deep; flatten the value") from e
    except ValueError as e:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        limit = sys.get_int_max_str_digits()
        raise ParameterError(f"{source}: a number has more than {limit} digits; quote it to pass it as text") from e
    check_value(value, name=None, source=source)
    return value


def split_assignment(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep:
        raise ParameterError(f"{option} {text!r}: expected NAME=VALUE, for example {option} date=2026-11-20")
    return name.strip(), value


def typed_value(raw: str, *, source: str) -> Any:
    """A ``-p`` value typed like a YAML 1.2 scalar: 3 -> 3, 0.5 -> 0.5, true -> True, null -> None, else the string.

    An empty value is the empty string. Flow collections (``[1, 2]``, ``{a: 1}``) give lists and dicts.
    """
    if raw.strip() == "":
        return raw
    return parse_yaml(raw, source=source)


def check_name(name: str, *, source: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ParameterError(
            f"{source}: parameter name {name!r} is not a Python identifier; "
            "use letters, digits and underscores, not starting with a digit, and not a keyword"
        )


def check_value(value: Any, *, name: str | None, source: str) -> None:
    """Only values that render to a Python literal are accepted (what YAML and JSON give), within the bounds,
    with text that can be written as UTF-8 (no lone surrogates, as a non-UTF-8 command line gives)."""
    what = f"parameter {name!r}" if name else "the value"
    stack: list[tuple[Any, int]] = [(value, 0)]
    items = 0
    while stack:
        item, depth = stack.pop()
        items += 1
        if items > MAX_ITEMS:
            raise ParameterError(f"{source}: {what} has more than {MAX_ITEMS:,} items (aliases expanded); shrink it")
        if depth > MAX_DEPTH:
            raise ParameterError(f"{source}: {what} is nested more than {MAX_DEPTH} levels deep; flatten it")
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ParameterError(
                    f"{source}: {what} has text that is not valid Unicode ({e.reason}); "
                    "pass UTF-8 text (check the shell's locale)"
                ) from e
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.extend(((key, depth + 1), (child, depth + 1)))
        elif not (item is None or isinstance(item, bool | int | float)):
            raise ParameterError(
                f"{source}: {what} has a value of type {type(item).__name__}, which cannot be written as a "
                "Python literal; use a string, number, boolean, null, list or mapping"
            )


@dataclass(frozen=True)
class Given:
    """One parameter value as the user gave it."""

    name: str
    value: Any
    raw: str | None  # the command-line text, for ``-p``; None for ``-r``, files and the Python API
    source: str


def from_mapping(data: Any, *, source: str) -> list[Given]:
    """The values of a parameters file, or of the Python API's ``parameters`` mapping, as given."""
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise ParameterError(f"{source}: expected a mapping of parameter names to values, got {type(data).__name__}")
    given = []
    for name, value in data.items():
        if not isinstance(name, str):
            raise ParameterError(f"{source}: parameter name {name!r} is not a string")
        check_name(name, source=source)
        check_value(value, name=name, source=source)
        given.append(Given(name, value, None, source))
    return given


def from_text(option: str, text: str) -> Given:
    """One ``-p NAME=VALUE`` (typed) or ``-r NAME=VALUE`` (kept as text) from the command line."""
    name, raw = split_assignment(text, option)
    source = f"{option} {name}"
    check_name(name, source=source)
    if option == "-r":
        check_value(raw, name=name, source=source)
        return Given(name, raw, None, source)
    value = typed_value(raw, source=source)
    check_value(value, name=name, source=source)
    return Given(name, value, raw, source)


def from_command_line(items: Iterable[tuple[str, str]]) -> list[Given]:
    """``items`` are ("-p" | "-r", "NAME=VALUE") pairs in command-line order."""
    return [from_text(option, text) for option, text in items]


def merge(*groups: Sequence[Given]) -> dict[str, Given]:
    """Later values win: pass the files first, then the command line."""
    merged: dict[str, Given] = {}
    for group in groups:
        for item in group:
            merged[item.name] = item
    return merged


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
    """Python source that evaluates back to ``value``: a literal, never code from the user."""
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def render(values: Mapping[str, Any]) -> str:
    lines = ["# Parameters injected by nbrunner"]
    for name, value in values.items():
        if not name.isidentifier() or keyword.iskeyword(name):  # checked on input; never write code
            raise ParameterError(f"refusing to inject parameter name {name!r}")
        lines.append(f"{name} = {literal(value)}")
    return "\n".join(lines) + "\n"
