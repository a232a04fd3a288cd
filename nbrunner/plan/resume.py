"""Resuming a failed run (``--resume RECORD``): the same notebook, the same parameters, from the failed cell.

What runs again: the cells tagged ``setup`` (imports, connections, ``spark``), the ``parameters`` and injected cells,
then the failed cell and everything after it. The cells in between are not run; they keep the outputs they had in
the resumed run's notebook (when it can be read) and are marked ``kept``. What those cells left in memory (variables,
cached DataFrames) is not restored: what a later cell needs must come from a ``setup`` cell or from storage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nbrunner.core import record_schema
from nbrunner.core.node import Notebook
from nbrunner.core.report import Reporter
from nbrunner.core.secret_values import SHOWN, SecretRef
from nbrunner.errors import NbrunnerError, UsageError
from nbrunner.notebook import document
from nbrunner.plan import inputs
from nbrunner.status import Status
from nbrunner.storage import Stores, locate
from nbrunner.values import Given

SETUP_TAG = "setup"
SKIP_TAG = "skip-execution"  # nbclient's own: the cells a resume does not run carry it during the run
KEPT = Status.KEPT


@dataclass(frozen=True)
class Resume:
    run_id: str  # the run resumed
    from_cell: str  # the id of the cell it failed in
    parameters: tuple[Given, ...]
    previous: dict[str, Any] = field(default_factory=dict)  # cell id -> the cell in the resumed run's notebook
    output: str | None = None  # where the resumed run's notebook is: a resumed run never writes over it

    def apply(self, nb: Notebook) -> list[str]:
        """Tag the cells not to run again and give them their earlier outputs; return their ids."""
        ids = [cell.get("id") for cell in nb.cells]
        if self.from_cell not in ids:
            raise UsageError(f"--resume: the failed cell {self.from_cell} is not in the notebook")
        start = ids.index(self.from_cell)
        skipped = []
        for cell in nb.cells[:start]:
            tags = document.tags(cell)
            if cell.cell_type != "code" or {SETUP_TAG, document.PARAMETERS_TAG, document.INJECTED_TAG} & set(tags):
                continue
            if SKIP_TAG in tags:
                continue  # the notebook's own: not run in any case
            cell.metadata["tags"] = [*tags, SKIP_TAG]
            old = self.previous.get(cell.get("id"))
            if old is not None:
                cell.outputs = old.get("outputs", [])
                cell.execution_count = old.get("execution_count")
            cell.metadata["nbrunner"] = {"status": KEPT, "resumed_from": self.run_id}
            skipped.append(cell.get("id"))
        return skipped

    @staticmethod
    def untag(nb: Notebook, skipped: list[str]) -> None:
        for cell in nb.cells:
            if cell.get("id") in skipped:
                cell.metadata["tags"] = [tag for tag in document.tags(cell) if tag != SKIP_TAG]
                if not cell.metadata["tags"]:
                    del cell.metadata["tags"]


def load(where: str, *, sha256: str, stores: Stores, reporter: Reporter) -> Resume:
    """The resume point of a run record (local or in a store); UsageError (exit 2) when it cannot be resumed."""
    ref = locate(where, what="--resume record")
    try:
        record = record_schema.parse(inputs.read_text(ref, what="--resume record", stores=stores))
    except record_schema.BadRecord as e:
        raise UsageError(f"--resume {where}: not an nbrunner run record (.run.json): {e}") from e
    if record["kind"] != record_schema.RUN or not isinstance(record.get("input_sha256"), str):
        raise UsageError(f"--resume {where}: not the record of a run (kind {record['kind']!r}); give a .run.json")
    run_id, input_sha, status = record["run_id"], record["input_sha256"], record["status"]
    if status in (Status.SUCCEEDED, Status.PREPARED):
        raise UsageError(f"--resume {where}: run {run_id} {status}; there is nothing to resume")
    if input_sha != sha256:
        raise UsageError(
            f"--resume {where}: the notebook changed since run {run_id} (its sha256 differs); "
            "resume only the same notebook, or run it afresh"
        )
    failed = record.get("failed_cell") or {}
    if not isinstance(failed.get("id"), str):
        raise UsageError(f"--resume {where}: run {run_id} did not stop in a cell; run it afresh")
    parameters = [
        Given(name, value, None, "--resume")
        for name, value in (record.get("parameters") or {}).items()
        if value != SHOWN
    ]
    for name, ref_text in (record.get("secrets") or {}).items():
        parameters.append(Given(name, SecretRef(ref_text, name), None, "--resume"))  # re-resolved, never stored
    output = record.get("output") if isinstance(record.get("output"), str) else None
    return Resume(run_id, failed["id"], tuple(parameters), previous_cells(record, stores, reporter), output)


def previous_cells(record: dict[str, Any], stores: Stores, reporter: Reporter) -> dict[str, Any]:
    """The resumed run's cells by id, from its notebook; without it the kept cells show no outputs."""
    try:
        where = locate(str(record["output"]), what="resumed notebook")
        old = json.loads(inputs.read_text(where, what="resumed notebook", stores=stores))
        return {cell["id"]: cell for cell in old.get("cells", []) if isinstance(cell, dict) and "id" in cell}
    except (NbrunnerError, ValueError, KeyError, TypeError, RecursionError) as e:
        reporter.warning(f"--resume: cannot read the resumed run's notebook ({e}); kept cells show no outputs")
        return {}
