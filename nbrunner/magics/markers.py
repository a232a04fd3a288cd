"""SQL cells read without running them: the ``:name`` markers of a query, its statements, a ``%%sql`` line's options,
and the plan's check that every marker of a notebook's SQL cells has a value (pure functions; core imports only).

A marker is ``:`` and a name outside string literals (``'...'``, ``"..."``, with backslash escapes unless raw),
quoted identifiers (`` `...` ``) and comments (``-- ...`` to the end of the line, ``/* ... */``, nested as Spark nests
them); ``::`` is Spark's cast, never a marker. Statements are split at ``;`` outside the same.
"""

from __future__ import annotations

import ast
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbrunner.errors import ParameterError

#: the variable a ``%%sql`` cell without VAR keeps its DataFrame in
DEFAULT_VARIABLE = "_sqldf"


def _tokens(sql: str) -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) of each marker (``marker``: the name's span) and each ``;`` (``end``) outside quotes and
    comments; what lies in quotes and comments yields nothing."""
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            raw = c != "`" and i > 0 and sql[i - 1] in "rR" and not (i > 1 and (sql[i - 2].isalnum() or
                                                                         sql[i - 2] == "_"))  # fmt: skip
            i += 1
            while i < n and sql[i] != c:
                i += 2 if sql[i] == "\\" and c != "`" and not raw else 1
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            i = _comment_end(sql, i)
        elif c == ":":
            if sql.startswith("::", i):
                i += 2
                continue
            start = i + 1
            if start < n and (sql[start].isalpha() or sql[start] == "_"):
                end = start
                while end < n and (sql[end].isalnum() or sql[end] == "_"):
                    end += 1
                yield "marker", start, end
                i = end
            else:
                i += 1
        elif c == ";":
            yield "end", i, i + 1
            i += 1
        else:
            i += 1


def _comment_end(sql: str, i: int) -> int:
    """Where the bracketed comment that opens at ``i`` ends (comments nest, as in Spark); the end if never."""
    depth, i = 1, i + 2
    while i < len(sql) and depth:
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def markers(sql: str) -> list[str]:
    """The names of the ``:name`` markers in ``sql``, each once, in order of first use."""
    return list(dict.fromkeys(sql[start:end] for kind, start, end in _tokens(sql) if kind == "marker"))


def statements(sql: str) -> list[str]:
    """``sql`` split at each ``;`` outside quotes and comments; a statement of only space and comments is dropped."""
    found, start = [], 0
    for kind, at, _ in _tokens(sql):
        if kind == "end":
            found.append(sql[start:at])
            start = at + 1
    found.append(sql[start:])
    return [text.strip() for text in found if _has_code(text)]


def _has_code(text: str) -> bool:
    """Whether ``text`` holds more than space and comments (a string literal counts as code)."""
    i, n = 0, len(text)
    while i < n:
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            i = _comment_end(text, i)
        elif text[i].isspace():
            i += 1
        else:
            return True
    return False


@dataclass(frozen=True)
class SqlOptions:
    """``%%sql [VAR] [--preview N] [--cache] [--quiet]``."""

    variable: str = DEFAULT_VARIABLE
    preview: int | None = None
    cache: bool = False
    quiet: bool = False


def sql_options(line: str) -> SqlOptions:
    """The options of a ``%%sql`` line (what follows ``%%sql``); ValueError says what is wrong, in one line."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise ValueError(f"%%sql {line.strip()}: {e}") from None
    variable, preview, cache, quiet = None, None, False, False
    while words:
        word = words.pop(0)
        if word == "--preview" or word.startswith("--preview="):
            text = word.partition("=")[2] if "=" in word else (words.pop(0) if words else "")
            if not text.isdigit():
                raise ValueError(f"%%sql --preview N: N must be a number of rows, not {text!r}")
            preview = int(text)
        elif word == "--cache":
            cache = True
        elif word == "--quiet":
            quiet = True
        elif word.startswith("-"):
            raise ValueError(f"%%sql: unknown option {word} (use [VAR] [--preview N] [--cache] [--quiet])")
        elif variable is not None:
            raise ValueError(f"%%sql: one variable only ({variable}, then {word})")
        elif not word.isidentifier():
            raise ValueError(f"%%sql {word}: VAR must be a Python name")
        else:
            variable = word
    return SqlOptions(variable or DEFAULT_VARIABLE, preview, cache, quiet)


def cell_magic(source: str) -> tuple[str, str, str] | None:
    """(name, line, body) of a cell that starts with a cell magic (``%%name line``), else None."""
    text = source.lstrip("\n\r \t")
    if not text.startswith("%%"):
        return None
    first, _, body = text.partition("\n")
    name, _, line = first[2:].partition(" ")
    return name.strip(), line.strip(), body


# -- what earlier cells assign, as far as it can be read ----------------------------------------------------------

#: cell magics whose body is Python run in the notebook's namespace, and those that assign nothing there
_PYTHON_BODY = frozenset({"time", "timeit", "capture", "prun"})
_NO_NAMES = frozenset({"bash", "sh", "html", "javascript", "js", "markdown", "latex", "svg", "writefile", "script",
                       "perl", "ruby", "spark"})  # fmt: skip
#: line magics and calls that put names in the notebook's namespace out of sight
_HIDDEN_LINE_MAGICS = frozenset({"run", "store", "load", "macro", "recall", "rerun"})
_HIDDEN_CALLS = frozenset({"exec", "globals", "locals", "vars", "setattr"})


def assigned(source: str) -> tuple[set[str], str | None]:
    """The names a code cell can bind in the notebook's namespace (every name it assigns anywhere: more, never
    fewer), and, when the cell can bind names that cannot be read from its code, why (else None)."""
    magic = cell_magic(source)
    if magic is not None:
        name, line, body = magic
        if name == "sql":
            try:
                return {sql_options(line).variable}, None
            except ValueError:
                return set(), None
        if name in _NO_NAMES:
            return ({"spark", "sc"} if name == "spark" else set()), None
        if name not in _PYTHON_BODY:
            return set(), f"%%{name}"
        inner, why = assigned(body)
        words = line.split()
        if name == "capture" and words and not words[-1].startswith("-"):
            inner.add(words[-1])
        return inner, why
    tree = _parse(source)
    if tree is None:
        return set(), "does not parse"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            found.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return found, f"from {getattr(node, 'module', '')} import *"
                found.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            found.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            found.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            found.add(node.rest)
        elif isinstance(node, ast.Call):
            why = _hidden_call(node)
            if why is not None:
                return found, why
    return found, None


def _hidden_call(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name) and func.id in _HIDDEN_CALLS:
        return f"{func.id}()"
    if isinstance(func, ast.Attribute) and func.attr == "run_line_magic" and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and first.value in _HIDDEN_LINE_MAGICS:
            return f"%{first.value}"
    if isinstance(func, ast.Attribute) and func.attr in ("push", "run_cell"):
        return f".{func.attr}()"
    return None


def _parse(source: str) -> ast.Module | None:
    """The cell's code as Python, or as IPython reads it (magics, ``!cmd``); None if neither parses."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager  # only for a cell plain Python refuses

        return ast.parse(TransformerManager().transform_cell(source))
    except (ImportError, SyntaxError, ValueError, RecursionError):
        return None


# -- the notebook's SQL cells, for inspect and the plan ------------------------------------------------------------


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _tags(cell: Mapping[str, Any]) -> list[str]:
    metadata = cell.get("metadata")
    found = metadata.get("tags", []) if isinstance(metadata, Mapping) else []
    return [tag for tag in found if isinstance(tag, str)] if isinstance(found, list) else []


def _runs(cell: Any) -> bool:
    return isinstance(cell, Mapping) and cell.get("cell_type") == "code" and "skip-execution" not in _tags(cell)


def sql_cells(cells: Sequence[Any]) -> list[dict[str, Any]]:
    """Each ``%%sql`` cell that runs: ``{"cell": index, "variable": VAR, "markers": [...]}`` (and ``"error"`` for
    a line whose options are wrong)."""
    found = []
    for index, cell in enumerate(cells):
        magic = cell_magic(_source(cell)) if _runs(cell) else None
        if magic is None or magic[0] != "sql":
            continue
        entry: dict[str, Any] = {"cell": index, "variable": DEFAULT_VARIABLE, "markers": markers(magic[2])}
        try:
            entry["variable"] = sql_options(magic[1]).variable
        except ValueError as e:
            entry["error"] = str(e)
        found.append(entry)
    return found


def check(cells: Sequence[Any], injected: Iterable[str]) -> list[str]:
    """Before a run: every marker of every ``%%sql`` cell must have a value, from an injected parameter or a name
    that the parameters cell or an earlier cell assigns. A marker that none can provide is a ParameterError
    (exit 3) naming it, when every earlier cell can be read; a warning (returned) when one cannot (``%run``,
    ``from m import *``, ``exec``, another cell magic ...), as it may bind the name out of sight."""
    injected = set(injected)
    has_parameters = any(_runs(cell) and "parameters" in _tags(cell) for cell in cells)
    names: set[str] = set() if has_parameters else set(injected)
    hidden: list[str] = []
    missing: list[str] = []
    warnings: list[str] = []
    for index, cell in enumerate(cells):
        if not _runs(cell):
            continue
        source = _source(cell)
        magic = cell_magic(source)
        if magic is not None and magic[0] == "sql":
            try:
                variable = sql_options(magic[1]).variable
            except ValueError as e:
                warnings.append(f"cell {index}: {e}; the cell will fail")
                continue
            absent = [name for name in markers(magic[2]) if name not in names]
            if absent:
                said = ", ".join(f":{name}" for name in absent)
                if hidden:
                    warnings.append(f"cell {index} (%%sql): no parameter or earlier cell visibly assigns {said} "
                                    f"({', '.join(hidden)} may); the cell fails if it has no value")  # fmt: skip
                else:
                    missing.append(f"cell {index} uses {said}")
            names.add(variable)
            continue
        found, why = assigned(source)
        names |= found
        if why is not None:
            hidden.append(f"cell {index}: {why}")
        if "parameters" in _tags(cell):
            names |= injected
    if missing:
        raise ParameterError(
            f"SQL markers with no value: {'; '.join(missing)}: no parameter and no earlier cell assigns them; pass "
            "-p NAME=VALUE or assign them in the parameters cell"
        )
    return warnings
