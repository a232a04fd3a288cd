"""The notebook document: read it, inject parameters, mark the outcome, write it atomically."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from nbrunner.core.files import write_atomic
from nbrunner.core.node import Cell, Notebook
from nbrunner.errors import UsageError
from nbrunner.status import Status

if TYPE_CHECKING:
    from nbrunner.params import Declaration

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
BANNER_TAG = "nbrunner-error-banner"
PAPERMILL_BANNER_TAG = "papermill-error-cell-tag"  # papermill's red "An Exception was encountered" cells
AS_VERSION = 4


def reads(data: bytes, *, source: str) -> Any:
    """The NotebookNode of bytes that :func:`parse_json` has already accepted; nbformat's own checks on top."""
    import nbformat

    try:
        nb = nbformat.reads(data.decode("utf-8"), as_version=AS_VERSION)
    except Exception as e:  # nbformat raises a variety of errors for malformed documents
        raise UsageError(f"{source}: not a valid notebook: {str(e).splitlines()[0]}") from e
    return nb


def parse_json(text: str, *, source: str) -> dict[str, Any]:
    """The raw JSON of an ``.ipynb`` file, checked just enough to read its parameters cell (no nbformat import)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{source}: not a notebook, invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from e
    except RecursionError as e:
        raise UsageError(f"{source}: not a notebook, its JSON is nested too deeply") from e
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise UsageError(f"{source}: not a notebook, the JSON has no 'cells'; pass an .ipynb file (nbformat 4)")
    if "\\u" in text:  # escapes can spell lone surrogates, which no file can hold: refuse them before running
        try:
            json.dumps(raw, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise UsageError(
                f"{source}: the notebook holds text that is not valid Unicode ({e.reason}: a lone surrogate "
                "escape such as \\ud800); fix the cell"
            ) from e
    return raw


def tags(cell: Cell) -> list[str]:
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    found = metadata.get("tags", []) if isinstance(metadata, dict) else []
    return [tag for tag in found if isinstance(tag, str)] if isinstance(found, list) else []


def parameters_cells(cells: list[Any]) -> tuple[int | None, list[str]]:
    """The index of the first code cell tagged ``parameters``, and warnings about the tag's other uses."""
    tagged = [(i, cell) for i, cell in enumerate(cells) if isinstance(cell, dict) and PARAMETERS_TAG in tags(cell)]
    code = [i for i, cell in tagged if cell.get("cell_type") == "code"]
    warnings = [
        f"cell {i} is tagged 'parameters' but is a {cell.get('cell_type')} cell; the tag is ignored there"
        for i, cell in tagged
        if cell.get("cell_type") != "code"
    ]
    if len(code) > 1:
        others = ", ".join(str(i) for i in code[1:])
        warnings.append(f"{len(code)} cells are tagged 'parameters'; cell {code[0]} declares them (not {others})")
    return (code[0] if code else None), warnings


def declared_parameters(raw: dict[str, Any]) -> tuple[Declaration, list[str]]:
    """What the raw notebook's ``parameters`` cell declares, and warnings: the tag's misuses, unreadable lines."""
    from nbrunner.params import declaration

    index, warnings = parameters_cells(raw["cells"])
    declared = declaration(None if index is None else source_of(raw["cells"][index]))
    return declared, [*warnings, *(f"parameters cell: {message}" for message in declared.skipped)]


def raw_metadata(raw: dict[str, Any]) -> dict[str, Any]:
    metadata = raw.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def source_of(cell: Cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def parameters_cell_index(nb: Notebook) -> int | None:
    return parameters_cells(nb.cells)[0]


def runs(cell: Cell) -> bool:
    """Whether nbclient will execute ``cell``: code, not empty, not tagged skip-execution."""
    return bool(cell.cell_type == "code" and cell.source.strip() and "skip-execution" not in tags(cell))


def inject(nb: Notebook, source: str) -> int:
    """Put ``source`` in a code cell tagged ``injected-parameters``; return its index.

    The cell goes right after the first ``parameters`` cell, or at the top when there is none. An injected cell left
    by an earlier run is removed first, so running an output notebook again does not stack them.
    """
    import nbformat

    nb.cells = [cell for cell in nb.cells if INJECTED_TAG not in tags(cell)]
    cell = nbformat.v4.new_code_cell(source=source, metadata={"tags": [INJECTED_TAG]})
    anchor = parameters_cell_index(nb)
    index = 0 if anchor is None else anchor + 1
    nb.cells.insert(index, cell)
    return index


def prepare(nb: Notebook) -> None:
    """Make ``nb`` ready to run: no banner of an earlier run (nbrunner's or papermill's), and every cell that will
    run without the outputs, execution count and run metadata of an earlier run, so what the morning reader sees
    below a failure is never an older run's."""
    nb.cells = [cell for cell in nb.cells if not {BANNER_TAG, PAPERMILL_BANNER_TAG} & set(tags(cell))]
    for cell in nb.cells:
        cell.metadata.pop("nbrunner", None)
        cell.metadata.pop("papermill", None)
        if runs(cell):
            cell.metadata.pop("execution", None)
            cell.outputs = []
            cell.execution_count = None
    normalize(nb)


def normalize(nb: Notebook) -> None:
    """nbformat 4.5, with a valid, unique ``id`` on every cell, so what nbrunner writes always validates.

    A missing or invalid id is made from the cell's place and source: the same notebook gets the same ids on every
    run, so a failed cell can be found again (``--resume``)."""
    import hashlib

    nb.nbformat, nb.nbformat_minor = 4, max(5, int(nb.get("nbformat_minor", 5)))
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        cid = cell.get("id")
        salt = 0
        while not isinstance(cid, str) or not _CELL_ID.match(cid) or cid in seen:
            digest = hashlib.sha256(f"{index}:{salt}:{cell.get('source', '')}".encode("utf-8", "surrogatepass"))
            cid, salt = f"nbr-{digest.hexdigest()[:12]}", salt + 1
        cell["id"] = cid
        seen.add(cid)


def repair(nb: Notebook) -> list[str]:
    """Make ``nb`` valid nbformat in place, whatever the input held (a kernelspec without a name, metadata of the
    wrong type): nbformat's own normalization, dropping invalid metadata. Returns what was wrong (empty: nothing)."""
    import nbformat
    from nbformat import validator

    if is_valid(nb):
        return []
    problems = [str(error.message)[:200] for error in validator.iter_validate(nb)][:5]
    _, fixed = validator.normalize(nb, strip_invalid_metadata=True)
    fixed = nbformat.from_dict(fixed)
    nb.metadata, nb.cells = fixed.metadata, fixed.cells
    return problems


_CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


def is_valid(nb: Notebook) -> bool:
    """``nbformat.validator.isvalid``'s verdict without its deep copy of the whole notebook (taken there only to
    check that validating changed nothing): the schema, and unique cell ids from nbformat 4.5 on."""
    from nbformat import validator

    if next(iter(validator.iter_validate(nb)), None) is not None:
        return False
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        ids = [cell.get("id") for cell in nb.get("cells", [])]
        return len(set(ids)) == len(ids)
    return True


def mark_not_run(nb: Notebook) -> int:
    """Mark every cell that would have run but did not (the run stopped before it); return how many."""
    count = 0
    for cell in nb.cells:
        if runs(cell) and "nbrunner" not in cell.metadata:
            cell.metadata["nbrunner"] = {"status": Status.NOT_RUN}
            count += 1
    return count


def add_banner(nb: Notebook, text: str) -> None:
    """A markdown cell at the top that says what went wrong and where; it is not executed."""
    import nbformat

    cell = nbformat.v4.new_markdown_cell(source=text, metadata={"tags": [BANNER_TAG]})
    nb.cells.insert(0, cell)


_JSON = {"indent": 1, "sort_keys": True, "ensure_ascii": False, "separators": (",", ": ")}


def dump(nb: Notebook, handle: IO[str]) -> None:
    """Write ``nb`` as nbformat 4 JSON, the same text as ``nbformat.writes``, as a stream.

    ``nbformat.writes`` deep-copies the whole notebook and builds one string of it, then the JSON encoder builds
    more: several times the notebook in memory at once. Here nothing is copied: each value is encoded as it is
    written, and a long text is cut into its lines a megabyte at a time, so saving a notebook with hundreds of
    megabytes of output costs a constant amount of memory beyond the notebook itself.
    """
    top = {key: value for key, value in nb.items() if key != "cells"}
    metadata = top.get("metadata")
    if isinstance(metadata, dict):  # what nbformat strips on writing (strip_transient)
        top["metadata"] = {k: v for k, v in metadata.items() if k not in ("orig_nbformat", "orig_nbformat_minor",
                                                                            "signature")}  # fmt: skip
    top["cells"] = [_as_written(cell) for cell in nb.cells]
    _emit(top, 0, handle.write)


class _Lines:
    """A text written as the list of its lines (nbformat's split_lines), without the list being built."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def chunks(self) -> Iterator[list[str]]:
        """``text.splitlines(True)``, a megabyte at a time: a chunk ends just after a newline, where a line ends
        whatever else it holds (so ``\r\n`` is never cut)."""
        text, start = self.text, 0
        while start < len(text):
            end = text.find("\n", start + (1 << 20))
            end = len(text) if end < 0 else end + 1
            yield text[start:end].splitlines(True)
            start = end


_SPLIT_MIMES = ("application/javascript", "image/svg+xml")


def _bundle(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    return {key: _Lines(value) if isinstance(value, str) and (key.startswith("text/") or key in _SPLIT_MIMES)
            else value for key, value in data.items()}  # fmt: skip


def _as_written(cell: Cell) -> dict[str, Any]:
    """A shallow view of ``cell`` as nbformat writes it: multi-line strings split into lines, ``trusted`` dropped
    (what split_lines and strip_transient do, without copying a string)."""
    view = dict(cell)
    if isinstance(view.get("metadata"), dict) and "trusted" in view["metadata"]:
        view["metadata"] = {k: v for k, v in view["metadata"].items() if k != "trusted"}
    if isinstance(view.get("source"), str):
        view["source"] = _Lines(view["source"])
    if isinstance(view.get("attachments"), dict):
        view["attachments"] = {name: _bundle(bundle) for name, bundle in view["attachments"].items()}
    if view.get("cell_type") == "code" and isinstance(view.get("outputs"), list):
        outputs = []
        for output in view["outputs"]:
            output = dict(output)
            if output.get("output_type") in ("execute_result", "display_data") and "data" in output:
                output["data"] = _bundle(output["data"])
            elif output.get("output_type") == "stream" and isinstance(output.get("text"), str):
                output["text"] = _Lines(output["text"])
            outputs.append(output)
        view["outputs"] = outputs
    return view


def _emit(value: Any, level: int, write: Callable[[str], Any]) -> None:
    """``json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)``, written piece by piece."""
    if isinstance(value, _Lines):
        first = True
        for lines in value.chunks():
            for line in lines:
                write(("[" if first else ",") + "\n" + " " * (level + 1) + json.dumps(line, ensure_ascii=False))
                first = False
        write("[]" if first else "\n" + " " * level + "]")
    elif isinstance(value, dict):
        if not value:
            write("{}")
            return
        for number, key in enumerate(sorted(value)):
            write(("," if number else "{") + "\n" + " " * (level + 1) + json.dumps(key, ensure_ascii=False) + ": ")
            _emit(value[key], level + 1, write)
        write("\n" + " " * level + "}")
    elif isinstance(value, list | tuple):
        if not value:
            write("[]")
            return
        for number, item in enumerate(value):
            write(("," if number else "[") + "\n" + " " * (level + 1))
            _emit(item, level + 1, write)
        write("\n" + " " * level + "]")
    else:
        write(json.dumps(value, ensure_ascii=False))


def write(path: Path, nb: Notebook) -> None:
    write_atomic(path, lambda handle: dump(nb, handle))
