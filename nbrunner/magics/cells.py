"""In the kernel: the ``%%spark`` and ``%%sql`` cell magics (IPython and pyspark imported only when a cell runs).

``%%sql`` binds every ``:name`` marker from the notebook's variable of that name through ``spark.sql(args=...)``,
never by formatting the query. ``%%spark`` uses the session there is (spark-submit's, Spark Connect's, the
notebook's own) or, with none, builds one; a static setting it cannot apply is said in the cell's output and kept in
the run record's outputs as ``spark_conf_ignored``.
"""

from __future__ import annotations

import html
import re
import shlex
from typing import Any

from nbrunner.magics import markers

#: the record's output (``nbrunner.output``) that lists the static settings %%spark could not apply
IGNORED_OUTPUT = "spark_conf_ignored"
#: settings fixed when the application starts that ``spark.conf.set`` takes without complaint, to no effect
_FIXED = frozenset({"spark.app.name", "spark.master", "spark.submit.deployMode", "spark.remote", "spark.api.mode"})
_ignored: dict[str, dict[str, str | None]] = {}  # over the kernel's life: every %%spark cell's, in the record


class SqlError(Exception):
    """A query Spark refused, as the notebook and the run record show it: the error class and its message, with
    no Py4J or gRPC trace (pyspark's exception is kept as ``spark_error``)."""

    def __init__(self, message: str, error_class: str | None, spark_error: BaseException):
        super().__init__(message)
        self.error_class = error_class
        self.spark_error = spark_error

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return [f"{type(self).__name__}: {self}"]


def _usage(message: str) -> Exception:
    from IPython.core.error import UsageError

    return UsageError(message)


def _session(shell: Any) -> Any:
    """The notebook's ``spark`` if it is a SparkSession, else pyspark's active session, else None."""
    candidate = shell.user_ns.get("spark")
    if type(candidate).__name__ == "SparkSession" and callable(getattr(candidate, "sql", None)):
        return candidate
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def spark_options(line: str, body: str) -> tuple[list[tuple[str, str]], str | None]:
    """``--conf K=V`` (repeatable) and ``--name APP`` from the line, and ``K=V`` (or ``K V``) lines from the body,
    as spark-defaults.conf has them (``#`` comments)."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        raise _usage(f"%%spark {line}: {e}") from None
    settings: list[tuple[str, str]] = []
    name = None
    while words:
        word = words.pop(0)
        option, _, value = word.partition("=")
        if option not in ("--conf", "--name"):
            raise _usage(f"%%spark: unknown argument {word} (use [--conf K=V ...] [--name APP])")
        if not value:
            if not words:
                raise _usage(f"%%spark {option}: a value is missing")
            value = words.pop(0)
        if option == "--name":
            name = value
            continue
        key, sep, setting = value.partition("=")
        if not sep or not key.strip():
            raise _usage(f"%%spark --conf {value}: expected KEY=VALUE")
        settings.append((key.strip(), setting))
    for text in body.splitlines():
        text = text.strip()
        if text and not text.startswith("#"):
            found = re.match(r"([^\s=]+)\s*(?:=|\s)\s*(.*)", text)  # KEY=VALUE or KEY VALUE: the first = or space
            if found is None:
                raise _usage(f"%%spark: expected KEY=VALUE or KEY VALUE, not {text!r}")
            settings.append((found.group(1), found.group(2).strip()))
    return settings, name


def spark_magic(shell: Any, line: str, body: str) -> None:
    """``%%spark [--conf K=V ...] [--name APP]``: settings for the one session."""
    settings, name = spark_options(line, body)
    spark = _session(shell)
    if spark is None:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder
        for key, value in settings:
            builder = builder.config(key, value)
        if name is not None:
            builder = builder.appName(name)
        spark = builder.getOrCreate()
        shell.user_ns["spark"] = spark
        try:
            shell.user_ns["sc"] = spark.sparkContext
        except Exception:  # noqa: S110 - Spark Connect has no SparkContext
            pass
        print(f"%%spark: a new session, {len(settings)} settings, app {spark.conf.get('spark.app.name', None)}")
        return
    ignored: dict[str, dict[str, str | None]] = {}
    applied = []
    if name is not None:
        settings = [*settings, ("spark.app.name", name)]
    for key, value in settings:
        running = spark.conf.get(key, None)
        if key not in _FIXED:
            try:
                spark.conf.set(key, value)
                applied.append(f"{key}={value}")
                continue
            except Exception as e:  # CANNOT_MODIFY_CONFIG, CANNOT_MODIFY_STATIC_CONFIG: fixed at start-up
                if not str(_error_class(e)).startswith("CANNOT_MODIFY"):
                    raise
        if running != value:
            ignored[key] = {"asked": value, "running": running}
    if applied:
        print(f"%%spark: set {', '.join(applied)}")
    if ignored:
        _ignored.update(ignored)
        _report(ignored)


def _report(ignored: dict[str, dict[str, str | None]]) -> None:
    from IPython.display import display

    from nbrunner.inside import output_bundle

    lines = [
        f"%%spark: static setting {key}={said['asked']} NOT applied: the running application has "
        f"{said['running'] if said['running'] is not None else '(not set)'}"
        for key, said in ignored.items()
    ]
    lines.append("static settings are fixed when the application starts: give them to spark-submit (--conf K=V)")
    bundle, metadata = output_bundle(IGNORED_OUTPUT, dict(_ignored))
    bundle["text/plain"] = "\n".join(lines)
    metadata["nbrunner"] = {IGNORED_OUTPUT: ignored}
    display(bundle, metadata=metadata, raw=True)


def _error_class(error: BaseException) -> str | None:
    for method in ("getCondition", "getErrorClass"):
        found = getattr(error, method, None)
        if callable(found):
            try:
                value = found()
            except Exception:  # noqa: S112 - an error without one
                continue
            if value:
                return str(value)
    return None


def clean_message(error: BaseException, error_class: str | None) -> str:
    """Spark's message without its ``[CLASS]`` prefix, logical plan, SQL context's trailing space or JVM trace."""
    text = str(error).strip()
    if error_class and text.startswith(f"[{error_class}]"):
        text = text[len(error_class) + 2 :].strip()
    kept = []
    for line in text.splitlines():
        if line.startswith(("'", "+-", ":-", "JVM stacktrace:", "\tat ")):
            break
        kept.append(line.rstrip())
    return "\n".join(kept).strip().rstrip(";")


def sql_magic(shell: Any, line: str, body: str) -> None:
    """``%%sql [VAR] [--preview N] [--cache] [--quiet]``: the cell's statements in order, markers bound."""
    try:
        options = markers.sql_options(line)
    except ValueError as e:
        raise _usage(str(e)) from None
    found = markers.statements(body)
    if not found:
        raise _usage("%%sql: the cell has no SQL statement")
    missing = [name for name in markers.markers(body) if name not in shell.user_ns]
    if missing:
        said = ", ".join(f":{name}" for name in missing)
        raise _usage(f"%%sql: no variable for the marker {said}: define {', '.join(missing)} in an earlier cell "
                     "or pass it as a parameter")  # fmt: skip
    spark = _session(shell)
    if spark is None:
        raise _usage("%%sql: there is no Spark session (spark); start one with a %%spark cell")
    df = None
    for number, statement in enumerate(found, 1):
        names = markers.markers(statement)
        try:
            if names:
                df = spark.sql(statement, args={name: shell.user_ns[name] for name in names})
            else:
                df = spark.sql(statement)
        except Exception as e:
            error_class = _error_class(e)
            if error_class is None:
                raise
            first, _, rest = clean_message(e, error_class).partition("\n")
            where = f" (statement {number} of {len(found)})" if len(found) > 1 else ""
            message = f"{error_class}: {first}{where}" + (f"\n{rest}" if rest else "")
            raise SqlError(message, error_class, e) from None
    assert df is not None  # noqa: S101 - found is not empty
    if options.cache:
        df = df.cache()
    shell.user_ns[options.variable] = df
    if options.quiet:
        return None
    from IPython.display import display

    if options.preview is None:
        display({"text/plain": f"{options.variable} = {df}"}, raw=True)
        return None
    rows = [list(row) for row in df.limit(options.preview + 1).collect()]
    more = len(rows) > options.preview
    rows = rows[: options.preview]
    display({"text/html": html_table(df.columns, rows, more), "text/plain": text_table(df.columns, rows, more)},
            raw=True)  # fmt: skip
    return None


def _shown(value: Any) -> str:
    return "NULL" if value is None else str(value)


def html_table(columns: list[str], rows: list[list[Any]], more: bool) -> str:
    """Rows as an HTML table: every name and value escaped (data is text, never markup)."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_shown(v))}</td>" for v in row) + "</tr>" for row in rows)
    note = f"<p>the first {len(rows)} rows</p>" if more else ""
    return f'<table class="nbrunner-sql"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}'


def text_table(columns: list[str], rows: list[list[Any]], more: bool, width: int = 40) -> str:
    """Rows as text, as ``DataFrame.show`` draws them (values cut at ``width`` characters)."""
    cells = [[_cut(name, width) for name in columns], *[[_cut(_shown(v), width) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    rule = "+" + "+".join("-" * w for w in widths) + "+"
    lines = [rule, "|" + "|".join(c.rjust(w) for c, w in zip(cells[0], widths, strict=True)) + "|", rule]
    lines += ["|" + "|".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + "|" for row in cells[1:]]
    lines.append(rule)
    if more:
        lines.append(f"only showing the first {len(rows)} rows")
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 3] + "..."


def register(shell: Any) -> None:
    """``%%spark`` and ``%%sql`` in ``shell`` (registering again replaces them)."""

    def spark(line: str, cell: str | None = None) -> None:  # %spark on one line too: IPython runs no empty %%cell
        spark_magic(shell, line, cell or "")

    def sql(line: str, cell: str) -> None:
        sql_magic(shell, line, cell)

    spark.__doc__, sql.__doc__ = spark_magic.__doc__, sql_magic.__doc__
    shell.register_magic_function(spark, "line_cell", "spark")
    shell.register_magic_function(sql, "cell", "sql")
