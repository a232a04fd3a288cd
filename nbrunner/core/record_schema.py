"""The one check of a run record read back (``*.run.json``, a ``--resume`` record): every reader parses and validates
through here, so a record someone else wrote (by hand, by an older nbrunner, to attack a shared prefix) is either
data of the documented types or refused with the reason, never a crash in the reader.

Every record nbrunner writes says what it is (``kind``: ``run``, ``refused``, ``not-run``, ``chain``,
``for-each``) and in which shape (``schema``, an integer: :data:`SCHEMA`). A record without them (written before
they existed) is a ``run`` of schema 1. This module imports nothing else of nbrunner: the record writers
(:mod:`nbrunner.core.record`) take their words from here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from nbrunner.status import Status

SCHEMA = 1
RUN, REFUSED, CHAIN, FOR_EACH = "run", "refused", "chain", "for-each"
NOT_RUN = Status.NOT_RUN.value  # a chain member never started: the kind is its status word
KINDS = (RUN, REFUSED, NOT_RUN, CHAIN, FOR_EACH)
#: deeper than this is not a record (nbrunner's own are a few levels deep; outputs a notebook made, a few more)
MAX_DEPTH = 100

_SURROGATE = re.compile("[\ud800-\udfff]")


class BadRecord(ValueError):
    """Not a record of the documented shape; ``str()`` is the reason, naming the field and never quoting its value."""


def stamp(kind: str) -> dict[str, Any]:
    """The first two keys of every record nbrunner writes."""
    return {"kind": kind, "schema": SCHEMA}


def parse(text: str | bytes) -> dict[str, Any]:
    """A record from its JSON text: parsed without recursing past :data:`MAX_DEPTH`, then :func:`validate`d."""
    try:
        data = json.loads(text)
    except RecursionError:  # 100,000 '[' and the like: json recurses once per level
        raise BadRecord(f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as e:
        raise BadRecord(f"not JSON (line {e.lineno}, column {e.colno})") from None
    except ValueError:  # UnicodeDecodeError; an integer of more digits than int() takes
        raise BadRecord("not JSON in UTF-8 (or a number too long to read)") from None
    return validate(data)


def validate(data: Any) -> dict[str, Any]:
    """``data`` checked against the schema of its kind, as a new dict whose text is all Unicode (a lone surrogate,
    which nbrunner writes as its ``\\udXXXX`` escape when a kernel sent one, becomes U+FFFD). BadRecord otherwise."""
    if not isinstance(data, dict):
        raise BadRecord(f"a record is a JSON object, not {_kind_of(data)}")
    record: dict[str, Any] = _clean(data)
    kind = record.setdefault("kind", RUN)
    schema = record.setdefault("schema", SCHEMA)
    if not _is_int(schema) or schema < 1:
        raise BadRecord(f"schema is {_kind_of(schema)}, not a positive integer")
    if schema > SCHEMA:
        raise BadRecord(f"schema {schema} is newer than this nbrunner reads ({SCHEMA}); upgrade nbrunner")
    if kind not in KINDS:
        raise BadRecord(f"kind is not one of {', '.join(KINDS)}")
    for name, check, expected in _FIELDS[kind]:
        if name in record and not check(record[name]):
            found = record[name]
            raise BadRecord(f"{name} is not {expected}" if isinstance(found, dict) else
                            f"{name} is {_kind_of(found)}, not {expected}")  # fmt: skip
    for name in _REQUIRED[kind]:
        if name not in record:
            raise BadRecord(f"no {name} (a {kind} record has one)")
    if kind == CHAIN:
        for number, entry in enumerate(record["runs"]):
            try:
                record["runs"][number] = validate(entry)
            except BadRecord as e:
                raise BadRecord(f"runs[{number}]: {e}") from None
    return record


def started_at(record: dict[str, Any]) -> datetime | None:
    """When the run started (UTC), or None when its ``started`` is missing or not an ISO time."""
    return utc_time(record.get("started"))


def utc_time(text: Any) -> datetime | None:
    """An ISO date or time (UTC unless it says otherwise) as an aware UTC datetime; None when it is not one. A time
    past either end of the calendar in UTC (9999-12-31T23:00-05:00) is its end."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        return (datetime.max if moment.year > 1 else datetime.min).replace(tzinfo=timezone.utc)


def _clean(value: Any, depth: int = 0) -> Any:
    """A copy with every string's lone surrogates replaced; BadRecord past :data:`MAX_DEPTH`."""
    if depth > MAX_DEPTH:
        raise BadRecord(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_SURROGATE.sub("\ufffd", key): _clean(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item, depth + 1) for item in value]
    return value


def _kind_of(value: Any) -> str:
    """What a value is, in JSON's words (never the value itself: it is somebody else's text)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number" if math.isfinite(value) else "not a finite number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else type(value).__name__


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _time(value: Any) -> bool:
    return isinstance(value, str)  # a string that is not a time is kept: its run has no known start (sorted last)


def _chain(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("id"), str)
        and _is_int(value.get("index"))
        and _is_int(value.get("size"))
        and 0 <= value["index"] < value["size"]
    )


def _for_each(value: Any) -> bool:
    return _chain(value) and isinstance(value.get("values"), dict) and _optional(_is_int)(value.get("attempt"))


def _failed_cell(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and _optional(_is_int)(value.get("index"))
        and _optional(_text)(value.get("id"))
        and _optional(_text)(value.get("first_line"))
    )


def _mapping_of_text(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())


_TEXT, _OPTIONAL_TEXT = (_text, "a string"), (_optional(_text), "a string or null")
_EXIT_CODE = (_optional(_is_int), "an integer or null")
_COMMON: list[tuple[str, Callable[[Any], bool], str]] = [
    ("status", *_TEXT),
    ("exit_code", *_EXIT_CODE),
    ("message", *_OPTIONAL_TEXT),
    ("input", *_OPTIONAL_TEXT),
]
#: per kind: every field a reader of records reads, its check, and what it must be
_FIELDS: dict[str, list[tuple[str, Callable[[Any], bool], str]]] = {
    RUN: [
        *_COMMON,
        ("run_id", *_TEXT),
        ("input_sha256", *_OPTIONAL_TEXT),
        ("output", *_OPTIONAL_TEXT),
        ("html", *_OPTIONAL_TEXT),
        ("record", *_OPTIONAL_TEXT),
        ("started", _optional(_time), "a string or null"),
        ("ended", *_OPTIONAL_TEXT),
        ("duration_s", _optional(_number), "a finite number or null"),
        ("parameters", _optional(lambda value: isinstance(value, dict)), "an object or null"),
        ("secrets", _optional(_mapping_of_text), "an object of strings or null"),
        ("failed_cell", _optional(_failed_cell), "an object with index (integer) and id (string) or null"),
        ("chain", _optional(_chain), "an object with id (string), index (integer 0..size-1), size (integer >= 1)"),
        ("resumed_from", *_OPTIONAL_TEXT),
        ("for_each", _optional(_for_each), "an object with id, index, size (as chain), values (object), attempt"),
    ],
    REFUSED: _COMMON,
    NOT_RUN: _COMMON,
    CHAIN: [*_COMMON, ("runs", lambda value: isinstance(value, list), "a list")],
    FOR_EACH: [*_COMMON, ("id", *_TEXT), ("iterations", lambda value: isinstance(value, list), "a list")],
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    RUN: ("run_id", "status"),
    REFUSED: ("status",),
    NOT_RUN: ("status", "input"),
    CHAIN: ("status", "runs"),
    FOR_EACH: ("status", "iterations"),
}
