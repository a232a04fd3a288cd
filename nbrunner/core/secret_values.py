"""Secret parameters: given by reference (``env:VAR``, ``file:/path``), resolved before the run, handed to the kernel
without touching the disk, and never written. The :class:`Redactor` is the one boundary every byte from the kernel
passes before it reaches an artifact, a stream or the record: a secret's value, and its common escaped forms, become
``[REDACTED]`` there.

Rules (the README's secrets section says the same): a value has at least :data:`MIN_LENGTH` characters (shorter ones
would make redaction rewrite ordinary text) and at most :data:`MAX_BYTES` bytes; a ``file:`` reference names a
regular file. Redacted: the value as is, ``repr()``/``str()`` escapes, JSON string escapes (ASCII or not), HTML
escapes, URL-encoding (``quote``, ``quote_plus``), and a long value cut short with ``...`` (pandas' column width).
Not redacted: what the notebook itself computes from the value (base64, a hash, a slice, upper-case, ...).
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from nbrunner.core.node import Notebook
from nbrunner.errors import ParameterError

REDACTED = "[REDACTED]"
#: how the record, the notebook's metadata and progress lines show a secret parameter
SHOWN = "[secret]"
#: the shortest secret accepted: a shorter one would redact ordinary words and numbers everywhere
MIN_LENGTH = 6
#: the largest secret accepted (bytes of UTF-8); a larger source is refused, never read whole
MAX_BYTES = 64 * 1024
#: a value at least this long is also redacted where it is shown cut short with "..." (pandas, reprlib)
CUT_SHORT = 12


@dataclass(frozen=True)
class SecretRef:
    """Where a secret's value is: ``env:VAR`` or ``file:/path``. ``name`` is the parameter's, for messages; a
    reference that is neither is refused without repeating it (it may be the value itself, typed by mistake)."""

    ref: str
    name: str = ""

    def __post_init__(self) -> None:
        kind, _, rest = self.ref.partition(":")
        if kind not in ("env", "file") or not rest:
            raise ParameterError(
                f"secret {self.name!r}: give a reference, env:VARIABLE or file:/path/to/file, not the value itself "
                "(what was given is not shown)"
            )

    @property
    def variable(self) -> str | None:
        kind, _, rest = self.ref.partition(":")
        return rest if kind == "env" else None

    def resolve(self, name: str, environ: Mapping[str, str] | None = None) -> Secret:
        """The value, read now (``env:`` from ``environ``, default this process's); a ParameterError (exit 3) that
        never shows it when it cannot be used."""
        kind, _, rest = self.ref.partition(":")
        env = os.environ if environ is None else environ
        if kind == "env":
            if rest not in env:
                raise ParameterError(f"secret {name!r}: the environment variable {rest} is not set")
            value = env[rest]
            if len(value.encode("utf-8", "surrogateescape")) > MAX_BYTES:
                raise ParameterError(f"secret {name!r}: {rest} holds more than {MAX_BYTES} bytes; a secret is smaller")
        else:
            value = _read_file(name, rest)
        if not value:
            raise ParameterError(f"secret {name!r}: {self.ref} is empty")
        if len(value) < MIN_LENGTH:
            raise ParameterError(
                f"secret {name!r}: {self.ref} holds fewer than {MIN_LENGTH} characters; nbrunner cannot redact so "
                "short a value without rewriting ordinary text: use a longer secret, or pass it as a parameter"
            )
        return Secret(name, value)


def _read_file(name: str, path: str) -> str:
    """A regular file of at most MAX_BYTES, as text without its final newline; never a FIFO, device or folder
    (opened without blocking, then checked: :mod:`nbrunner.core.regular`)."""
    from nbrunner.core.regular import NotRegularFile, read_regular

    try:
        data = read_regular(path, MAX_BYTES)
    except NotRegularFile:
        raise ParameterError(f"secret {name!r}: {path} is not a regular file (a FIFO, device or folder); "
                             "put the secret in a file") from None  # fmt: skip
    except OSError as e:
        raise ParameterError(f"secret {name!r}: cannot read {path}: {e.strerror or type(e).__name__}") from None
    if len(data) > MAX_BYTES:
        raise ParameterError(f"secret {name!r}: {path} is larger than {MAX_BYTES} bytes; a secret is smaller")
    try:
        return data.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ParameterError(f"secret {name!r}: {path} is not UTF-8 text") from None


class Secret:
    """A resolved secret value; its repr and str never show it."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str):
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return SHOWN

    __str__ = __repr__


def reference_in(value: Any, *, name: str = "") -> SecretRef | None:
    """A parameters file entry ``name: {secret: "env:VAR"}`` is a secret reference."""
    if isinstance(value, dict) and list(value) == ["secret"] and isinstance(value["secret"], str):
        return SecretRef(value["secret"], name)
    return None


def escaped_forms(value: str) -> set[str]:
    """``value`` as code commonly prints it: as is, escaped by repr/JSON/HTML/URL-encoding, and cut short."""
    r = repr(value)[1:-1]
    forms = {
        value,
        r,
        r.replace("'", "\\'"),
        r.replace('"', '\\"'),
        r.replace("\\'", "'"),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
        quote(value),
        quote(value, safe=""),
        quote_plus(value),
        quote_plus(value, safe=""),
    }
    if len(value) >= CUT_SHORT:
        for form in list(forms):  # pandas shows a long cell as its first characters and "..." (50 at most)
            forms.update(form[:k] + cut for k in range(CUT_SHORT, min(len(form), 80)) for cut in ("...", "…"))
    # a value of several lines (a key file) is also redacted line by line, where logs cut it into lines
    forms.update(line for line in value.splitlines() if len(line.strip()) >= MIN_LENGTH)
    return {form for form in forms if form}


class Redactor:
    """Replaces every secret value (in each of its :func:`escaped_forms`) with ``[REDACTED]``: only the matching
    text, never a whole message; in text, in IOPub messages and outputs (structure kept: message types, stream names
    and MIME types are never rewritten), in records and in whole notebooks."""

    def __init__(self, values: Iterable[str]):
        forms: set[str] = set()
        for value in values:
            if value:
                forms |= escaped_forms(value)
        # longest first, so a form that contains another is redacted whole
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        # a cheap test before the regular expression: every form starts with one of these
        self._probes = tuple({form[:2] for form in ordered})
        #: text this long around a join can hold a value split across two writes
        self.window = max((len(form) for form in ordered), default=0)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        if self._pattern is None or not any(probe in text for probe in self._probes):
            return text
        return self._pattern.sub(REDACTED, text)

    def cut(self, text: str, size: int) -> tuple[str, str]:
        """``text`` of a stream shown in pieces (a line too long to wait for): its first part, about ``size``
        characters, redacted, and the rest, raw, to be shown with what comes next. The cut never falls inside a
        secret (in any of its forms), whatever text follows: the rest keeps the last ``window - 1`` characters,
        where a value may begin that more text completes. ``text`` longer than ``size + window - 1`` always
        gives a non-empty first part."""
        if self._pattern is None:
            return text[:size], text[size:]
        # a form starting before `safe` has at least `window` characters after its start here: the match found
        # there is the one any continuation gives, so text up to it (and through it) can be shown now
        safe = min(size, len(text) - self.window + 1)
        if safe <= 0:
            return "", text
        pieces: list[str] = []
        shown = 0  # the end of what is already in pieces
        if any(probe in text for probe in self._probes):
            for match in self._pattern.finditer(text, 0, safe + self.window - 1):
                if match.start() >= safe:
                    break
                pieces += [text[shown : match.start()], REDACTED]
                shown = match.end()
        end = max(safe, shown)
        pieces.append(text[shown:end])
        return "".join(pieces), text[end:]

    def joined(self, head: str, tail: str) -> str:
        """``head + tail`` redacted, looking again only where a value split across the two can be."""
        if self._pattern is None:
            return head + tail
        cut = max(0, len(head) - self.window)
        return head[:cut] + self.text(head[cut:] + tail)

    def deep(self, obj: Any, *, keys: bool = True) -> Any:
        """A copy of ``obj`` (strings, lists, dicts and dict subclasses such as NotebookNode) with values redacted,
        dict keys too unless ``keys`` is False."""
        if self._pattern is None:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, list | tuple):
            return type(obj)(self.deep(item, keys=keys) for item in obj)
        if isinstance(obj, dict):
            out = type(obj)()
            for key, item in obj.items():
                out[self.text(key) if keys and isinstance(key, str) else key] = self.deep(item, keys=keys)
            return out
        return obj

    def content(self, content: dict[str, Any]) -> dict[str, Any]:
        """A message's content or an output: MIME-type keys, stream names and types kept, everything else redacted."""
        out = type(content)()
        for key, item in content.items():
            if key in ("data", "metadata") and isinstance(item, dict):
                out[key] = type(item)((mime, self.deep(value)) for mime, value in item.items())
            elif key in ("name", "output_type", "execution_count", "transient"):
                out[key] = item
            else:
                out[key] = self.deep(item)
        return out

    def message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """An IOPub message with its content redacted (headers and message type untouched)."""
        if self._pattern is None or not isinstance(msg.get("content"), dict):
            return msg
        return {**msg, "content": self.content(msg["content"])}

    def notebook(self, nb: Notebook) -> None:
        """Redact a whole notebook in place before it is written: each cell's outputs, with adjacent pieces of one
        stream joined first (as every viewer joins them), cell and notebook metadata (keys kept: they are nbrunner's,
        papermill's, Jupyter's), and sources."""
        if self._pattern is None:
            return
        for cell in nb.cells:
            cell.source = self.text(cell.source)
            cell.metadata = self.deep(cell.metadata, keys=False)
            if "outputs" in cell:
                cell.outputs = [self.content(output) for output in join_streams(cell.outputs)]
            if "attachments" in cell:
                cell.attachments = self.deep(cell.attachments, keys=False)
        nb.metadata = self.deep(nb.metadata, keys=False)


def join_streams(outputs: list[Any]) -> list[Any]:
    """Adjacent outputs of one stream (stdout, stderr) as one, as notebook viewers show them."""
    joined: list[Any] = []
    pieces: list[list[str]] = []  # each joined stream's texts, joined once at the end (no quadratic copying)
    for output in outputs:
        last = joined[-1] if joined else None
        if (output.get("output_type") == "stream" and last is not None and last.get("output_type") == "stream"
                and last.get("name") == output.get("name")):  # fmt: skip
            pieces[-1].append(output.get("text", ""))
        else:
            joined.append(output)
            pieces.append([output.get("text", "")] if output.get("output_type") == "stream" else [])
    for output, texts in zip(joined, pieces, strict=True):
        if len(texts) > 1:
            output["text"] = "".join(texts)
    return joined
