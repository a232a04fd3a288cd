"""values.plain: the Python API's values as the plain values they stand for; anything else refused by type."""

from __future__ import annotations

import datetime
import enum

import numpy as np
import pytest

from nbrunner.errors import ParameterError
from nbrunner.params import literal
from nbrunner.values import from_mapping


class Level(enum.IntEnum):
    HIGH = 3


class Evil(str):
    def __repr__(self) -> str:
        return "__import__('os').system('touch /tmp/pwned')"


def test_numpy_enums_and_subclasses_become_plain_values() -> None:
    given = {g.name: g.value for g in from_mapping(
        {"f": np.float64(1.5), "i": np.int64(7), "b": np.bool_(True), "e": Level.HIGH, "s": Evil("text"),
         "t": (np.int32(1), "x"), "m": {np.str_("k"): np.array(2.0)}}, source="parameters")}  # fmt: skip
    assert given == {"f": 1.5, "i": 7, "b": True, "e": 3, "s": "text", "t": [1, "x"], "m": {"k": 2.0}}
    assert [type(given[k]) for k in "fibes"] == [float, int, bool, int, str]
    assert literal(given["s"]) == "'text'" and literal(given["e"]) == "3"


@pytest.mark.parametrize("value", [datetime.date(2026, 1, 1), object(), np.array([1, 2]), {1: "a"}, b"bytes"])
def test_other_values_are_refused_naming_their_type(value: object) -> None:
    with pytest.raises(ParameterError) as refused:
        from_mapping({"x": value}, source="parameters")
    assert "parameter 'x'" in str(refused.value)
    assert type(value).__name__ in str(refused.value) or "key" in str(refused.value)


def test_a_yaml_bomb_is_bounded() -> None:
    layer: list[object] = ["x"]
    for _ in range(30):  # 2**30 leaves if expanded
        layer = [layer, layer]
    with pytest.raises(ParameterError, match="items"):
        from_mapping({"x": layer}, source="-f bomb.yaml")


def test_a_literal_never_comes_from_an_objects_own_repr() -> None:
    with pytest.raises(ParameterError):
        literal(Evil("x"))
