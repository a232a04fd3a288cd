#!/usr/bin/env bash
# Set everything up, then run the checks and the whole test suite (real kernels, real spark-submit, S3 over HTTP).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh --test
# a real Airflow for the operator's tests, in a virtualenv of its own (Airflow pins many packages)
if [ ! -x .venv-airflow/bin/airflow ] || [ ! -f .venv-airflow/.installed ] || [ "$(cat .venv-airflow/.installed)" != "$(sha256sum pyproject.toml | cut -c1-16)" ]; then
  echo "test: making .venv-airflow (apache-airflow and nbrunner)" >&2
  "${PYTHON:-python3}" -m venv .venv-airflow
  .venv-airflow/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv-airflow/bin/python -m pip install -q "apache-airflow>=3.1,<4" -e .
  sha256sum pyproject.toml | cut -c1-16 > .venv-airflow/.installed
fi
export PATH="$PWD/.venv/bin:$PATH"
ruff check nbrunner tests bench
ruff format --check nbrunner tests bench
mypy
hadolint Dockerfile
python -m pytest "$@"
