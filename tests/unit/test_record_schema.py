"""The one check of a record read back: every shape nbrunner writes passes it with its kind and schema, an old record
without them is a run of schema 1, and anything of another shape is refused with a reason naming the field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nbrunner.core import record_schema
from nbrunner.core.record import RunRecord, chain_summary, not_run, refused
from nbrunner.errors import ParameterError

RUN = {"run_id": "r1", "input": "a.ipynb", "status": "failed", "exit_code": 4, "started": "2026-11-20T23:00:00.000Z"}


def test_every_shape_nbrunner_writes_says_its_kind_and_schema_and_passes() -> None:
    run = RunRecord(run_id="r1", input="a.ipynb", input_sha256="0", output="b.ipynb", started="t", parameters={})
    shapes = {
        "run": run.as_json(),
        "refused": refused(ParameterError("bad -p"), "a.ipynb"),
        "not-run": not_run("b.ipynb"),
    }
    shapes["chain"] = chain_summary("failed", 4, "x", list(shapes.values()))
    for kind, shape in shapes.items():
        assert (shape["kind"], shape["schema"]) == (kind, record_schema.SCHEMA)
        assert list(shape)[:2] == ["kind", "schema"]
        assert record_schema.parse(json.dumps(shape))["kind"] == kind


def test_an_old_record_without_kind_or_schema_is_a_run_of_schema_1() -> None:
    record = record_schema.validate(dict(RUN))
    assert (record["kind"], record["schema"]) == ("run", 1)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"parameters": [1, 2]}, "parameters is a list, not an object or null"),
        ({"chain": {"id": "c", "index": "0", "size": 2}}, "chain is not an object with id"),
        ({"chain": {"id": "c", "index": None, "size": 2}}, "chain is not an object with id"),
        ({"chain": {"id": "c", "index": 0, "size": "<b>"}}, "chain is not an object with id"),
        ({"chain": {"id": "c", "index": 2, "size": 2}}, "chain is not an object with id"),
        ({"duration_s": float("nan")}, "duration_s is not a finite number"),
        ({"duration_s": "12s"}, "duration_s is a string, not a finite number"),
        ({"status": None}, "status is null, not a string"),
        ({"exit_code": True}, "exit_code is a boolean, not an integer"),
        ({"run_id": None}, "run_id is null"),
        ({"schema": 2}, "schema 2 is newer than this nbrunner reads (1); upgrade nbrunner"),
        ({"schema": "1"}, "schema is a string, not a positive integer"),
        ({"kind": "<script>"}, "kind is not one of run, refused, not-run, chain"),
        ({"secrets": {"token": 1}}, "secrets is not an object of strings"),
        ({"failed_cell": {"index": "7"}}, "failed_cell is not an object with index"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_naming_the_field_not_its_value(
    change: dict[str, Any], reason: str
) -> None:
    with pytest.raises(record_schema.BadRecord) as refused_record:
        record_schema.parse(json.dumps({**RUN, **change}))
    assert reason in str(refused_record.value)
    assert "<script>" not in str(refused_record.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000, "nested deeper than"),
        ('{"a":' * 150 + "1" + "}" * 150, "nested deeper than"),
        ("not json", "not JSON (line 1, column 1)"),
        (b"\xff\xfe\x00", "not JSON"),
        ("[1, 2]", "a record is a JSON object, not a list"),
        ('{"run_id": "r", "status": "ok", "exit_code": ' + "9" * 5000 + "}", "not JSON"),
    ],
)
def test_text_that_is_not_a_record_is_refused_without_a_crash(text: str | bytes, reason: str) -> None:
    with pytest.raises(record_schema.BadRecord, match=reason.replace("(", r"\(").replace(")", r"\)")):
        record_schema.parse(text)


def test_a_lone_surrogate_becomes_a_replacement_character_everywhere() -> None:
    record = record_schema.parse(json.dumps({**RUN, "message": "a\ud800b", "parameters": {"k\udc80": "v\udfff"}}))
    assert record["message"] == "a\ufffdb" and record["parameters"] == {"k\ufffd": "v\ufffd"}
    json.dumps(record, ensure_ascii=False).encode()  # all of it is Unicode now


@pytest.mark.parametrize(
    ("started", "when"),
    [
        ("2026-11-20T23:00:00.000Z", "2026-11-20T23:00:00+00:00"),
        ("2026-11-20", "2026-11-20T00:00:00+00:00"),
        ("9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59.999999+00:00"),  # past the calendar's end in UTC
        ("0001-01-01T00:00:00+05:00", "0001-01-01T00:00:00+00:00"),
        ("yesterday", None),
        (None, None),
    ],
)
def test_a_start_that_is_not_a_time_is_unknown_and_one_past_the_calendar_is_its_end(
    started: str | None, when: str | None
) -> None:
    found = record_schema.started_at({"started": started})
    assert (found.isoformat() if found is not None else None) == when
