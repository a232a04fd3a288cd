"""%%sql and %%spark cells (issue 35): the same notebook in a plain ipykernel with ``%load_ext nbrunner`` and its own
local SparkSession, and under real spark-submit; the plan's refusal of a marker nothing provides; inspect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.conftest import read_nb, run_cli
from tests.spark_support import spark_env, spark_submit
from tests.test_run import outputs_text

HOSTILE = "x' OR '1'='1"
SPARK_CELL = ("%%spark --conf spark.master=local[1] --conf spark.sql.shuffle.partitions=3 --name sql-cells\n"
              "# settings on their own lines too, as spark-defaults.conf has them\n"
              "spark.ui.enabled false\nspark.ui.showConsoleProgress=false\nspark.executor.memory=3g")  # fmt: skip


def write(path: Path, *cells: str, parameters: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    made = [nbformat.v4.new_code_cell(source) for source in cells]
    if parameters is not None:
        made.insert(1, nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells = made
    nbformat.write(nb, path)
    return path


def sql_notebook(path: Path) -> Path:
    return write(
        path,
        "%load_ext nbrunner",
        SPARK_CELL,
        "print('partitions', spark.conf.get('spark.sql.shuffle.partitions'))\n"
        "rows = [('east', 1), ('west', 2), ('east', 3), ('<b>x</b>', 4)]\n"
        "spark.createDataFrame(rows, 'region string, amount int').createOrReplaceTempView('sales')",
        "%%sql by_region --preview 5 --cache\n-- :not_a_marker in a comment\n"
        "SELECT region, sum(amount) AS total, ':nor_this' AS s\nFROM IDENTIFIER(:table) WHERE region = :region\n"
        "GROUP BY region",
        "print('rows', [tuple(r) for r in by_region.collect()], 'cached', by_region.is_cached)",
        "%%sql --quiet\nSET nbrunner.sql.test = 1;\nSELECT count(*) AS n FROM sales WHERE region = :hostile;",
        "print('hostile', _sqldf.collect()[0].n)",
        "%%sql everything --preview 2\nSELECT region FROM sales ORDER BY amount DESC",
        "%%sql\nSELECT * FROM no_such_table",
        parameters=f"region = 'east'\nhostile = {HOSTILE!r}\ntable = 'sales'",
    )


def cell_with(nb: Any, text: str) -> Any:
    return next(cell for cell in nb.cells if cell.cell_type == "code" and cell.source.startswith(text))


def shown(cell: Any, kind: str = "display_data") -> list[Any]:
    """The cell's outputs of one kind (a kernel with its own JVM also gets the JVM's log lines on stderr)."""
    return [output for output in cell.outputs if output.output_type == kind]


def check_sql_cells(nb: Any, region_rows: list[tuple[Any, ...]]) -> None:
    """What both ways of running the notebook show, up to its failing last cell."""
    assert "partitions 3" in outputs_text(cell_with(nb, "print('partitions'"))
    assert f"rows {region_rows} cached True" in outputs_text(cell_with(nb, "print('rows'"))
    (preview,) = shown(cell_with(nb, "%%sql by_region"))
    assert "<th>region</th><th>total</th><th>s</th>" in preview.data["text/html"]
    assert "|region|total|" in preview.data["text/plain"].replace(" ", "")
    assert shown(cell_with(nb, "%%sql --quiet")) == []
    assert "hostile 0" in outputs_text(cell_with(nb, "print('hostile'"))
    (table,) = shown(cell_with(nb, "%%sql everything"))
    assert "<td>&lt;b&gt;x&lt;/b&gt;</td>" in table.data["text/html"] and "<b>" not in table.data["text/html"]
    assert "the first 2 rows" in table.data["text/html"] and "only showing the first 2 rows" in table.data["text/plain"]
    (error,) = shown(cell_with(nb, "%%sql\nSELECT * FROM no_such"), "error")
    assert error.ename == "SqlError"
    assert error.evalue.startswith("TABLE_OR_VIEW_NOT_FOUND: The table or view `no_such_table` cannot be found")
    assert error.traceback == [f"SqlError: {error.evalue}"]
    assert "py4j" not in json.dumps(error).lower()


@pytest.mark.spark
def test_a_plain_ipykernel_with_load_ext_runs_sql_cells_on_its_own_session(tmp_path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(sql_notebook(tmp_path / "sql.ipynb"), as_version=4)
    # what the plan would refuse, met in the kernel: one line each, the cell stopped
    extra = ["%%sql\nSELECT 1 AS one", "%%sql\nSELECT :not_defined", "%%sql --preview x\nSELECT 1", "%spark"]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in extra]
    NotebookClient(nb, kernel_name="python3", timeout=300, allow_errors=True, resources={
        "metadata": {"path": str(tmp_path)}}).execute(env=spark_env())  # fmt: skip
    check_sql_cells(nb, [("east", 4, ":nor_this")])
    said = [outputs_text(cell) for cell in nb.cells[-4:]]
    assert said[0] == "_sqldf = DataFrame[one: int]"
    assert said[1] == ("UsageError: %%sql: no variable for the marker :not_defined: define not_defined in an earlier "
                       "cell or pass it as a parameter\n")  # fmt: skip
    assert said[2] == "UsageError: %%sql --preview N: N must be a number of rows, not 'x'\n"
    assert said[3] == ""  # %spark with nothing to set, on the session there is: nothing to say
    assert outputs_text(cell_with(nb, "%%spark")).endswith("%%spark: a new session, 5 settings, app sql-cells\n")


@pytest.mark.spark
def test_the_same_notebook_under_spark_submit(tmp_path: Path) -> None:
    out = tmp_path / "out.ipynb"
    result = spark_submit(
        "run", str(sql_notebook(tmp_path / "sql.ipynb")), "-p", "region=west", "-p", f"hostile={HOSTILE}",
        "-o", str(out), master="local[1]", spark_args=("--conf", "spark.ui.enabled=false"),
    )  # fmt: skip
    assert result.code == 4, result.stderr[-3000:]
    nb = read_nb(out)
    check_sql_cells(nb, [("west", 2, ":nor_this")])
    assert cell_with(nb, "%%sql by_region").metadata.nbrunner["spark_job_ids"]  # its jobs labelled as any cell's
    # %%spark: the runtime setting applied to spark-submit's one application, the static ones reported, not applied
    record = result.record
    app = record["spark"]["application_name"]
    ignored = {"spark.executor.memory": {"asked": "3g", "running": None},
               "spark.app.name": {"asked": "sql-cells", "running": app}}  # fmt: skip
    assert record["outputs"] == {"spark_conf_ignored": ignored}
    said = outputs_text(cell_with(nb, "%%spark"))
    assert "%%spark: set spark.sql.shuffle.partitions=3" in said
    assert "static setting spark.executor.memory=3g NOT applied: the running application has (not set)" in said
    assert f"static setting spark.app.name=sql-cells NOT applied: the running application has {app}" in said
    # the failing query: its Spark error class and message in the record and the banner, no Py4J trace
    failed = record["failed_cell"]
    assert failed["ename"] == "SqlError" and failed["evalue"].startswith("TABLE_OR_VIEW_NOT_FOUND: The table")
    assert record["message"].startswith(f"cell {failed['index']} failed: SqlError: TABLE_OR_VIEW_NOT_FOUND: ")
    assert "TABLE_OR_VIEW_NOT_FOUND: The table or view `no_such_table` cannot be found" in nb.cells[0].source
    assert "py4j" not in (record["message"] + failed["evalue"]).lower()


def test_the_plan_refuses_a_marker_nothing_provides_before_anything_runs(tmp_path: Path) -> None:
    nb = write(tmp_path / "missing.ipynb", "x = 1", "%%sql\nSELECT :region, :x, ':quoted', :nope -- :commented",
               parameters="region = 'east'")  # fmt: skip
    out = tmp_path / "out.ipynb"
    result = run_cli("run", str(nb), "-o", str(out))
    assert result.code == 3, result.stderr
    assert "SQL markers with no value: cell 2 uses :nope:" in result.stderr
    assert result.record["exit_code"] == 3 and not out.exists()
    # a parameter provides it (-p, undeclared allowed), or an earlier cell nbrunner cannot read may: a warning
    given = run_cli("run", str(nb), "-p", "nope=1", "--allow-undeclared", "--prepare-only", "-o", str(out))
    assert given.code == 0, given.stderr
    hidden = write(tmp_path / "hidden.ipynb", "from helpers import *", "%%sql\nSELECT :nope")
    warned = run_cli("run", str(hidden), "--prepare-only", "-o", str(tmp_path / "hidden.out.ipynb"))
    assert warned.code == 0 and "cell 1 (%%sql)" in warned.stderr and "import *" in warned.stderr


def test_inspect_lists_each_sql_cells_markers(tmp_path: Path) -> None:
    nb = sql_notebook(tmp_path / "sql.ipynb")
    result = run_cli("inspect", str(nb), "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["sql_cells"] == [
        {"cell": 4, "variable": "by_region", "markers": ["table", "region"]},
        {"cell": 6, "variable": "_sqldf", "markers": ["hostile"]},
        {"cell": 8, "variable": "everything", "markers": []},
        {"cell": 9, "variable": "_sqldf", "markers": []},
    ]
    table = run_cli("inspect", str(nb))
    assert "SQL cell 4 -> by_region: :table, :region\n" in table.stdout


@pytest.mark.connect
def test_the_same_notebook_on_a_spark_connect_server(tmp_path: Path) -> None:
    from tests.connect_support import connect_server

    servers = connect_server(tmp_path)
    server = next(servers)
    try:
        out = tmp_path / "out.ipynb"
        result = run_cli("run", str(sql_notebook(tmp_path / "sql.ipynb")), "--remote", server.url, "-o", str(out),
                         timeout=300)  # fmt: skip
        assert result.code == 4, result.stderr[-3000:]
        nb = read_nb(out)
        check_sql_cells(nb, [("east", 4, ":nor_this")])
        ignored = result.record["outputs"]["spark_conf_ignored"]
        assert ignored["spark.master"] == {"asked": "local[1]", "running": "local[2]"}
        assert ignored["spark.executor.memory"]["asked"] == "3g" and "spark.sql.shuffle.partitions" not in ignored
        failed = result.record["failed_cell"]
        assert failed["ename"] == "SqlError" and failed["evalue"].startswith("TABLE_OR_VIEW_NOT_FOUND: The table")
        assert "grpc" not in failed["evalue"].lower()
    finally:
        servers.close()
