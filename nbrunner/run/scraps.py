"""What a notebook tells the scheduler: ``nbrunner.output()`` values and scrapbook's ``glue`` scraps, and a skip
request, collected from the cells' outputs as they come (an engine hook), then size-capped for the record.

Also the run's context: the variables the kernel gets (``NBRUNNER_RUN_ID`` ...) and the scheduler identifiers the
record keeps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nbrunner.core.hooks import CellHooks
from nbrunner.core.node import Notebook
from nbrunner.inside import OUTPUT_MIME, SCRAP_JSON_MIME, SCRAP_TEXT_MIME, SKIP_MIME

#: the scraps nbrunner.output() writes, and scrapbook.glue of a JSON value or text
SCRAPBOOK_MIMES = (SCRAP_JSON_MIME, SCRAP_TEXT_MIME)
#: at most this many bytes of outputs (as JSON) in the record, as Databricks caps task values
MAX_OUTPUTS = 48 * 1024
#: the scheduler identifiers a record keeps: Airflow's task context, Azkaban's job, and NBRUNNER_CONTEXT_* which any
#: scheduler can set (DolphinScheduler: export NBRUNNER_CONTEXT_TASK=${system.task.instance.id})
CONTEXT_PREFIXES = ("AIRFLOW_CTX_", "NBRUNNER_CONTEXT_")
CONTEXT_NAMES = ("JOB_NAME", "JOB_ID", "JOB_PROP_FILE", "JOB_OUTPUT_PROP_FILE")


class Scraps(CellHooks):
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.skip_reason: str | None = None
        self.skip_cell: int | None = None

    def cell_output(self, index: int, msg: dict[str, Any]) -> None:
        if msg.get("msg_type") not in ("display_data", "execute_result", "update_display_data"):
            return
        data = msg.get("content", {}).get("data", {})
        found = data.get(OUTPUT_MIME)
        if isinstance(found, dict) and isinstance(found.get("name"), str):
            self.values[found["name"]] = found.get("value")
        for mime in SCRAPBOOK_MIMES:
            scrap = data.get(mime)
            if isinstance(scrap, dict) and isinstance(scrap.get("name"), str):
                self.values[scrap["name"]] = scrap.get("data")
        skip = data.get(SKIP_MIME)
        if isinstance(skip, dict):
            self.skip_reason, self.skip_cell = str(skip.get("reason", "")), index

    def keep(self, nb: Notebook, ids: list[str]) -> None:
        """The outputs (``nbrunner.output``, glue) that the cells a resumed run keeps had stated, in order; a cell
        that runs again states its own afresh."""
        for index, cell in enumerate(nb.cells):
            if cell.get("id") not in ids:
                continue
            for output in cell.get("outputs", []):
                if output.get("output_type") in ("display_data", "execute_result"):
                    data = {mime: value for mime, value in output.get("data", {}).items() if mime != SKIP_MIME}
                    self.cell_output(index, {"msg_type": output["output_type"], "content": {"data": data}})

    def capped(self) -> tuple[dict[str, Any], list[str]]:
        """The outputs that fit in :data:`MAX_OUTPUTS` bytes of JSON, in the order given, and the names of those that
        did not: only what does not fit is dropped, every later output that fits is kept."""
        kept: dict[str, Any] = {}
        dropped: list[str] = []
        size = 2
        for name, value in self.values.items():
            cost = len(json.dumps({name: value}, ensure_ascii=False).encode("utf-8"))
            if size + cost > MAX_OUTPUTS:
                dropped.append(name)
                continue
            kept[name] = value
            size += cost
        return kept, dropped


def scheduler_context(environ: Mapping[str, str]) -> dict[str, str]:
    return {
        name: value
        for name, value in sorted(environ.items())
        if name.startswith(CONTEXT_PREFIXES) or name in CONTEXT_NAMES
    }
