"""The notebook and its cells as signatures name them: nbformat's ``NotebookNode``, which has no types of its own.

A NotebookNode is a dict with attribute access: ``nb.cells``, ``nb.metadata``, ``cell.source``, ``cell.outputs``.
"""

from __future__ import annotations

from typing import Any, TypeAlias

#: a whole notebook (nbformat 4): ``cells``, ``metadata``, ``nbformat``, ``nbformat_minor``
Notebook: TypeAlias = Any
#: one cell of it: ``cell_type``, ``source``, ``metadata``, and for code cells ``outputs`` and ``execution_count``
Cell: TypeAlias = Any
