"""Parameter values as given: from ``-p``/``-r``, parameters files (YAML or JSON) and the Python API.

Typed with the YAML 1.2 core schema, bounded (a hostile file fails fast with exit 3, never hangs or crashes), and
checked to be literals with valid Unicode text; each value remembers where it came from for error messages.
"""

from __future__ import annotations

import keyword
import math
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbrunner.errors import ParameterError

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
    name = unicodedata.normalize("NFKC", name)  # as Python reads identifiers: "ｄate" is "date"
    if not sep:
        if option == "--secret":  # it may be the value itself: never repeat it
            raise ParameterError("--secret: expected NAME=env:VARIABLE or NAME=file:/path (the text is not shown)")
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


def plain(value: Any, *, name: str, source: str, depth: int = 0, budget: list[int] | None = None) -> Any:
    """The plain Python value a value stands for (the Python API takes what real code has): numpy scalars and 0-d
    arrays as their ``.item()``, ``str``/``int``/``float`` subclasses (an ``IntEnum``, ``numpy.str_``, a ``str``
    subclass with its own ``__repr__``) as the base value, tuples as lists; only these plain values are ever
    rendered, so no object's own ``repr`` reaches the kernel. Anything else is a ParameterError (exit 3) naming
    its type, before any kernel starts."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1  # a YAML file's aliases can expand to billions of items: stop at the bound, as check_value does
    if budget[0] < 0:
        raise ParameterError(f"{source}: parameter {name!r} has more than {MAX_ITEMS:,} items (aliases expanded); "
                             "shrink it")  # fmt: skip
    if depth > MAX_DEPTH:
        raise ParameterError(f"{source}: parameter {name!r} is nested more than {MAX_DEPTH} levels deep; flatten it")
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    kind = type(value)
    if kind.__module__ == "numpy" and getattr(value, "shape", None) == () and hasattr(value, "item"):
        return plain(value.item(), name=name, source=source, depth=depth + 1, budget=budget)
    if isinstance(value, list | tuple):
        return [plain(item, name=name, source=source, depth=depth + 1, budget=budget) for item in value]
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            key = plain(key, name=name, source=source, depth=depth + 1, budget=budget)
            if not isinstance(key, str):
                raise ParameterError(f"{source}: parameter {name!r} has a mapping key of type "
                                     f"{type(key).__name__}; keys must be strings")  # fmt: skip
            out[key] = plain(item, name=name, source=source, depth=depth + 1, budget=budget)
        return out
    raise ParameterError(
        f"{source}: parameter {name!r} is a {kind.__module__}.{kind.__qualname__}, which cannot be written as a "
        "Python literal; pass a string, number, boolean, None, list or dict of them"
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
    raw: str | None  # the command-line text, for ``-p``; None for ``-r``, files, secrets and the Python API
    source: str


def from_mapping(data: Any, *, source: str) -> list[Given]:
    """The values of a parameters file, or of the Python API's ``parameters`` mapping, as given."""
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise ParameterError(f"{source}: expected a mapping of parameter names to values, got {type(data).__name__}")
    from nbrunner.core.secret_values import reference_in

    given = []
    for name, value in data.items():
        if not isinstance(name, str):
            raise ParameterError(f"{source}: parameter name {name!r} is not a string")
        name = unicodedata.normalize("NFKC", name)
        check_name(name, source=source)
        ref = reference_in(value, name=name)
        if ref is None:
            value = plain(value, name=name, source=source)
            check_value(value, name=name, source=source)
        given.append(Given(name, value if ref is None else ref, None, source))
    return given


def secret_from_text(text: str) -> Given:
    """One ``--secret NAME=env:VAR`` or ``--secret NAME=file:/path``: a reference, resolved before the run."""
    from nbrunner.core.secret_values import SecretRef

    name, ref = split_assignment(text, "--secret")
    source = f"--secret {name}"
    check_name(name, source=source)
    return Given(name, SecretRef(ref, name), None, source)


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


def merge(*groups: Sequence[Given]) -> dict[str, Given]:
    """Later values win: pass the files first, then the command line."""
    merged: dict[str, Given] = {}
    for group in groups:
        for item in group:
            merged[item.name] = item
    return merged
