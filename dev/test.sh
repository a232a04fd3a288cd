#!/usr/bin/env bash
# Set everything up, then run the checks and the whole test suite (real kernels, real spark-submit, S3 over HTTP).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh --test
# a real Airflow for the operator's tests, in virtualenvs of their own (Airflow pins many packages): 3.x, and 2.10
# where the Python supports it (3.8-3.12)
tool_venv() {  # folder, requirement... (Airflow's, and any other tool's that needs a virtualenv of its own)
  local venv=$1 stamp
  shift
  stamp="$(sha256sum pyproject.toml | cut -c1-16) $*"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.installed" 2>/dev/null)" = "$stamp" ]; then return; fi
  echo "test: making $venv ($* and nbrunner)" >&2
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q "$@" -e .
  echo "$stamp" > "$venv/.installed"
}
tool_venv .venv-airflow "apache-airflow>=3.1,<4"
# the Spark provider, for the README's SparkSubmitOperator recipe: without its pyspark-client, which would install
# into pyspark's own folder (the README says why)
if ! .venv-airflow/bin/python -c "import airflow.providers.apache.spark" 2>/dev/null; then
  .venv-airflow/bin/python -m pip install -q --no-deps "apache-airflow-providers-apache-spark>=5,<7"
fi
if "${PYTHON:-python3}" -c 'import sys; sys.exit(sys.version_info >= (3, 13))'; then
  tool_venv .venv-airflow2 "apache-airflow>=2.10,<2.11"
fi
# apache-flink (PyFlink and the flink CLI with its jars) for the Flink tests, in a virtualenv of its own (it pins
# pyarrow, pandas and apache-beam); its wheels exist for Python 3.10-3.12
if "${PYTHON:-python3}" -c 'import sys; sys.exit(sys.version_info >= (3, 13))'; then
  tool_venv .venv-flink "apache-flink>=2.3,<2.4"
fi
bash dev/check-libs.sh  # one line naming a shared library a binary the tests start cannot load
export PATH="$PWD/.venv/bin:$PATH"
ruff check nbrunner tests bench
ruff format --check nbrunner tests bench
mypy
hadolint Dockerfile
shellcheck docker/entrypoint.sh dev/*.sh .ci/run
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet  # the guide: docs/ -> site/, nothing downloaded
# two workers, each taking whole test modules (their module-scoped servers and clusters stay one per module):
# much of the suite waits on JVMs, kernels and servers starting; NBRUNNER_TEST_WORKERS=0 runs it in one process
python -m pytest -n "${NBRUNNER_TEST_WORKERS:-2}" --dist loadscope "$@"
