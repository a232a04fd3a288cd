"""nbrunner under ``flink run -t local`` against the same notebook as a plain PyFlink script, interleaved.

    .venv/bin/python bench/flink.py [--repeat 7] [--output bench/RESULTS-flink.md]

Needs .venv-flink (bash dev/test.sh makes it). The notebook: a parameter, a SQL query, a Python UDF and a DataStream
map, each a job on a mini-cluster in the client JVM; the plain script is its cells joined, with ``env`` and ``t_env``
made as nbrunner makes them. CPU is the whole process tree's (flink's JVM reaps the Python process, which reaps the
kernel).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from run import WORK, Contender, interleave, make_notebook, median, paired, table, verdict  # noqa: E402

FLINK_VENV = ROOT / ".venv-flink"
PYTHON = FLINK_VENV / "bin" / "python"

CELLS = [
    "rows = [r[0] for r in t_env.execute_sql(f'SELECT x * {factor} FROM (VALUES (1), (2), (3)) AS t(x)').collect()]\n"
    "print(rows)",
    "from pyflink.table import DataTypes\nfrom pyflink.table.udf import udf\n"
    "@udf(result_type=DataTypes.BIGINT())\ndef twice(x):\n    return x * 2\n"
    "t_env.create_temporary_function('twice', twice)\n"
    "print(sorted(r[0] for r in t_env.execute_sql('SELECT twice(x) FROM (VALUES (1), (2)) AS t(x)').collect()))",
    "print(sorted(env.from_collection([1, 2, 3]).map(lambda v: v + 1).execute_and_collect()))",
]
PRELUDE = (
    "from pyflink.datastream import StreamExecutionEnvironment\n"
    "from pyflink.table import EnvironmentSettings, TableEnvironment\n"
    "env = StreamExecutionEnvironment.get_execution_environment()\n"
    "t_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())\n"
    "factor = 2\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS-flink.md"))
    args = parser.parse_args()
    if not PYTHON.exists():
        raise SystemExit("no .venv-flink: bash dev/test.sh makes it")
    (WORK / "out").mkdir(parents=True, exist_ok=True)
    home = subprocess.run([str(PYTHON), "-c", "import pyflink, os; print(os.path.dirname(pyflink.__file__))"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    launcher = subprocess.run([str(FLINK_VENV / "bin" / "nbrunner"), "entrypoint"], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
    notebook = make_notebook(WORK / "flink_features.ipynb", CELLS, parameters="factor = 1")
    script = WORK / "flink_features.py"
    script.write_text(PRELUDE + "\n\n".join(CELLS) + "\n")
    flink = [f"{home}/bin/flink", "run", "-t", "local", "-pyclientexec", str(PYTHON), "-pyexec", str(PYTHON), "-py"]
    env = {"PATH": f"{FLINK_VENV / 'bin'}:/usr/bin:/bin"}
    contenders = [
        Contender("plain flink run -py script.py", lambda r: [*flink, str(script)], env),
        Contender(
            "nbrunner under flink run",
            lambda r: [
                *flink,
                launcher,
                "run",
                str(notebook),
                "-q",
                "-p",
                "factor=2",
                "-o",
                str(WORK / "out" / "flink-nbr.ipynb"),
            ],
            env,
        ),  # fmt: skip
    ]
    interleave(contenders, args.repeat, WORK)
    plain, nbr = contenders
    cpu = paired(nbr, plain, "cpu_s")
    report = [
        f"## 10. PyFlink under flink run (-t local; a SQL query, a Python UDF, a DataStream map; {args.repeat} "
        "interleaved runs each)",
        "",
        f"Command: `.venv/bin/python bench/flink.py --repeat {args.repeat}`.",
        "",
        *table(contenders, base=plain),
        "",
        f"- CPU, median of the run-by-run differences: nbrunner - plain = **{cpu:+.2f} CPU-s** (target <= +0.5: "
        f"{verdict(cpu <= 0.5)}); wall: {paired(nbr, plain):+.2f} s (medians: {median(nbr) - median(plain):+.2f} s)",
        "",
    ]
    Path(args.output).write_text("\n".join(report) + "\n")
    print("\n".join(report))


if __name__ == "__main__":
    main()
