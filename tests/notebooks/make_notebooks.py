"""Regenerate the tiny test notebooks: ``python tests/notebooks/make_notebooks.py``. One behaviour each."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import v4

HERE = Path(__file__).parent
PARAMS = {"tags": ["parameters"]}


def save(name: str, *cells: object) -> None:
    nb = v4.new_notebook(cells=list(cells))
    for number, cell in enumerate(nb.cells):
        cell["id"] = f"{name.replace('_', '-')}-{number}"  # stable ids: regenerating changes nothing
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, HERE / f"{name}.ipynb")


def code(source: str, **metadata: object) -> object:
    return v4.new_code_cell(source, metadata=dict(metadata))


save(
    "ok",
    v4.new_markdown_cell("# A notebook that succeeds"),
    code('greeting = "hello"  # what to say', **PARAMS),
    code("import os\nprint(greeting, 'from', os.getcwd())"),
    code("6 * 7"),
)
save(
    "params",
    code(
        'date = "2026-01-01"  # the day to report\n'
        "n: int = 10  # how many rows\n"
        "ratio = 0.5  # a fraction\n"
        "flag = False\n"
        'label: str = "x"  # free text\n'
        "anything = None  # any type\n"
        "ids: list = []  # a list of ids",
        **PARAMS,
    ),
    code(
        "import json\n"
        "values = dict(date=date, n=n, ratio=ratio, flag=flag, label=label, anything=anything, ids=ids)\n"
        "print(json.dumps({k: [v, type(v).__name__] for k, v in values.items()}, ensure_ascii=False))"
    ),
)
save(
    "fails",
    code("x = 1", **PARAMS),
    code("print('before the failure')"),
    code("raise ValueError('the data is bad')"),
    code("print('never runs')"),
)
save(
    "dies",
    code("print('about to die', flush=True)"),
    code("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
    code("print('never runs')"),
)
save(
    "slow",
    code("seconds = 30  # how long to sleep\npid_file = ''  # where to write the kernel's pid", **PARAMS),
    code("import os\nif pid_file:\n    open(pid_file, 'w').write(str(os.getpid()))"),
    code("import time\nprint('sleeping', flush=True)\ntime.sleep(seconds)\nprint('woke up')"),
    code("print('after the sleep')"),
)
save(
    "sysexit0",
    code("print('stopping early')"),
    code("import sys\nsys.exit(0)"),
    code("raise RuntimeError('must not run')"),
)
save(
    "sysexit1",
    code("print('stopping with a code')"),
    code("import sys\nsys.exit(3)"),
    code("print('never runs')"),
)
save(
    "noparams",
    code("print('no parameters cell here')"),
    code("print(repr(globals().get('date')))"),
)
save(
    "odd_params",
    code(
        "# a comment line\n"
        "items = [  # spans lines\n"
        "    1,\n"
        "    2,\n"
        "]\n"
        "this line is broken (\n"
        "rate: float = 1.5  # a rate\n"
        "today = datetime.date.today()  # not a literal\n"
        "a = b = 'same'  # two names\n"
        "if True:\n"
        "    hidden = 1\n",
        **PARAMS,
    ),
    code("print(items, rate)"),
)
save(
    "unicode",
    v4.new_markdown_cell("# 中文报告"),
    code('城市 = "北京"  # 城市名称\ntitle = "报告"', **PARAMS),
    code("print(f'{title}: {城市}')"),
)
save("empty")

# -- Spark: run under spark-submit, with `spark` and `sc` predefined -------------------------------------------------
save(
    "spark_facts",
    code('label = "x"  # anything', **PARAMS),
    code(
        "import json\n"
        "from pyspark.sql import SparkSession\n"
        "predefined = 'spark' in globals() and 'sc' in globals()\n"
        "facts = dict(\n"
        "    predefined=predefined,\n"
        "    same_session=SparkSession.builder.getOrCreate() is spark,\n"
        "    app_id=sc.applicationId, name=sc.appName, master=sc.master,\n"
        "    marker=sc.getConf().get('spark.nbrunner.marker', None),\n"
        "    total=sc.parallelize(range(100), 4).sum(),\n"
        "    group=sc.getLocalProperty('spark.jobGroup.id'),\n"
        "    description=sc.getLocalProperty('spark.job.description'),\n"
        "    gateway_port=sc._gateway.java_gateway_server.getListeningPort(),\n"
        ")\n"
        "import os, pathlib\n"
        "def children(pid):\n"
        "    for p in pathlib.Path('/proc').glob('[0-9]*'):\n"
        "        try:\n"
        "            if p.joinpath('stat').read_text().rsplit(') ', 1)[1].split()[1] == str(pid):\n"
        "                yield p.joinpath('cmdline').read_bytes().replace(b'\\0', b' ').decode()\n"
        "        except OSError:\n"
        "            pass\n"
        "facts['kernel_java_children'] = [c for c in children(os.getpid()) if 'java' in c]\n"
        "print(json.dumps(facts))"
    ),
    code("spark.range(10).count()"),
)
save(
    "spark_fails",
    code("sc.parallelize([1, 2], 2).map(lambda x: x / 0).collect()"),
    code("print('never runs')"),
)
save(
    "spark_slow",
    code("seconds = 120  # how long each task sleeps\npid_file = ''  # where to write the kernel's pid", **PARAMS),
    code("import os\nif pid_file:\n    open(pid_file, 'w').write(str(os.getpid()))"),
    code(
        "import time\n"
        "print('starting the slow job', flush=True)\n"
        "sc.parallelize(range(2), 2).foreach(lambda x: time.sleep(seconds))"
    ),
    code("print('after the slow job')"),
)
save(
    "progress",
    code("steps = 10  # how many progress lines\npause = 0.3  # seconds between them", **PARAMS),
    code("import time\nfor step in range(steps):\n    print(f'step {step}', flush=True)\n    time.sleep(pause)"),
)
