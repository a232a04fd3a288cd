#!/usr/bin/env bash
# Set everything up, then run the checks and the whole test suite (real kernels, real spark-submit, S3 over HTTP).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"
ruff check nbrunner tests bench
ruff format --check nbrunner tests bench
mypy
hadolint Dockerfile
python -m pytest "$@"
