"""The notebook's outputs where schedulers look for them: ``--outputs-file`` (Azkaban's ``$JOB_OUTPUT_PROP_FILE``,
any later task) and DolphinScheduler's ``${setValue(name=value)}`` lines.

The outputs file is an artifact like the notebook: checked before anything runs (a local folder that takes it, or an
store's bucket that exists; never an input of the run), written atomically or stored, and a failure to write it is
exit 8 with the outputs still in the record. A chain delivers every member's outputs, namespaced by notebook.

setValue lines: exactly one well-formed line per output. A name must be letters, digits, ``_``, ``.`` or ``-``
(another is skipped, with a warning). A string value of printable characters without ``)}`` and without leading or
trailing space is written as it is; any other value is written as compact ASCII JSON, in which ``)}`` is written
``)\\u007d``, so a newline, ``)}`` or a control character can neither end the line nor the value early.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nbrunner.core import location
from nbrunner.core.location import Location
from nbrunner.errors import StorageError, UsageError
from nbrunner.storage import Stores, locate

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def set_value_lines(outputs: Mapping[str, Any], warn: Callable[[str], None]) -> list[str]:
    lines = []
    for name, value in outputs.items():
        if not _NAME.match(name):
            warn(f"--print-set-value: output name {name!r} is not letters, digits, '_', '.' or '-'; not printed")
            continue
        lines.append(f"${{setValue({name}={encode(value)})}}")
    return lines


def encode(value: Any) -> str:
    """One output value as setValue text: a plain string as it is, anything else as one line of JSON."""
    if isinstance(value, str) and value and value == value.strip() and value.isprintable() and ")}" not in value:
        return value
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace(")}", ")\\u007d")


def member_names(inputs: Sequence[str]) -> list[str]:
    """Each chain member's namespace: its notebook's name, ``-2``, ``-3``... for a name met again."""
    seen: dict[str, int] = {}
    names = []
    for name in inputs:
        base = location.stem(locate(name, what="notebook")) if name else "notebook"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def chain_outputs(runs: Sequence[Mapping[str, Any]], inputs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{member: {name: value}}`` for every member that ran (a member refused or not run has ``{}``)."""
    return {member: dict(run.get("outputs") or {}) for member, run in zip(member_names(inputs), runs, strict=False)}


def flat(outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A chain's outputs as ``member.name`` keys, for setValue lines."""
    return {f"{member}.{name}": value for member, values in outputs.items() for name, value in values.items()}


class OutputsFile:
    """Where ``--outputs-file`` goes, checked before the run; :meth:`write` stores it (StorageError: exit 8).

    That it is no input and no other artifact of the run is the plan's check, as for every artifact
    (:func:`~nbrunner.plan.build.check_artifacts`, given :attr:`where`)."""

    def __init__(self, name: str, *, stores: Stores):
        self.name = name
        self.stores = stores
        self.where: Location = locate(name, what="--outputs-file")
        if isinstance(self.where, Path):
            self.where = self.where.absolute()
            if self.where.is_dir():
                raise UsageError(f"--outputs-file {name}: that is a folder; give a file's path")
            location.check_writable(self.where)
        else:
            stores.of(self.where).check_target(self.where)

    def write(self, outputs: Mapping[str, Any]) -> None:
        from nbrunner.core.files import write_atomic

        text = json.dumps(outputs, ensure_ascii=False, indent=2) + "\n"
        if isinstance(self.where, Path):
            try:
                write_atomic(self.where, text)
            except OSError as e:
                raise StorageError(f"--outputs-file {self.name}: cannot write it: {e.strerror or e}") from e
            return
        self.stores.of(self.where).put_text(text, self.where, suffix=".json")
