"""Secret parameters: given by reference (``env:VAR``, ``file:/path``), resolved before the run, delivered to the
kernel through a private file, and never written: not in the notebook, the HTML, the record, the logs or the object
metadata. Any output that contains a secret's value is redacted (``[REDACTED]``) in all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbrunner.errors import UsageError

REDACTED = "[REDACTED]"
#: how the record, the notebook's metadata and progress lines show a secret parameter
SHOWN = "[secret]"


@dataclass(frozen=True)
class SecretRef:
    """Where a secret's value is: ``env:VAR`` or ``file:/path``."""

    ref: str

    def __post_init__(self) -> None:
        kind, _, rest = self.ref.partition(":")
        if kind not in ("env", "file") or not rest:
            raise UsageError(f"secret reference {self.ref!r}: write env:VARIABLE or file:/path/to/file")

    @property
    def variable(self) -> str | None:
        kind, _, rest = self.ref.partition(":")
        return rest if kind == "env" else None

    def resolve(self, name: str) -> Secret:
        kind, _, rest = self.ref.partition(":")
        if kind == "env":
            if rest not in os.environ:
                raise UsageError(f"secret {name!r}: the environment variable {rest} is not set")
            value = os.environ[rest]
        else:
            try:
                value = Path(rest).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as e:
                reason = getattr(e, "strerror", None) or type(e).__name__
                raise UsageError(f"secret {name!r}: cannot read {rest}: {reason}") from e
        if not value:
            raise UsageError(f"secret {name!r}: {self.ref} is empty")
        return Secret(name, value)


class Secret:
    """A resolved secret value; its repr and str never show it."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str):
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return SHOWN

    __str__ = __repr__


def reference_in(value: Any) -> SecretRef | None:
    """A parameters file entry ``name: {secret: "env:VAR"}`` is a secret reference."""
    if isinstance(value, dict) and list(value) == ["secret"] and isinstance(value["secret"], str):
        return SecretRef(value["secret"])
    return None


class Redactor:
    """Replaces every occurrence of a secret's value in text, and in the strings of a message or output."""

    def __init__(self, values: Iterable[str]):
        # longest first, so a value that contains another is redacted whole
        self.values = sorted({v for v in values if v}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def deep(self, obj: Any) -> Any:
        """A copy of ``obj`` (strings, lists, dicts and dict subclasses such as NotebookNode) with values redacted."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list):
            return [self.deep(item) for item in obj]
        if isinstance(obj, dict):
            out = type(obj)()
            for key, item in obj.items():
                out[key] = self.deep(item)
            return out
        return obj
