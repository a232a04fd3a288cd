#!/usr/bin/env bash
# The main job: set everything up, then run the bundled example notebook through nbrunner under spark-submit
# (local mode, `spark` predefined in the notebook). Results (notebook, HTML, run record) land in ./runs/.
# Extra arguments go to `nbrunner run` (for example -p rows=1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash dev/setup.sh
export PATH="$PWD/.venv/bin:$PATH"   # spark-submit finds SPARK_HOME and the driver's python3 through PATH
master='local[*]'
# nbrunner's host-name rule (nbrunner/spark/local_host.py): where this machine's host name does not resolve (a fresh
# container or chroot), a local driver runs on 127.0.0.1 with a warning, instead of dying (UnknownHostException)
spark_conf=()
rule=$(python -m nbrunner.engines.spark.local_host --master "$master")
eval "$rule"
# nbrunner's progress lines, not Spark's INFO log
exec spark-submit --master "$master" --name nbrunner-example --conf spark.ui.showConsoleProgress=false \
  --conf spark.log.level=WARN "${spark_conf[@]}" \
  "$(nbrunner entrypoint)" run examples/daily_report.ipynb -p date="$(date -u +%F)" \
  -o 'runs/{notebook}-{date}.ipynb' "$@"
