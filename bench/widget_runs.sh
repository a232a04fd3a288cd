#!/usr/bin/env bash
# Stress for lost execute replies (issue "A reply that never comes"): N runs in a row of the Output-widget notebook
# of tests/test_reply_lost.py (nbclient's Output.ipynb shape), each bounded at 600 s, with both cores kept busy.
# Prints how many ended by themselves with exit 0, how many hung, and how many needed the kernel_info probe.
# Usage: bash bench/widget_runs.sh [N]   (default 200)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
n=${1:-200}
work=$(mktemp -d)
trap 'kill "${hogs[@]}" 2>/dev/null; rm -rf "$work"' EXIT
.venv/bin/python -c "
from pathlib import Path
from tests.test_reply_lost import WIDGET_CELLS, write
write(Path('$work/widgets.ipynb'), WIDGET_CELLS)"
hogs=()
for _ in 1 2; do .venv/bin/python -c 'while True: pass' & hogs+=($!); done
ok=0 hung=0 failed=0 probed=0
for _ in $(seq 1 "$n"); do
  timeout 600 .venv/bin/nbrunner run "$work/widgets.ipynb" -o "$work/out.ipynb" --no-html >/dev/null 2>"$work/err"
  rc=$?
  grep -q "reply never came" "$work/err" && probed=$((probed + 1))
  case $rc in
    0) ok=$((ok + 1)) ;;
    124) hung=$((hung + 1)) ;;
    *) failed=$((failed + 1)); echo "run exited $rc:" >&2; tail -n 5 "$work/err" >&2 ;;
  esac
done
echo "runs=$n exit0=$ok hung=$hung failed=$failed replies_lost=$probed"
