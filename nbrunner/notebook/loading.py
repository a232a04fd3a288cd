"""Importing nbconvert, which a run needs for its ExecutePreprocessor and HTMLExporter, without what no run uses.

nbconvert's package imports every exporter, filter and post-processor it has. One of them loads soupsieve (through
BeautifulSoup), whose CSS-selector parser compiles its regular expressions on import: about 0.03 CPU-s in every run,
for selectors nbrunner never uses (its HTML is not parsed back, :func:`nbrunner.notebook.render.accessible`).
soupsieve is imported here with :class:`importlib.util.LazyLoader`: the module is there, and loads on first use.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Sequence
from types import ModuleType

#: modules nbconvert imports that a run does not use; each loads on its first use instead
DEFERRED = frozenset({"soupsieve"})

_lock = threading.Lock()


class _Deferring(importlib.abc.MetaPathFinder):
    """Finds the modules in :data:`DEFERRED` as the rest of ``sys.meta_path`` does, with their loading deferred."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in DEFERRED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = importlib.util.LazyLoader(spec.loader)
                return spec
        return None


def load_nbconvert() -> None:
    """Import nbconvert (once; later calls return at once), its exporters and preprocessors with it.

    On the calling thread, under a lock: importing nbconvert on two threads at once can fail inside importlib
    (``KeyError: 'nbconvert'``)."""
    if "nbconvert.preprocessors" in sys.modules and "nbconvert.exporters" in sys.modules:
        return
    with _lock:
        finder = _Deferring()
        sys.meta_path.insert(0, finder)
        try:
            import nbconvert.exporters  # noqa: F401
            import nbconvert.preprocessors  # noqa: F401
        finally:
            sys.meta_path.remove(finder)
