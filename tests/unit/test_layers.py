"""The package's layers, kept by a test (pip-tools' tests/test_circular_imports.py idea): every runtime import between
two units (a folder, or a module at the top) goes down or sideways, never up, and no two units import each other.

Layers, bottom first (CONTRIBUTING.md and docs/layout.md say the same):

0. core: the shared vocabulary (``core/`` and the top-level modules it needs: status, errors, values, params,
   config, inside); imports nothing else of nbrunner
1. notebook, storage: the document and its rendering; the stores, keyed by URI scheme
2. engines: what runs the cells' work (``engines/``, and ``gateway.py``: the driver JVM through py4j)
3. plan: everything checked before a kernel starts
4. run, view: a run (or many) start to end; the morning view
5. the application: cli, api, airflow, options, __main__, and ``launcher/`` (spark-submit's way in)

Every import counts, at module level or inside a function, except those under ``if TYPE_CHECKING:``; the package's
root (``nbrunner/__init__.py``) imports nothing eagerly and is nobody's dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "nbrunner"

LAYERS: dict[str, int] = {
    "core": 0, "status.py": 0, "errors.py": 0, "values.py": 0, "params.py": 0,
    "config.py": 0, "inside.py": 0, "magics": 0,
    "notebook": 1, "storage": 1,
    "engines": 2, "gateway.py": 2, "launcher": 5,
    "plan": 3,
    "run": 4, "view": 4,
    "cli.py": 5, "api.py": 5, "airflow.py": 5, "airflow_provider.py": 5, "options.py": 5, "__main__.py": 5,
}  # fmt: skip


def unit_of(module: str) -> str | None:
    """``nbrunner.run.pipeline`` -> ``run``; ``nbrunner.cli`` -> ``cli.py``; the package's root -> None."""
    parts = module.split(".")
    if parts[0] != "nbrunner" or len(parts) == 1:
        return None
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return f"{parts[1]}.py"


def runtime_imports(path: Path) -> set[str]:
    """The nbrunner modules ``path`` imports when it runs (``from nbrunner import x``: the module x, if one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for inner in node.body for child in ast.walk(inner))
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("nbrunner."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "nbrunner":
                found.update(f"nbrunner.{alias.name}" for alias in node.names
                             if (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").exists())  # fmt: skip
            elif node.module.startswith("nbrunner."):
                found.add(node.module)
    return found


def module_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts[:-1] if relative.name == "__init__" else relative.parts)


def edges() -> dict[tuple[str, str], list[str]]:
    """(importer unit, imported unit) -> the importing modules."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_of(path)
        source = unit_of(module)
        if source is None:
            continue
        for imported in runtime_imports(path):
            target = unit_of(imported)
            if target is not None and target != source:
                found[(source, target)].append(module)
    return found


def test_every_unit_has_a_layer() -> None:
    units = {unit_of(module_of(path)) for path in PACKAGE.rglob("*.py")}
    assert units - {None} - set(LAYERS) == set(), "a new folder or top-level module: give it a layer in LAYERS"


def test_no_unit_imports_a_higher_layer() -> None:
    upward = [f"{source} -> {target} ({', '.join(modules)})" for (source, target), modules in edges().items()
              if LAYERS.get(target, 9) > LAYERS.get(source, 9)]  # fmt: skip
    assert upward == []


def test_no_circle_between_units() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in edges():
        graph[source].add(target)
    circles = []
    for start in list(graph):
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    circles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert circles == []


def test_the_core_layer_imports_nothing_above_it() -> None:
    core = {unit for unit, layer in LAYERS.items() if layer == 0}
    outside = [f"{s} -> {t}" for (s, t) in edges() if s in core and t not in core]
    assert outside == []
