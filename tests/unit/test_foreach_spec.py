"""--for-each SPECs: values typed like -p, ranges, files, the cross product, -o that must separate iterations."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbrunner.config import RunConfig
from nbrunner.errors import ParameterError, UsageError
from nbrunner.plan.foreach import configs_for_each, from_api, iterations, parse_spec


def values_of(text: str) -> list[object]:
    return [group[0].value for group in parse_spec(text)]


def test_a_comma_list_is_typed_like_p() -> None:
    assert values_of("region=north, south,7,true,null") == ["north", "south", 7, True, None]


def test_date_ranges_are_daily_and_inclusive_and_stay_text() -> None:
    assert values_of("date=2026-11-29..2026-12-02") == ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]


def test_integer_ranges_are_inclusive() -> None:
    assert values_of("n=1..3") == [1, 2, 3]
    assert values_of("n=-1..0") == [-1, 0]


@pytest.mark.parametrize(
    "text",
    ["n=3..1", "d=2026-11-02..2026-11-01", "d=2026-02-30..2026-03-01", "n=a..b", "n=", "n=a,,b", "n=a,a", "1x=a"],
)
def test_a_bad_spec_is_refused(text: str) -> None:
    with pytest.raises((UsageError, ParameterError)):
        parse_spec(text)


def test_files_give_values_or_mappings(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("- north\n- 3\n")
    (tmp_path / "m.json").write_text('[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]')
    assert values_of(f"r=@{tmp_path / 'v.yaml'}") == ["north", 3]
    groups = parse_spec(f"@{tmp_path / 'm.json'}")
    assert [{g.name: g.value for g in group} for group in groups] == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    (tmp_path / "bad.json").write_text('[{"a": 1}, {"b": 2}]')
    with pytest.raises(UsageError, match="entry 2"):
        parse_spec(f"@{tmp_path / 'bad.json'}")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(UsageError):
        parse_spec(f"@{tmp_path / 'empty.json'}")


def test_several_give_the_cross_product_in_order() -> None:
    found = iterations([parse_spec("r=n,s"), parse_spec("d=1..3")])
    assert [it.values for it in found][:4] == [{"r": "n", "d": 1}, {"r": "n", "d": 2}, {"r": "n", "d": 3},
                                               {"r": "s", "d": 1}]  # fmt: skip
    assert [it.index for it in found] == list(range(6))
    assert found[4].label == "r=s d=2"
    with pytest.raises(UsageError, match="two --for-each"):
        iterations([parse_spec("r=n,s"), parse_spec("r=x")])


def test_o_must_name_every_iteration_parameter() -> None:
    found = iterations([parse_spec("r=n,s"), parse_spec("d=1..2")])
    with pytest.raises(UsageError, match=r"d missing.*-o 'out/\{notebook\}-\{r\}-\{d\}.ipynb'"):
        configs_for_each(RunConfig(notebook="a.ipynb", output="out/{r}.ipynb"), found)
    with pytest.raises(UsageError, match="with --for-each"):
        configs_for_each(RunConfig(notebook="a.ipynb"), found)
    configs = configs_for_each(RunConfig(notebook="a.ipynb", output="o/{r}-{d}.ipynb"), found)
    assert [c.parameters[-2:] for c in configs][1] == found[1].given
    assert configs[1].spark.iteration == "r=n d=2"


def test_the_api_takes_lists_specs_and_mappings() -> None:
    found = from_api({"r": ["n", "s"], "d": "1..2"})
    assert [it.values for it in found][-1] == {"r": "s", "d": 2}
    assert [it.values for it in from_api([{"a": 1}, {"a": 2}])] == [{"a": 1}, {"a": 2}]
    for bad in ({}, [], {"r": []}, [{"a": 1}, {"b": 1}], {"r": [1, 1]}):
        with pytest.raises(UsageError):
            from_api(bad)
