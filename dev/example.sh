#!/usr/bin/env bash
# The main job: set everything up, then run the bundled example notebook through nbrunner under spark-submit
# (local mode, `spark` predefined in the notebook). Results (notebook, HTML, run record) land in ./runs/.
# Extra arguments go to `nbrunner run` (for example -p rows=1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh
export PATH="$PWD/.venv/bin:$PATH"   # spark-submit finds SPARK_HOME and the driver's python3 through PATH
exec spark-submit --master 'local[*]' --name nbrunner-example --conf spark.ui.showConsoleProgress=false \
  "$(nbrunner entrypoint)" run examples/daily_report.ipynb -p date="$(date -u +%F)" \
  -o 'runs/{notebook}-{date}.ipynb' "$@"
