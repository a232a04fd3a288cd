#!/usr/bin/env bash
# The main job: set everything up, then run the bundled example notebook through nbrunner under spark-submit
# (local mode, `spark` predefined in the notebook). Results (notebook, HTML, run record) land in ./runs/.
# Extra arguments go to `nbrunner run` (for example -p rows=1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh
export PATH="$PWD/.venv/bin:$PATH"   # spark-submit finds SPARK_HOME and the driver's python3 through PATH
# a fresh container or chroot may have a host name that does not resolve: Spark then dies (UnknownHostException)
if ! getent hosts "$(hostname)" >/dev/null 2>&1; then
  export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_HOSTNAME=localhost
fi
# nbrunner's progress lines, not Spark's INFO log
exec spark-submit --master 'local[*]' --name nbrunner-example --conf spark.ui.showConsoleProgress=false \
  --conf spark.log.level=WARN \
  "$(nbrunner entrypoint)" run examples/daily_report.ipynb -p date="$(date -u +%F)" \
  -o 'runs/{notebook}-{date}.ipynb' "$@"
