"""Parameters: typing, declarations, checks and rendering (pure functions, no kernel)."""

from __future__ import annotations

import ast

import pytest

from nbrunner import params, values
from nbrunner.errors import ParameterError
from nbrunner.notebook import document


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3", 3),
        ("0.5", 0.5),
        ("true", True),
        ("false", False),
        ("null", None),
        ("2026-11-20", "2026-11-20"),
        ("2026-11-20T10:00:00", "2026-11-20T10:00:00"),
        ("hello world", "hello world"),
        ("", ""),
        ("[1, 2]", [1, 2]),
        ("北京", "北京"),
    ],
)
def test_typed_value_is_a_yaml_scalar_with_dates_kept_as_strings(raw: str, expected: object) -> None:
    value = values.typed_value(raw, source="-p x")
    assert value == expected
    assert type(value) is type(expected)


def test_raw_params_keep_the_string_and_later_sources_win() -> None:
    files = values.from_mapping({"n": 1, "date": "2026-01-01"}, source="-f p.yaml")
    cli = from_command_line([("-p", "n=2"), ("-r", "n=007"), ("-p", "x=true")])
    merged = values.merge(files, cli)
    assert merged["n"].value == "007"
    assert merged["date"].value == "2026-01-01"
    assert merged["x"].value is True


@pytest.mark.parametrize("name", ["import os;x", "1x", "class", "a b", "a.b", "", "x\ny"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ParameterError, match="not a Python identifier"):
        from_command_line([("-p", f"{name}=1")])


def test_code_after_the_first_equals_sign_is_only_ever_a_string_value() -> None:
    (given,) = from_command_line([("-p", "x=1;import os;y=2")])
    assert (given.name, given.value) == ("x", "1;import os;y=2")
    assert params.render({"x": given.value}) == "# Parameters injected by nbrunner\nx = '1;import os;y=2'\n"
    with pytest.raises(ParameterError, match="declared int but got str"):
        resolve(("-p", "n=1;import os;y=2"))


def test_missing_equals_is_refused() -> None:
    with pytest.raises(ParameterError, match="expected NAME=VALUE"):
        from_command_line([("-p", "date")])


def from_command_line(items: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> list[values.Given]:
    """("-p" | "-r", "NAME=VALUE") pairs in command-line order, as the command line's ParamType converts them."""
    return [values.from_text(option, text) for option, text in items]


DECLARED = params.declaration(
    'date = "2026-01-01"  # the day\n'
    "n: int = 10  # rows\n"
    "ratio = 0.5\n"
    "flag = False\n"
    "maybe: Optional[int] = None\n"
    "anything = None\n"
    "when = datetime.date.today()\n"
)


def resolve(*items: tuple[str, str], allow: bool = False) -> dict[str, object]:
    return params.resolve(values.merge(from_command_line(items)), DECLARED, allow_undeclared=allow)


def test_declaration_reads_names_types_defaults_and_help() -> None:
    by_name = {p.name: p for p in DECLARED.parameters}
    assert by_name["date"].type == "str" and by_name["date"].help == "the day"
    assert by_name["n"].type == "int" and by_name["n"].default == 10 and by_name["n"].help == "rows"
    assert by_name["maybe"].type == "Optional[int]"
    assert by_name["anything"].type is None
    assert by_name["when"].default_is_literal is False and by_name["when"].default == "datetime.date.today()"


def test_values_fitting_their_declared_types_pass() -> None:
    values = resolve(
        ("-p", "n=3"), ("-p", "ratio=2"), ("-p", "flag=true"), ("-p", "maybe=null"), ("-p", "anything=[1]")
    )
    assert values == {"n": 3, "ratio": 2, "flag": True, "maybe": None, "anything": [1]}


def test_a_str_parameter_keeps_the_command_line_text() -> None:
    assert resolve(("-p", "date=007")) == {"date": "007"}
    assert resolve(("-p", "date=2026-11-20")) == {"date": "2026-11-20"}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (("-p", "n=abc"), "'n' is declared int but got str 'abc'"),
        (("-p", "n=true"), "declared int but got bool"),
        (("-p", "n=1.5"), "declared int but got float"),
        (("-p", "flag=1"), "declared bool but got int"),
        (("-p", "n=null"), "declared int but got NoneType"),
        (("-p", "maybe=x"), "declared Optional[int] but got str"),
    ],
)
def test_values_of_the_wrong_type_are_refused(item: tuple[str, str], message: str) -> None:
    with pytest.raises(ParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve(item)


def test_undeclared_names_are_refused_listing_the_declared_ones() -> None:
    with pytest.raises(ParameterError, match=r"does not declare parameter 'dat' \(declared: date, n, ratio"):
        resolve(("-p", "dat=2026-11-20"))
    assert resolve(("-p", "dat=1"), allow=True) == {"dat": 1}


def test_without_a_parameters_cell_any_name_is_accepted() -> None:
    none = params.declaration(None)
    given = values.merge(from_command_line([("-p", "whatever=1")]))
    assert params.resolve(given, none, allow_undeclared=False) == {"whatever": 1}


def test_odd_parameters_cells_are_read_as_far_as_possible() -> None:
    declared = params.declaration("items = [\n  1,\n]  # spans\nbroken = (\nrate: float = 1.5  # r\nif x:\n  y = 1\n")
    assert [p.name for p in declared.parameters] == ["items", "rate"]
    assert declared.get("items").default == [1]  # type: ignore[union-attr]
    assert any("line 4 skipped" in m for m in declared.skipped)
    assert any("not a simple assignment" in m for m in declared.skipped)


@pytest.mark.parametrize(
    "value",
    [
        'it\'s "quoted"\n',
        "北京",
        3,
        -0.5,
        True,
        None,
        [1, "a", None],
        {"k": [1.5, False]},
        float("inf"),
        10**30,
    ],
)
def test_rendered_values_evaluate_back_to_the_same_value(value: object) -> None:
    source = params.render({"v": value})
    namespace: dict[str, object] = {}
    exec(compile(source, "<injected>", "exec"), namespace)  # noqa: S102 - checking the round trip
    assert namespace["v"] == value
    # only literals and float("inf")-style constants: no names other than float
    names = {n.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Name)}
    assert names <= {"v", "float"}


def test_a_value_injection_attempt_stays_a_string() -> None:
    source = params.render({"x": "1\nimport os; os.system('echo pwned')"})
    tree = ast.parse(source)
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Assign)


def test_injection_replaces_an_earlier_injected_cell_after_the_parameters_cell() -> None:
    from nbformat import v4

    nb = v4.new_notebook(cells=[v4.new_code_cell("a"), v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})])
    document.inject(nb, "x = 2\n")
    document.inject(nb, "x = 3\n")
    assert [c.source for c in nb.cells] == ["a", "x = 1", "x = 3\n"]
    assert nb.cells[2].metadata.tags == ["injected-parameters"]


def test_without_a_parameters_cell_injection_goes_to_the_top() -> None:
    from nbformat import v4

    nb = v4.new_notebook(cells=[v4.new_code_cell("a")])
    assert document.inject(nb, "x = 2\n") == 0
    assert nb.cells[0].source == "x = 2\n"


def test_file_values_must_be_a_mapping_of_literals() -> None:
    with pytest.raises(ParameterError, match="expected a mapping"):
        values.from_mapping([1, 2], source="-f p.yaml")
    loaded = values.parse_yaml("date: 2026-11-20\nn: 3\n", source="-f p.yaml")
    assert loaded == {"date": "2026-11-20", "n": 3}
    with pytest.raises(ParameterError, match="not valid YAML"):
        values.parse_yaml("a: [1,\n", source="-f p.yaml")


def test_streaming_writer_writes_exactly_what_nbformat_writes(tmp_path: object) -> None:
    import io
    import json
    from pathlib import Path

    import nbformat
    from nbformat import v4

    for path in sorted((Path(__file__).parent / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(v4.new_code_cell("print(1)", outputs=[v4.new_output("stream", text="a\nb\n")]))
        nb.cells[-1].metadata["trusted"] = True  # transient: never written
        expected = nbformat.writes(nb)
        buffer = io.StringIO()
        document.dump(nb, buffer)
        assert buffer.getvalue() == expected, path.name
        assert nbformat.writes(nb) == expected  # the notebook in memory is left as it was
        assert "trusted" not in json.loads(buffer.getvalue())["cells"][-1]["metadata"]
