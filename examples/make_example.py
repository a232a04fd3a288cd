"""Regenerate examples/daily_report.ipynb: ``python examples/make_example.py``."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import v4

cells = [
    v4.new_markdown_cell(
        "# Daily report\n\nA small PySpark report: synthetic events for one day, summed by category.\n"
        "Run it with `nbrunner run`: under `spark-submit`, `spark` is predefined and joins the driver's JVM; with\n"
        "`--remote sc://HOST:PORT`, it is nbrunner's Spark Connect session. Either way the builder returns it."
    ),
    v4.new_code_cell(
        'date = "2026-11-20"  # the day to report (YYYY-MM-DD)\n'
        "rows: int = 100_000  # how many synthetic events\n"
        "top: int = 5  # how many categories to show",
        metadata={"tags": ["parameters"]},
    ),
    v4.new_code_cell(
        "from pyspark.sql import SparkSession, functions as F\n\n"
        "spark = SparkSession.builder.getOrCreate()  # under nbrunner: its session, already there\n"
        "# spark.conf rather than sc (spark.sparkContext): Spark Connect has no SparkContext\n"
        "name, app_id, master = (spark.conf.get(f'spark.{key}') for key in ('app.name', 'app.id', 'master'))\n"
        'print(f"app={name} id={app_id} master={master} spark={spark.version}")'
    ),
    v4.new_code_cell(
        "events = (\n"
        "    spark.range(rows)\n"
        '    .withColumn("category", (F.col("id") % 13).cast("string"))\n'
        '    .withColumn("amount", (F.col("id") * 7 % 101).cast("double"))\n'
        ")\n"
        'events.createOrReplaceTempView("events")'
    ),
    v4.new_code_cell(
        "%%sql summary --quiet\n"
        "-- a SQL cell (nbrunner's %%sql): its result is kept in `summary`; :date is the parameter, bound by Spark,\n"
        "-- never pasted into the query text\n"
        "SELECT category, count(*) AS events, round(sum(amount), 2) AS total, :date AS day\n"
        "FROM events\n"
        "GROUP BY category\n"
        "ORDER BY total DESC"
    ),
    v4.new_code_cell("summary.show(top)"),
    v4.new_code_cell(
        "total = events.count()\n"
        'assert total == rows, f"expected {rows} events, counted {total}"\n'
        'print(f"{date}: {total} events in {summary.count()} categories")'
    ),
]
nb = v4.new_notebook(cells=cells)
for number, cell in enumerate(nb.cells):
    cell["id"] = f"daily-report-{number}"
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbformat.write(nb, Path(__file__).parent / "daily_report.ipynb")
