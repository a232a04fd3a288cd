"""nbrunner against papermill, a bare ExecutePreprocessor and plain spark-submit, side by side.

    .venv/bin/python bench/run.py            # the full benchmark (under 15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # a quick subset

Each contender runs several times, interleaved (A B C A B C ...), so machine drift hits all alike. Wall time is the
whole process, peak RSS the runner process's own high-water mark (VmHWM from /proc, sampled until it exits).
Writes bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from tests import azure_support, counting_proxy, gcs_support, s3_server  # noqa: E402


@dataclass
class Sample:
    seconds: float
    peak_rss_mb: float
    code: int
    cpu_s: float = 0.0  # user + system CPU of the process and every descendant it reaped (os.wait4)


@dataclass
class Contender:
    name: str
    command: Callable[[int], list[str]]  # run number -> argv
    env: dict[str, str] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)


def measure(argv: list[str], env: dict[str, str], cwd: Path) -> Sample:
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    peak = 0
    status = Path(f"/proc/{proc.pid}/status")
    while True:
        pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:  # reaped here, so its rusage (its own and its reaped children's) is ours to read
            proc.returncode = os.waitstatus_to_exitcode(wait_status)
            break
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.02)
    cpu = usage.ru_utime + usage.ru_stime
    return Sample(time.perf_counter() - started, peak / 1024, proc.returncode, cpu)


Measure = Callable[[list[str], dict[str, str], Path], Sample]


def interleave(contenders: list[Contender], repeat: int, cwd: Path, how: Measure = measure) -> None:
    for run in range(repeat):
        for contender in contenders:
            sample = how(contender.command(run), contender.env, cwd)
            if sample.code != 0:
                raise SystemExit(f"{contender.name} failed with exit code {sample.code}: {contender.command(run)}")
            contender.samples.append(sample)
            print(
                f"  {contender.name:<34} run {run + 1}: {sample.seconds:7.2f} s {sample.cpu_s:7.2f} CPU-s "
                f"{sample.peak_rss_mb:8.1f} MB",
                flush=True,
            )


def cpu_median(contender: Contender) -> float:
    return statistics.median(s.cpu_s for s in contender.samples)


def median(contender: Contender) -> float:
    return statistics.median(s.seconds for s in contender.samples)


def table(contenders: list[Contender], base: Contender | None = None) -> list[str]:
    lines = ["| contender | median s | min s | max s | ratio | CPU s (median) | peak RSS MB (median) |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for c in contenders:
        times = [s.seconds for s in c.samples]
        ratio = f"{median(c) / median(base):.2f}" if base is not None else "-"
        rss = statistics.median(s.peak_rss_mb for s in c.samples)
        cpu = statistics.median(s.cpu_s for s in c.samples)
        lines.append(f"| {c.name} | {median(c):.2f} | {min(times):.2f} | {max(times):.2f} | {ratio} | {cpu:.2f} "
                     f"| {rss:.0f} |")  # fmt: skip
    return lines


def make_notebook(path: Path, sources: list[str], parameters: str | None = None) -> Path:
    import nbformat
    from nbformat import v4

    cells = [v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})] if parameters else []
    cells += [v4.new_code_cell(source) for source in sources]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def nbrunner(*args: str) -> list[str]:
    return [str(BIN / "nbrunner"), "run", *args, "-q"]


def papermill(*args: str) -> list[str]:
    return [str(BIN / "papermill"), *args, "--no-progress-bar", "-k", "python3"]


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def trivial_notebook() -> Path:
    """The 300 trivial cells of sections 1, 2 and 2b."""
    return make_notebook(WORK / "trivial.ipynb", [f"x = {i}" for i in range(300)])


def bench_trivial(repeat: int, report: list[str]) -> None:
    print("300 trivial cells, local output", flush=True)
    nb = trivial_notebook()
    contenders = [
        Contender("nbrunner", lambda r: nbrunner(str(nb), "-o", str(WORK / "out/nbr-trivial.ipynb"))),
        Contender("papermill", lambda r: papermill(str(nb), str(WORK / "out/pm-trivial.ipynb"))),
        Contender("bare ExecutePreprocessor", lambda r: [sys.executable, str(ROOT / "bench/bare_ep.py"), str(nb),
                                                          str(WORK / "out/ep-trivial.ipynb")]),
    ]  # fmt: skip
    interleave(contenders, repeat, WORK)
    nbr, pm, ep = contenders
    report += ["## 1. 300 trivial cells, local output", "", *table(contenders, base=ep), ""]
    report += [
        f"- nbrunner / papermill = **{median(nbr) / median(pm):.2f}** "
        f"(target <= 0.25: {verdict(median(nbr) <= 0.25 * median(pm))})",
        f"- nbrunner / bare ExecutePreprocessor = **{median(nbr) / median(ep):.2f}** "
        f"(target <= 1.15: {verdict(median(nbr) <= 1.15 * median(ep))})",
        f"- CPU: nbrunner {cpu_median(nbr):.2f} CPU-s, bare ExecutePreprocessor {cpu_median(ep):.2f}: "
        f"**{cpu_median(nbr) / cpu_median(ep):.2f}x** (target <= 1.05x: "
        f"{verdict(cpu_median(nbr) <= 1.05 * cpu_median(ep))})",
        "- nbrunner also writes the HTML rendering and the run record; the bare script writes only the notebook.",
        "",
    ]  # fmt: skip


def bench_s3(report: list[str]) -> None:
    print("300 trivial cells to S3 (moto on 127.0.0.1)", flush=True)
    server = s3_server.start()
    try:
        server.client().create_bucket(Bucket="bench")
        nb = WORK / "trivial.ipynb"
        env = {**server.env(), "BOTO3_ENDPOINT_URL": server.url, "NBRUNNER_SPOOL": str(WORK / "spool")}
        rows = [
            "| runner | PUTs of the notebook object | bytes uploaded for it | all PUTs | seconds |",
            "|---|---|---|---|---|",
        ]
        counts = {}
        for name, argv in [
            ("nbrunner", nbrunner(str(nb), "-o", "s3://bench/nbr/trivial.ipynb")),
            ("papermill", papermill(str(nb), "s3://bench/pm/trivial.ipynb")),
        ]:
            server.clear()
            sample = measure(argv, env, WORK)
            if sample.code != 0:
                raise SystemExit(f"{name} failed on S3 with exit code {sample.code}")
            puts = server.puts("bench")
            nb_puts = [p for p in puts if p.path.endswith(".ipynb")]
            counts[name] = len(nb_puts)
            rows.append(
                f"| {name} | {len(nb_puts)} | {sum(p.bytes for p in nb_puts):,} | {len(puts)} | {sample.seconds:.2f} |"
            )
            print(f"  {name}: {len(nb_puts)} notebook PUTs", flush=True)
    finally:
        server.stop()
    report += ["## 2. The same notebook to S3", "", *rows, ""]
    report += [f"- nbrunner: {counts['nbrunner']} PUT(s) of the notebook (target <= 3: "
               f"{verdict(counts['nbrunner'] <= 3)}); papermill: {counts['papermill']}.", ""]  # fmt: skip


def bench_stores(repeat: int, report: list[str]) -> None:
    """Section 1's notebook to s3:// (moto), gs:// (fake-gcs-server) and abfs:// (Azurite), all on 127.0.0.1, and to
    a local folder, interleaved: wall time, and the uploads of the notebook object and the bytes each store received
    for it, counted at the store's door (moto's counting middleware; a counting proxy in front of the other two)."""
    print("300 trivial cells to s3://, gs:// and abfs:// (emulators on 127.0.0.1)", flush=True)
    load = os.getloadavg()[0]
    nb = trivial_notebook()
    with contextlib.ExitStack() as running:  # each emulator and proxy stopped however this ends
        s3 = s3_server.start()
        running.callback(s3.stop)
        gcs = gcs_support.start()
        running.callback(gcs.kill)
        azurite = azure_support.start(WORK / "azurite")
        running.callback(azurite.kill)
        gcs_door = counting_proxy.start(gcs.url, counting_proxy.gcs_upload)
        running.callback(gcs_door.stop)
        azure_door = counting_proxy.start(f"http://127.0.0.1:{azurite.port}", counting_proxy.azure_upload)
        running.callback(azure_door.stop)
        s3.client().create_bucket(Bucket="bench")
        gcs.client().create_bucket("bench")
        azurite.client().create_container("bench")
        spool = {"NBRUNNER_SPOOL": str(WORK / "spool")}
        stores = {  # scheme -> (the run's environment, the uploads to bucket 'bench' as (object, bytes))
            "s3": (s3.env(), lambda: [(r.path, r.bytes) for r in s3.puts("bench")]),
            "gs": (gcs_support.GcsServer(gcs_door.url, gcs.proc).env(),
                   lambda: [(r.uploads, r.object_bytes) for r in gcs_door.uploads("bench")]),
            "abfs": (azure_support.Azurite(azure_door.port, azurite.proc).env(),
                     lambda: [(r.uploads, r.object_bytes) for r in azure_door.uploads("bench")]),
        }  # fmt: skip
        counts: dict[str, list[tuple[int, int, int]]] = {scheme: [] for scheme in stores}

        def counted(argv: list[str], env: dict[str, str], cwd: Path) -> Sample:
            output = argv[argv.index("-o") + 1]
            scheme = output.split("://")[0] if "://" in output else None
            for clear in (s3.clear, gcs_door.clear, azure_door.clear):
                clear()
            sample = measure(argv, env, cwd)
            if scheme is not None:
                uploads = stores[scheme][1]()
                mine = [size for name, size in uploads if name == "/bench/nbr/trivial.ipynb"]
                counts[scheme].append((len(mine), sum(mine), len(uploads)))
            return sample

        contenders = [Contender("nbrunner, local folder", lambda r: nbrunner(str(nb), "-o", str(WORK / "out/st.ipynb")),
                                spool)]  # fmt: skip
        contenders += [Contender(f"nbrunner, {scheme}://", lambda r, s=scheme: nbrunner(str(nb), "-o",
                                 f"{s}://bench/nbr/trivial.ipynb"), {**env, **spool})
                       for scheme, (env, _) in stores.items()]  # fmt: skip
        interleave(contenders, repeat, WORK, how=counted)
    local = contenders[0]
    rows = ["| store (emulator) | uploads of the notebook object | bytes received for it | all uploads | "
            "median s | minus the local folder, s (paired median) |", "|---|---|---|---|---|---|"]  # fmt: skip
    emulators = {"s3": "moto", "gs": "fake-gcs-server", "abfs": "Azurite"}
    for contender, (scheme, found) in zip(contenders[1:], counts.items(), strict=True):
        each = [statistics.median(column) for column in zip(*found, strict=True)]
        rows.append(f"| {scheme}:// ({emulators[scheme]}) | {each[0]:.0f} | {each[1]:,.0f} | {each[2]:.0f} | "
                    f"{median(contender):.2f} | {paired(contender, local):+.2f} |")  # fmt: skip
    worst = max(n for found in counts.values() for n, _, _ in found)
    report += [f"## 2b. The same notebook to s3://, gs:// and abfs:// ({repeat} interleaved runs each; load average "
               f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)", "",
               *table(contenders, base=local), "", *rows, "",
               f"- uploads of the notebook object, every run and store: at most {worst} (target <= 3: "
               f"{verdict(worst <= 3)}); per run: "
               + "; ".join(f"{scheme}:// {', '.join(str(n) for n, _, _ in found)}" for scheme, found in counts.items()),
               ""]  # fmt: skip


def bench_large(repeat: int, sizes_mb: list[int], report: list[str]) -> None:
    report += ["## 3. Large outputs (peak RSS of the runner process)", ""]
    results: dict[tuple[str, int], float] = {}
    for size in sizes_mb:
        print(f"large outputs: {size} MB", flush=True)
        cells = 20
        chunk = size * 1_000_000 // cells
        nb = make_notebook(WORK / f"large{size}.ipynb", [f"print('x' * {chunk})" for _ in range(cells)])
        contenders = [
            Contender(f"nbrunner {size} MB",
                      lambda r, nb=nb, s=size: nbrunner(str(nb), "-o", str(WORK / f"out/nbr-large{s}.ipynb"))),
            Contender(f"papermill {size} MB",
                      lambda r, nb=nb, s=size: papermill(str(nb), str(WORK / f"out/pm-large{s}.ipynb"))),
        ]  # fmt: skip
        interleave(contenders, repeat, WORK)
        report += table(contenders) + [""]
        for c in contenders:
            results[(c.name.split()[0], size)] = statistics.median(s.peak_rss_mb for s in c.samples)
    for size in sizes_mb:
        nbr, pm = results[("nbrunner", size)], results[("papermill", size)]
        report.append(
            f"- {size} MB: nbrunner {nbr:.0f} MB, papermill {pm:.0f} MB "
            f"(target nbrunner <= papermill: {verdict(nbr <= pm)})"
        )
    if len(sizes_mb) == 2:
        a, b = sizes_mb
        growth = (results[("nbrunner", b)] - results[("nbrunner", a)]) / (b - a)
        report.append(f"- nbrunner's peak grows by about {growth:.1f} MB per MB of output between {a} and {b} MB.")
    report.append("")


def bench_one_cell(repeat: int, report: list[str], size_mb: int = 300) -> None:
    """One cell printing ``size_mb`` MB (in 1 MB prints): the peak RSS of writing the notebook as a stream."""
    report += [f"## 3b. {size_mb} MB of output in one cell (peak RSS of the runner process)", ""]
    print(f"one cell: {size_mb} MB", flush=True)
    nb = make_notebook(WORK / "onecell.ipynb", [f"for _ in range({size_mb}):\n    print('x' * 999_999)"])
    contenders = [
        Contender("nbrunner", lambda r: nbrunner(str(nb), "-o", str(WORK / "out/nbr-onecell.ipynb"))),
        Contender("nbrunner --no-html", lambda r: nbrunner(str(nb), "--no-html", "-o", str(WORK / "out/nbr-o.ipynb"))),
    ]
    interleave(contenders, repeat, WORK)
    report += table(contenders) + [""]
    peak = statistics.median(s.peak_rss_mb for s in contenders[0].samples)
    report += [f"- nbrunner: peak RSS {peak:.0f} MB for {size_mb} MB in one cell (target <= 600 MB: "
               f"{verdict(peak <= 600)}; papermill: 676 MB for 200 MB in section 3)", ""]  # fmt: skip


def paired(a: Contender, b: Contender, what: str = "seconds") -> float:
    """Median of the run-by-run differences a - b (of wall ``seconds`` or ``cpu_s``): interleaved runs share the
    machine's moment, so this cancels its slower and faster minutes."""
    pairs = zip(a.samples, b.samples, strict=True)
    return statistics.median(getattr(x, what) - getattr(y, what) for x, y in pairs)


def bench_spark(repeat: int, chain_repeat: int, report: list[str]) -> None:
    print("Spark under spark-submit (local[2])", flush=True)
    example = ROOT / "examples" / "daily_report.ipynb"
    import nbformat

    nb = nbformat.read(example, as_version=4)
    script = WORK / "daily_report_plain.py"
    script.write_text("\n\n".join(c.source for c in nb.cells if c.cell_type == "code") + "\n")
    launcher = subprocess.run(
        [str(BIN / "nbrunner"), "entrypoint"], capture_output=True, text=True, check=True
    ).stdout.strip()
    submit = [str(BIN / "spark-submit"), "--master", "local[2]", "--conf", "spark.ui.showConsoleProgress=false",
              "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.host=127.0.0.1"]  # fmt: skip
    env = {
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    contenders = [
        Contender("plain spark-submit script.py", lambda r: [*submit, str(script)], env),
        Contender("nbrunner under spark-submit", lambda r: [*submit, launcher, "run", str(example), "-q",
                                                            "-o", str(WORK / "out/nbr-spark.ipynb")], env),
        Contender("nbrunner --no-spark-early-context", lambda r: [*submit, launcher, "run", str(example), "-q",
                  "--no-spark-early-context", "-o", str(WORK / "out/nbr-spark-late.ipynb")], env),
        Contender("papermill under spark-submit", lambda r: [*submit, str(ROOT / "bench/papermill_driver.py"),
                                                             str(example), str(WORK / "out/pm-spark.ipynb")], env),
    ]  # fmt: skip
    interleave(contenders, repeat, WORK)
    plain, nbr, late, pm = contenders
    report += [f"## 4. Spark under spark-submit (local[2], the bundled example; {repeat} interleaved runs each)", "",
               *table(contenders, base=plain), ""]  # fmt: skip
    report += [
        f"- nbrunner - plain = **{median(nbr) - median(plain):+.2f} s** (target <= +0.5 s: "
        f"{verdict(median(nbr) - median(plain) <= 0.5)}); median of the run-by-run differences: "
        f"{paired(nbr, plain):+.2f} s; papermill - plain = {median(pm) - median(plain):+.2f} s; "
        f"with the SparkContext created by the kernel once it is up (`--no-spark-early-context`): "
        f"{median(late) - median(plain):+.2f} s",
        f"- CPU, median of the run-by-run differences: nbrunner - plain = **{paired(nbr, plain, 'cpu_s'):+.2f} CPU-s** "
        f"(target <= +0.5: {verdict(paired(nbr, plain, 'cpu_s') <= 0.5)}); wall: {paired(nbr, plain):+.2f} s (target "
        f"<= 0: {verdict(paired(nbr, plain) <= 0)}); papermill - plain = {paired(pm, plain, 'cpu_s'):+.2f} CPU-s",
        "",
    ]
    bench_chain(chain_repeat, report, submit, launcher, env)


def bench_chain(repeat: int, report: list[str], submit: list[str], launcher: str, env: dict[str, str]) -> None:
    print("three notebooks: one chained spark-submit vs three", flush=True)
    small = [make_notebook(WORK / f"small_{n}.ipynb", [f"spark.range({n} * 1000).count()"]) for n in (1, 2, 3)]
    one = [*submit, launcher, "run", *map(str, small), "-q", "-o", f"{WORK}/out/chain/{{notebook}}.ipynb"]
    three = " && ".join(
        " ".join([*submit, launcher, "run", str(nb), "-q", "-o", f"{WORK}/out/sep/{{notebook}}.ipynb"]) for nb in small
    )
    contenders = [
        Contender("3 notebooks, 3 spark-submits", lambda r: ["bash", "-c", three], env),
        Contender("3 notebooks chained in 1 spark-submit", lambda r: one, env),
    ]
    interleave(contenders, repeat, WORK)
    separate, chained = contenders
    ratio = median(chained) / median(separate)
    report += ["## 6. Several notebooks in one Spark application", "", *table(contenders, base=separate), ""]
    report += [f"- chained / separate = **{ratio:.2f}** (target <= 0.5: {verdict(ratio <= 0.5)})", ""]


def measure_tree(argv: list[str], env: dict[str, str], cwd: Path) -> Sample:
    """As ``measure``, but the peak RSS is the whole process tree's (the sum of every descendant's VmRSS, sampled
    every 0.1 s): spark-submit's driver JVM and each kernel are processes of their own."""
    import psutil  # type: ignore[import-untyped]

    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    root, peak = psutil.Process(proc.pid), 0
    while True:
        pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.1)
    code = os.waitstatus_to_exitcode(wait_status)
    return Sample(time.perf_counter() - started, peak / 2**20, code, usage.ru_utime + usage.ru_stime)


def bench_foreach(repeat: int, report: list[str], size: int = 8, parallel: int = 4, wait_s: int = 4) -> None:
    """``size`` iterations of a notebook whose one Spark job waits ``wait_s`` s in one task, as a job waits on storage:
    ``--for-each --parallel`` in one spark-submit vs a chain of the same in one vs ``size`` spark-submits in a row."""
    print(f"for each: {size} iterations, --parallel {parallel}, one spark-submit vs a chain vs {size}", flush=True)
    launcher = subprocess.run(
        [str(BIN / "nbrunner"), "entrypoint"], capture_output=True, text=True, check=True
    ).stdout.strip()
    submit = [str(BIN / "spark-submit"), "--master", "local[4]", "--conf", "spark.scheduler.mode=FAIR",
              "--conf", "spark.ui.showConsoleProgress=false", "--conf", "spark.ui.enabled=false",
              "--conf", "spark.driver.host=127.0.0.1"]  # fmt: skip
    env = {"PATH": f"{BIN}:{os.environ.get('PATH', '')}", "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}  # fmt: skip
    job = f"import time\nspark.sparkContext.parallelize([i], 1).foreach(lambda _: time.sleep({wait_s}))"
    nb = make_notebook(WORK / "each.ipynb", [job, "print(spark.range(i * 10).count())"], parameters="i = 0")
    copies = [make_notebook(WORK / f"each_{n}.ipynb", [job, "print(spark.range(i * 10).count())"],
                            parameters=f"i = {n}") for n in range(1, size + 1)]  # fmt: skip
    each = [*submit, launcher, "run", str(nb), "-q", "--for-each", f"i=1..{size}", "--parallel", str(parallel),
            "-o", f"{WORK}/out/each/{{i}}.ipynb"]  # fmt: skip
    chain = [*submit, launcher, "run", *map(str, copies), "-q", "-o", f"{WORK}/out/each-chain/{{notebook}}.ipynb"]
    separate = " && ".join(" ".join([*submit, launcher, "run", str(nb), "-q", "-p", f"i={n}", "-o",
                                     f"{WORK}/out/each-sep/{n}.ipynb"]) for n in range(1, size + 1))  # fmt: skip
    contenders = [
        Contender(f"{size} spark-submits in a row", lambda r: ["bash", "-c", separate], env),
        Contender(f"{size} chained in 1 spark-submit", lambda r: chain, env),
        Contender(f"--for-each, --parallel {parallel}, 1 spark-submit", lambda r: each, env),
    ]
    interleave(contenders, repeat, WORK, how=measure_tree)
    sep, chained, fe = contenders
    to_chain, to_sep = median(fe) / median(chained), median(fe) / median(sep)
    report += [f"## 9. For each: {size} iterations in one spark-submit (local[4], FAIR; peak RSS of the whole process "
               "tree)", "", *table(contenders, base=sep), ""]  # fmt: skip
    report += [
        f"- for-each / chain = **{to_chain:.2f}** (target <= 0.6: {verdict(to_chain <= 0.6)})",
        f"- for-each / separate spark-submits = **{to_sep:.2f}** (target <= 0.2: {verdict(to_sep <= 0.2)})",
        "",
    ]


def bench_startup(repeat: int, report: list[str]) -> None:
    print("start-up", flush=True)
    empty = make_notebook(WORK / "empty.ipynb", [])
    contenders = [
        Contender("nbrunner --help", lambda r: [str(BIN / "nbrunner"), "--help"]),
        Contender("nbrunner run (empty notebook)", lambda r: nbrunner(str(empty), "-o", str(WORK / "out/empty.ipynb"))),
        Contender("nbrunner run --no-html (empty notebook)",
                  lambda r: nbrunner(str(empty), "--no-html", "-o", str(WORK / "out/empty-nh.ipynb"))),
        Contender("bare kernel start + one cell", lambda r: [sys.executable, str(ROOT / "bench/bare_kernel.py")]),
    ]  # fmt: skip
    interleave(contenders, repeat, WORK)
    helper, empty_run, empty_no_html, bare = contenders
    extra, extra_no_html = cpu_median(empty_run) - cpu_median(bare), cpu_median(empty_no_html) - cpu_median(bare)
    report += ["## 5. Start-up", "", *table(contenders), ""]
    report += [
        f"- `nbrunner --help`: {median(helper):.2f} s (target <= 0.3 s: {verdict(median(helper) <= 0.3)})",
        f"- empty notebook end to end: {median(empty_run):.2f} s "
        f"(target <= 1.5 s: {verdict(median(empty_run) <= 1.5)})",
        f"- CPU, empty notebook - bare kernel start: **{extra:+.2f} CPU-s** (target <= +0.2: {verdict(extra <= 0.2)}); "
        f"`--no-html`: {extra_no_html:+.2f}",
        "",
    ]


def concurrently(argvs: list[list[str]], cwd: Path) -> tuple[float, float]:
    """Start every command at once; the wall time until the last ends and the CPU of all (process trees)."""
    started = time.perf_counter()
    procs = [subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              stdin=subprocess.DEVNULL) for argv in argvs]  # fmt: skip
    cpu = 0.0
    for proc in procs:
        _, wait_status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(wait_status) != 0:
            raise SystemExit(f"failed: {proc.args}")
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, cpu


def bench_concurrent(repeat: int, report: list[str], runs: int = 8) -> None:
    """``runs`` runs of a small notebook (no Spark) started at once: what a gateway host pays at 2 a.m."""
    print(f"{runs} runs at once", flush=True)
    nb = make_notebook(WORK / "small.ipynb", [f"x = {i} * 2\nprint(x)" for i in range(20)])
    results: dict[str, list[tuple[float, float]]] = {"nbrunner": [], "nbrunner --no-html": [], "papermill": []}
    for _ in range(repeat):
        results["nbrunner"].append(concurrently(
            [nbrunner(str(nb), "-o", str(WORK / f"out/c-nbr-{i}.ipynb")) for i in range(runs)], WORK))  # fmt: skip
        no_html = [nbrunner(str(nb), "--no-html", "-o", str(WORK / f"out/c-nh-{i}.ipynb")) for i in range(runs)]
        results["nbrunner --no-html"].append(concurrently(no_html, WORK))
        results["papermill"].append(concurrently(
            [papermill(str(nb), str(WORK / f"out/c-pm-{i}.ipynb")) for i in range(runs)], WORK))  # fmt: skip
    report += [f"## 7. {runs} runs started at once (a small notebook, no Spark; process trees' CPU)", "",
               "| contender | total wall s (median) | total CPU s (median) |", "|---|---|---|"]  # fmt: skip
    cpu = {}
    for name, found in results.items():
        wall, cpu[name] = statistics.median(w for w, _ in found), statistics.median(c for _, c in found)
        report.append(f"| {name} | {wall:.2f} | {cpu[name]:.2f} |")
    ratio = cpu["nbrunner"] / cpu["papermill"]
    report += ["", f"- nbrunner / papermill total CPU = **{ratio:.2f}** (target <= 0.5: {verdict(ratio <= 0.5)})", ""]


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    mem = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
    from importlib.metadata import version

    versions = ", ".join(f"{p} {version(p)}" for p in ("nbrunner", "papermill", "nbconvert", "nbclient", "pyspark"))
    return (f"{os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB, Python {platform.python_version()}, "
            f"{java}; {versions}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller outputs, no Spark")
    parser.add_argument("--repeat", type=int, help="runs per contender (default 5, quick 2)")
    parser.add_argument("--spark-repeat", type=int, default=9, help="runs per contender of the Spark start-up (9)")
    parser.add_argument("--output", default=str(ROOT / "bench" / "RESULTS.md"))
    parser.add_argument(
        "--only",
        choices=["start-up", "trivial", "stores", "one-cell", "concurrent", "foreach"],
        help="run one section only (--output elsewhere)",
    )
    args = parser.parse_args()
    repeat = args.repeat or (2 if args.quick else 5)
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "out").mkdir(parents=True)
    # nbrunner's bytecode, as `pip install` compiles it for every contender's installed packages (an editable
    # install under PYTHONDONTWRITEBYTECODE=1 would compile nbrunner's modules again on every run)
    compileall.compile_dir(ROOT / "nbrunner", quiet=1)
    started = time.monotonic()
    report = [
        "# nbrunner benchmark results",
        "",
        f"Machine: {machine()}.",
        "",
        f"Command: `{' '.join(['.venv/bin/python', 'bench/run.py', *sys.argv[1:]])}`; {repeat} interleaved runs per "
        "contender; medians, with min and max. Wall time of the whole process; peak RSS is the runner process's "
        "own VmHWM. nbrunner's bytecode is compiled first, as an installed package's is.",
        "",
    ]
    if args.only is not None:
        sections = {"start-up": bench_startup, "trivial": bench_trivial, "stores": bench_stores,
                    "one-cell": bench_one_cell, "concurrent": bench_concurrent, "foreach": bench_foreach}  # fmt: skip
        sections[args.only](repeat, report)
        Path(args.output).write_text("\n".join(report) + "\n")
        return
    bench_startup(repeat, report)
    bench_trivial(repeat, report)
    bench_s3(report)
    bench_stores(repeat, report)
    bench_large(max(1, repeat - 2), [10] if args.quick else [50, 200], report)
    bench_one_cell(max(1, repeat - 2), report, 20 if args.quick else 300)
    bench_concurrent(max(1, repeat - 2), report)
    if not args.quick:
        bench_spark(args.spark_repeat, repeat, report)
        bench_foreach(max(1, repeat - 2), report)
    report.append(f"Total benchmark time: {time.monotonic() - started:.0f} s.")
    Path(args.output).write_text("\n".join(report) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
