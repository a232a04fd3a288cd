"""SQL cells read statically (nbrunner.magics.markers): markers, statements, %%sql options, the plan's check."""

from __future__ import annotations

from typing import Any

import pytest

from nbrunner.errors import ParameterError
from nbrunner.magics.markers import assigned, check, markers, sql_cells, sql_options, statements


def test_markers_are_named_once_in_order_of_use() -> None:
    assert markers("SELECT * FROM IDENTIFIER(:table) WHERE a = :region AND b IN (:region, :b_2)") == [
        "table", "region", "b_2"]  # fmt: skip


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT ':quoted'",
        'SELECT ":double"',
        "SELECT 'it\\'s :escaped'",
        "SELECT `:backtick`",
        "SELECT 1 -- :comment",
        "SELECT /* :block */ 1",
        "SELECT /* outer /* :nested */ :still_comment */ 1",
        "SELECT x::int, '10:30'",
        "SELECT :1",
    ],
)
def test_no_marker_in_quotes_comments_or_casts(sql: str) -> None:
    assert markers(sql) == []


def test_markers_after_quotes_and_comments_are_found() -> None:
    assert markers("SELECT 'a' || :x -- c\n, /* d */ :y, `e` = :z, r'\\' = :w") == ["x", "y", "z", "w"]


def test_statements_split_at_semicolons_outside_quotes_and_comments() -> None:
    sql = "SET a = 1;\n-- only a comment;\n; SELECT ';' AS s /* ; */;\n  /* trailing */ \n"
    assert statements(sql) == ["SET a = 1", "SELECT ';' AS s /* ; */"]
    assert statements("-- nothing\n") == []


def test_sql_options() -> None:
    assert sql_options("") == sql_options("   ")
    assert sql_options("").variable == "_sqldf"
    found = sql_options("totals --preview 5 --cache --quiet")
    assert (found.variable, found.preview, found.cache, found.quiet) == ("totals", 5, True, True)
    assert sql_options("--preview=3").preview == 3
    for bad, said in [("--preview x", "number of rows"), ("--nope", "unknown option"), ("a b", "one variable"),
                      ("1x", "Python name")]:  # fmt: skip
        with pytest.raises(ValueError, match=said):
            sql_options(bad)


def test_assigned_names_and_what_hides_them() -> None:
    assert assigned("a = 1\nb, (c, d) = f()\nfor e in x: pass\nimport os.path as p, sys\ndef g(): h = 1") == (
        {"a", "b", "c", "d", "e", "p", "sys", "g", "h"}, None)  # fmt: skip
    assert assigned("!ls\nx = !ls")[0] == {"x"}
    assert assigned("%%sql counts\nSELECT 1") == ({"counts"}, None)
    assert assigned("%%capture out\ny = 1") == ({"out", "y"}, None)
    assert assigned("%%bash\necho") == (set(), None)
    for code, why in [("%run helpers.py", "%run"), ("from m import *", "import *"), ("exec('x=1')", "exec()"),
                      ("%%mystery\nx", "%%mystery"), ("def (", "does not parse")]:  # fmt: skip
        found = assigned(code)[1]
        assert found is not None and why in found, (code, found)


def cell(source: str, *tags: str, kind: str = "code") -> dict[str, Any]:
    return {"cell_type": kind, "source": source, "metadata": {"tags": list(tags)}}


def test_check_passes_markers_from_parameters_and_earlier_cells() -> None:
    cells = [cell("region = 'x'", "parameters"), cell("limit = 3"),
             cell("%%sql rows\nSELECT :region, :limit, :day"), cell("%%sql\nSELECT * FROM :rows")]  # fmt: skip
    assert check(cells, {"day": "2026-11-20"}) == []


def test_check_refuses_a_marker_nothing_provides() -> None:
    cells = [cell("region = 'x'", "parameters"), cell("%%sql\nSELECT :region, :missing -- :not_this"),
             cell("%%sql\nSELECT :later"), cell("later = 1")]  # fmt: skip
    with pytest.raises(ParameterError) as e:
        check(cells, {})
    assert str(e.value).startswith("SQL markers with no value: cell 1 uses :missing; cell 2 uses :later:")
    assert e.value.exit_code == 3


def test_check_warns_when_an_earlier_cell_cannot_be_read() -> None:
    cells = [cell("%run setup.py"), cell("%%sql\nSELECT :maybe")]
    [warning] = check(cells, {})
    assert "cell 1 (%%sql)" in warning and ":maybe" in warning and "cell 0: %run" in warning


def test_skipped_cells_and_markdown_count_for_nothing() -> None:
    cells = [cell("x = 1", "skip-execution"), cell("x = 1", kind="markdown"),
             cell("%%sql\nSELECT :x", "skip-execution"), cell("%%sql\nSELECT :x")]  # fmt: skip
    with pytest.raises(ParameterError, match="cell 3 uses :x"):
        check(cells, {})
    assert check(cells[1:], {"x": 1}) == []  # no parameters cell: injected at the top


def test_sql_cells_for_inspect() -> None:
    cells = [cell("a = 1"), cell("\n%%sql t --preview 2\nSELECT :a, :b"), cell("%%sql --bad\nSELECT 1")]
    assert sql_cells(cells) == [
        {"cell": 1, "variable": "t", "markers": ["a", "b"]},
        {"cell": 2, "variable": "_sqldf", "markers": [], "error": "%%sql: unknown option --bad (use [VAR] "
         "[--preview N] [--cache] [--quiet])"},
    ]  # fmt: skip


def test_spark_settings_from_the_line_and_the_body() -> None:
    from nbrunner.magics.cells import spark_options

    body = "# spark-defaults.conf's way\nspark.a 1\nspark.b=x=y\nspark.c = two words\n"
    assert spark_options("--conf spark.d=4 --name=app", body) == (
        [("spark.d", "4"), ("spark.a", "1"), ("spark.b", "x=y"), ("spark.c", "two words")], "app")  # fmt: skip
    for line, body, said in [("--conf nokey", "", "expected KEY=VALUE"), ("--nope", "", "unknown argument"),
                             ("--name", "", "a value is missing"), ("", "lonely", "KEY VALUE")]:  # fmt: skip
        with pytest.raises(Exception, match=said):
            spark_options(line, body)


def test_preview_tables_escape_every_value() -> None:
    from nbrunner.magics.cells import html_table, text_table

    page = html_table(["<a>", "n"], [["<script>x</script>", None]], more=True)
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page and "<td>NULL</td>" in page
    assert "the first 1 rows" in page
    assert text_table(["a", "n"], [["xy", 1]], more=False) == "+--+-+\n| a|n|\n+--+-+\n|xy|1|\n+--+-+"
