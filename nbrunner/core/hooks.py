"""What watches a run cell by cell (progress lines, outputs, checkpoints, an engine's job labels): a :class:`CellHooks`,
called the way nbclient calls its ``on_cell_*`` hooks."""

from __future__ import annotations

from typing import Any

from nbrunner.core.node import Cell


class CellHooks:
    """Called by the engine from the thread that runs the notebook; every method does nothing by default."""

    def cell_started(self, index: int, cell: Cell) -> None:
        """``cell`` (notebook index ``index``) is about to run."""

    def cell_output(self, index: int, msg: dict[str, Any]) -> None:
        """An output message of the running cell arrived (already added to the cell)."""

    def cell_finished(self, index: int, cell: Cell, status: str, seconds: float) -> None:
        """The cell is done: ``status`` is ok, failed or exited."""
