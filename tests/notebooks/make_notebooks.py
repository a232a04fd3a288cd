"""Regenerate the tiny test notebooks: ``python tests/notebooks/make_notebooks.py``. One behaviour each."""

from __future__ import annotations

import json
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
        "    pyspark_from=__import__('pyspark').__file__,\n"
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
save(
    "waits",  # a cell that prints until a file exists: a test decides when it ends, not a clock
    code("release = ''  # the cell ends once this file exists", **PARAMS),
    code(
        "import os, time\nstep = 0\nwhile not os.path.exists(release):\n    print(f'step {step}', flush=True)\n"
        "    step += 1\n    time.sleep(0.05)\nprint('released')"
    ),
)

# -- fidelity: what the written notebook says must be true ----------------------------------------------------------


def with_outputs(source: str, text: str, count: int, **metadata: object) -> object:
    cell = code(source, **metadata)
    cell["execution_count"] = count  # type: ignore[index]
    cell["outputs"] = [v4.new_output("stream", text=text)]  # type: ignore[index]
    return cell


save(
    "stale_outputs",  # saved after an older, successful run: every cell has outputs and counts
    with_outputs("x = 1", "", 1, **PARAMS),
    with_outputs("print('fresh', x)", "OLD OUTPUT of cell 1\n", 2),
    with_outputs("raise ValueError('this time it fails')", "OLD OUTPUT of cell 2\n", 3),
    with_outputs("print('below the failure')", "OLD OUTPUT of cell 3: a chart of last week\n", 4),
)
save(
    "papermill_failed",  # a papermill output notebook that once failed: papermill's banner and anchor cells
    v4.new_markdown_cell(
        '<span style="color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;">'
        "An Exception was encountered at '<a href=\"#papermill-error-cell\">In [2]</a>'.</span>",
        metadata={"tags": ["papermill-error-cell-tag"]},
    ),
    code("x = 1", **PARAMS),
    v4.new_markdown_cell(
        '<span id="papermill-error-cell" style="color:red; font-family:Helvetica Neue, Helvetica, Arial, '
        'sans-serif; font-size:2em;">Execution using papermill encountered an exception here and stopped:</span>',
        metadata={"tags": ["papermill-error-cell-tag"]},
    ),
    code("print('now it works', x)"),
)
save(
    "partial_lines",  # streams that do not end with a newline
    code(
        "import time\nfor i in range(3):\n    print(f'\\rprogress {i + 1}/3', end='', flush=True)\n    time.sleep(0.05)"
    ),
    code("print('no newline at the end', end='')"),
    code("print('a whole line')"),
)
save(
    "raises_expected",  # a cell the notebook says raises (nbclient goes on): not a failure
    code("raise ValueError('expected')", tags=["raises-exception"]),
    code("print('after the expected error')"),
)
save(
    "sysexit_false",
    code("import sys\nsys.exit(False)"),
    code("raise RuntimeError('must not run')"),
)
save(
    "tag_misuse",  # `parameters` on a markdown cell, and on two code cells
    v4.new_markdown_cell("x = 'from markdown'", metadata={"tags": ["parameters"]}),
    code("x = 1  # the real one", **PARAMS),
    code("y = 2", **PARAMS),
    code("print(x, y)"),
)


def save_v44(name: str, *cells: object) -> None:
    """nbformat 4.4: no cell ids (as most notebooks in the wild still are)."""
    nb = v4.new_notebook(cells=list(cells))
    nb.nbformat_minor = 4
    for cell in nb.cells:
        del cell["id"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (HERE / f"{name}.ipynb").write_text(json.dumps(nb, indent=1, sort_keys=True) + "\n")


save_v44(
    "v44",
    code("n = 1", **PARAMS),
    code("print('n is', n)"),
    code("raise ValueError('so the banner is added too')"),
)

# -- Spark --------------------------------------------------------------------------------------------------------
save(
    "spark_stops",  # Spark's own testing notebooks stop their session at the end
    code("spark.range(100).count()"),
    code("spark.stop()"),
)

# -- a kernel in another language: bash (bash_kernel, from PyPI) ---------------------------------------------------
nb = v4.new_notebook(
    cells=[
        v4.new_code_cell('name="nobody"', metadata={"tags": ["parameters"]}),
        v4.new_code_cell('echo "hello $name from bash"'),
    ]
)
for number, cell in enumerate(nb.cells):
    cell["id"] = f"bash-{number}"
nb.metadata["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash"}
nb.metadata["language_info"] = {"name": "bash"}
nbformat.write(nb, HERE / "bash.ipynb")

# -- the scheduler contract: secrets, outputs, skip, run context ----------------------------------------------------
save(
    "secret",
    code('password = "none"  # the database password\nrows: int = 1', **PARAMS),
    code(
        "import os, subprocess\n"
        "print('the password is', password)\n"
        "print('length', len(password))\n"
        "print('in my environment:', [k for k, v in os.environ.items() if v == password])\n"
        "print('child sees:', subprocess.run(['env'], capture_output=True, text=True).stdout.count(password))"
    ),
    code("raise RuntimeError('failed with ' + password)"),
)
save(
    "secret_leaks",  # every road out of the kernel that real code takes (see tests/test_secrets.py)
    code('password = "none"  # the secret', **PARAMS),
    code(
        "import html, json, os, subprocess, sys, urllib.parse\n"
        "import nbrunner\n"
        "from IPython.display import HTML, display\n"
        "print('length', len(password))\n"
        "print('fd', os.environ.get('NBRUNNER_SECRETS_FD'), os.environ.get('NBRUNNER_SECRETS_FILE'))\n"
        "tmp = os.environ.get('TMPDIR', '/tmp')\n"
        "files = [os.path.join(d, f) for d, _, fs in os.walk(tmp) for f in fs]\n"
        "found = [f for f in files if os.path.isfile(f) and not f.endswith(tuple('0123456789'))\n"
        "         and password.encode() in open(f, 'rb').read()]\n"
        "print('files holding it under TMPDIR:', len(found))"
    ),
    code(  # the kernel's own descriptors: a child process, a raw write, a shell escape
        "subprocess.run(['echo', 'child:', password])\n"
        "os.write(1, ('raw stdout ' + password + '\\n').encode())\n"
        "os.write(2, ('raw stderr ' + password + '\\n').encode())\n"
        "get_ipython().system('echo shell: ' + password)"
    ),
    code(  # pieces, flushed apart
        "sys.stdout.write('pieces ' + password[:5]); sys.stdout.flush()\n"
        "sys.stdout.write(password[5:] + ' end\\n'); sys.stdout.flush()"
    ),
    code(  # escaped forms
        "print(repr(password)); print([password]); print(json.dumps({'p': password}))\n"
        "print(json.dumps(password, ensure_ascii=False)); print(urllib.parse.quote(password))\n"
        "print(urllib.parse.quote_plus(password)); print(urllib.parse.quote(password, safe=''))\n"
        "display(HTML('<b>' + html.escape(password) + '</b>'))\n"
        "print(password[:20] + '...')  # a long value cut short, as pandas shows it\n"
        "{password: 1}"
    ),
    code(  # outputs: the value as a name and as a value
        "nbrunner.output(password, 1)\nnbrunner.output('token', password)\n"
        "nbrunner.output('nested', {password: [password]})"
    ),
    code(  # a daemon that outlives nbrunner, holding whatever stdout it inherited
        "daemon = subprocess.Popen(['sleep', '600'], start_new_session=True)\n"
        "open(os.environ['DAEMON_PID_FILE'], 'w').write(str(daemon.pid))"
    ),
    code("raise KeyError(password)"),
)
save(
    "scheduler",
    code("import json, os\nimport nbrunner\nfrom IPython.display import display"),
    code("nbrunner.output('rows', 123)\nnbrunner.output('tables', ['a', 'b'])"),
    code(
        "display({'application/scrapbook.scrap.json+json': "
        "{'name': 'glued', 'data': {'ok': True}, 'encoder': 'json', 'version': 1}}, raw=True)"
    ),
    code("nbrunner.output('huge', 'x' * 60000)\nnbrunner.output('after', 'fits')"),
    code("print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('NBRUNNER_')}))"),
)
save(
    "skip",
    code("import nbrunner\nnbrunner.skip('no data for this day')"),
    code("raise RuntimeError('must not run')"),
)
save(
    "resume",  # a long notebook whose cell 3 meets a fault from outside (the flag file)
    code(
        "log = ''  # a file each cell appends its name to\nflag = ''  # the fault: fail while this file exists",
        **PARAMS,
    ),
    code("import os\nopen(log, 'a').write('setup\\n')", tags=["setup"]),
    code("open(log, 'a').write('expensive\\n')\nresult = 42\nprint('expensive work done')"),
    code(
        "if os.path.exists(flag):\n    raise RuntimeError('a fault outside the notebook')\n"
        "open(log, 'a').write('checked\\n')"
    ),
    code("print('done; result in memory:', globals().get('result'))"),
)
save(
    "spark_resume",  # a Spark notebook whose setup cell defines the DataFrame later cells use
    code("flag = ''  # the fault: fail while this file exists", **PARAMS),
    code("import os\nevents = spark.range(1000).selectExpr('id % 10 as k')", tags=["setup"]),
    code("print('distinct keys', events.select('k').distinct().count())"),
    code("if os.path.exists(flag):\n    raise RuntimeError('a fault outside the notebook')"),
    code("print('rows', events.count(), 'app', spark.sparkContext.applicationId)"),
)
# invalid_metadata.ipynb is ok.ipynb with a kernelspec lacking name/display_name and a non-boolean `collapsed`, as
# found in the wild (nbclient's own Output.ipynb has the first); it is edited by hand, not generated here.
save(
    "chain_a",  # the first notebook of a chain: leaves a temp view in the shared session
    code(
        "spark.range(10).createOrReplaceTempView('shared')\n"
        "print('app', sc.applicationId, spark.table('shared').count())"
    ),
)
save(
    "chain_b",  # the next one reads it: same application, same session
    code("print('rows', spark.table('shared').count(), 'app', sc.applicationId)"),
)
