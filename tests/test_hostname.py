"""A machine whose host name does not resolve (containers, chroots, VMs with generated names): nbrunner's rule
(:mod:`nbrunner.engines.spark.local_host`) runs a local Spark driver on 127.0.0.1 with a one-line warning. The real
cases run in a UTS namespace of their own (``unshare -u``) whose host name resolves nowhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nbrunner.engines.spark.local_host import LOOPBACK, loopback_driver, master_of
from tests.spark_support import BIN, entrypoint, spark_env

ROOT = Path(__file__).resolve().parent.parent
HOST_NAME = "nbrunner-unresolvable-x1"
WARNING = f"host name '{HOST_NAME}' does not resolve: the local Spark driver runs on 127.0.0.1"
#: the variables that would hide the rule (the suite's own Spark fixtures set them: everything stays on loopback)
CHOSEN = ("SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME")


def unresolvable(cmd: list[str], *, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``cmd`` in a UTS namespace of its own named HOST_NAME (a name no resolver knows)."""
    return subprocess.run(
        ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', HOST_NAME, *cmd],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def namespace() -> None:
    """Skips where a UTS namespace cannot be made (not root, no unshare, a sandbox that forbids it)."""
    if not shutil.which("unshare"):
        pytest.skip("needs unshare (util-linux) to give a child an unresolvable host name")
    probe = unresolvable(["getent", "hosts", HOST_NAME], env=dict(os.environ), timeout=30)
    if "hostname" in probe.stderr or "unshare" in probe.stderr:
        pytest.skip(f"unshare --uts is not permitted here (root or CAP_SYS_ADMIN needed): {probe.stderr.strip()}")
    if probe.returncode == 0:
        pytest.skip(f"{HOST_NAME} resolves on this machine ({probe.stdout.strip()}): nothing to test")


def plain_env() -> dict[str, str]:
    env = spark_env()
    for name in CHOSEN:
        env.pop(name, None)
    return env


# -- the rule --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("master", ["local", "local[1]", "local[*]", "local-cluster[2,1,1024]"])
def test_a_local_master_on_an_unresolvable_host_gets_loopback_and_a_warning(master: str) -> None:
    found = loopback_driver(master, {}, {}, host_name=HOST_NAME)
    assert found is not None
    assert found.env == {"SPARK_LOCAL_IP": LOOPBACK, "SPARK_LOCAL_HOSTNAME": LOOPBACK}
    assert found.conf == {"spark.driver.host": LOOPBACK, "spark.driver.bindAddress": LOOPBACK}
    assert WARNING in found.warning and "\n" not in found.warning


def test_the_rule_leaves_alone_what_it_should() -> None:
    assert loopback_driver("yarn", {}, {}, host_name=HOST_NAME) is None  # the cluster must reach the driver
    assert loopback_driver("spark://10.0.0.1:7077", {}, {}, host_name=HOST_NAME) is None
    assert loopback_driver("local[2]", {}, {"SPARK_LOCAL_IP": "10.1.2.3"}, host_name=HOST_NAME) is None  # chosen
    keys = {"SPARK_LOCAL_IP": "127.0.0.1", "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s"}
    chosen = loopback_driver("local[2]", {}, keys, host_name=HOST_NAME)  # the address chosen, the keys still a lookup
    assert chosen is not None and (chosen.env, chosen.conf) == ({}, {}) and "AWS keys" in chosen.warning
    assert chosen.handed == ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    assert loopback_driver("yarn", {}, keys, host_name=HOST_NAME) is None
    assert loopback_driver("local[2]", {}, {"SPARK_LOCAL_HOSTNAME": "box"}, host_name=HOST_NAME) is None
    assert loopback_driver("local[2]", {}, {}, host_name="localhost") is None  # it resolves
    given = loopback_driver("local[2]", {"spark.driver.host": "127.0.0.2"}, {}, host_name=HOST_NAME)
    assert given is not None and given.conf == {"spark.driver.bindAddress": LOOPBACK}  # the user's conf stays


def test_the_master_is_the_one_spark_submit_will_use(tmp_path: Path) -> None:
    assert master_of(["--master", "yarn"], {"spark.master": "local"}, {}) == "yarn"
    assert master_of(["--master=local[3]"], {}, {}) == "local[3]"
    assert master_of([], {"spark.master": "k8s://h"}, {}) == "k8s://h"
    assert master_of([], {}, {}) == "local[*]"  # spark-submit's default
    (tmp_path / "spark-defaults.conf").write_text("# site defaults\nspark.master   yarn\n")
    assert master_of([], {}, {"SPARK_CONF_DIR": str(tmp_path)}) == "yarn"


# -- for real: spark-submit in a UTS namespace whose host name resolves nowhere ------------------------------------


def tiny_notebook(folder: Path) -> Path:
    import nbformat
    from nbformat import v4

    path = folder / "tiny.ipynb"
    keys = "import os\nassert os.environ.get('AWS_ACCESS_KEY_ID') == os.environ.get('NBRUNNER_TEST_KEY')\n"
    keys += "assert not [name for name in os.environ if name.startswith('NBRUNNER_HANDED_')]"
    cells = [v4.new_code_cell("print('rows', spark.range(5).count())"), v4.new_code_cell(keys)]
    nbformat.write(v4.new_notebook(cells=cells), path)
    return path


#: AWS keys in the environment: with both set spark-submit's JVM looks the host name up to name their source, so
#: the rule hands them to nbrunner (and the notebook) under names of their own, never to the JVM
AWS = {"AWS_ACCESS_KEY_ID": "AKIAHANDEDOVER", "AWS_SECRET_ACCESS_KEY": "secret-handed-over",
       "NBRUNNER_TEST_KEY": "AKIAHANDEDOVER"}  # fmt: skip


@pytest.mark.spark
def test_without_the_rule_spark_submit_dies_whatever_its_conf(namespace: None, tmp_path: Path) -> None:
    """Why the rule sets spark-submit's environment: its JVM resolves the host name while parsing its arguments,
    before any Python runs, and --conf spark.driver.host/bindAddress does not prevent it."""
    script = tmp_path / "nothing.py"
    script.write_text("print('never')\n")
    done = unresolvable([str(BIN / "spark-submit"), "--master", "local[1]", "--conf", "spark.driver.host=127.0.0.1",
                         "--conf", "spark.driver.bindAddress=127.0.0.1", str(script)], env=plain_env())  # fmt: skip
    assert done.returncode != 0 and "never" not in done.stdout
    assert f"java.net.UnknownHostException: {HOST_NAME}" in done.stderr, done.stderr[-3000:]


@pytest.mark.spark
def test_a_local_spark_submit_of_nbrunner_runs_with_the_rule(namespace: None, tmp_path: Path) -> None:
    """As dev/example.sh starts it: the rule's shell words, then spark-submit of nbrunner in local[1]."""
    notebook = tiny_notebook(tmp_path)
    script = (
        'spark_conf=(); rule=$("$1" -m nbrunner.engines.spark.local_host --master "local[1]") && eval "$rule" && '
        'exec "$2" --master "local[1]" "${spark_conf[@]}" --conf spark.ui.enabled=false "$3" run "$4" --no-html'
    )
    done = unresolvable(["bash", "-c", script, "rule", sys.executable, str(BIN / "spark-submit"), entrypoint(),
                         str(notebook)], env={**plain_env(), **AWS})  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert done.stderr.count(WARNING) == 1, done.stderr[-3000:]
    assert "secret-handed-over" not in done.stdout + done.stderr
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["status"] == "succeeded" and record["spark"]["master"] == "local[1]"


AIRFLOW = ROOT / ".venv-airflow" / "bin" / "python"
OPERATOR = """
import json, logging, sys
from nbrunner.airflow import NbrunnerOperator

logging.basicConfig(level=logging.INFO, stream=sys.stderr)

class TaskInstance:
    def xcom_push(self, key, value):
        print("XCOM", key, json.dumps(value))

op = NbrunnerOperator(task_id="tiny", notebook=sys.argv[1], spark_submit=True, master="local[1]",
                      conf={"spark.ui.enabled": "false"}, nbrunner_args=["--no-html"])
op.execute({"ti": TaskInstance()})
"""


@pytest.mark.spark
@pytest.mark.airflow
@pytest.mark.parametrize("address", ["rule's", "chosen"])
def test_the_airflow_operators_spark_submit_applies_the_rule(namespace: None, tmp_path: Path, address: str) -> None:
    """The operator's spark-submit under an unresolvable name, AWS keys set: the rule picks the driver's address,
    or (SPARK_LOCAL_IP chosen) leaves it, and hands the keys over either way (the JVM looks the name up for them)."""
    if not AIRFLOW.exists():
        pytest.skip("no .venv-airflow: bash dev/test.sh makes it")
    notebook = tiny_notebook(tmp_path)
    env = plain_env()
    env.pop("VIRTUAL_ENV", None)
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), PATH=f"{AIRFLOW.parent}:{os.environ.get('PATH', '')}")
    env.pop("PYSPARK_PYTHON", None)  # the operator's own interpreter, as in a real task
    env.update(AWS)
    if address == "chosen":
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    done = unresolvable([str(AIRFLOW), "-c", OPERATOR, str(notebook)], env=env, timeout=300)
    log = done.stdout + done.stderr  # the task's log: Airflow's logging, wherever it sends it
    assert done.returncode == 0, log[-3000:]
    rules_conf = "--conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1"
    if address == "chosen":
        assert WARNING not in log and "the AWS keys in the environment go to nbrunner" in log, log[-3000:]
        assert rules_conf not in log
    else:
        assert log.count(WARNING) == 1, log[-3000:]
        assert rules_conf in log
    assert "secret-handed-over" not in log
    pushed = [line for line in done.stdout.splitlines() if line.startswith("XCOM nbrunner_record ")]
    assert pushed and json.loads(pushed[-1].split(" ", 2)[2])["status"] == "succeeded", done.stdout[-3000:]
