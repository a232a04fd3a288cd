#!/usr/bin/env bash
# The main job: set everything up, then run the bundled example notebook through nbrunner.
# Results (notebook, HTML, run record) land in ./runs/. Extra arguments go to `nbrunner run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
exec nbrunner run examples/daily_report.ipynb -p date="$(date -u +%F)" -o 'runs/{notebook}-{date}.ipynb' "$@"
