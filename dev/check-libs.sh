#!/usr/bin/env bash
# Fails in one line naming the first shared library that a binary the tests start cannot load: the ELF files in
# the virtualenvs (wheels' extensions, playwright's bundled node, ruff), java, chromium. A minimal Debian/Ubuntu
# lacks some (libatomic1 for playwright's node): dev/setup.sh --test installs the ones known.
# Usage: dev/check-libs.sh [VENV...]   (default: .venv and the Airflow virtualenvs that exist)
set -euo pipefail
cd "$(dirname "$0")/.."

venvs=("$@")
[ ${#venvs[@]} -gt 0 ] || for v in .venv .venv-airflow .venv-airflow2; do [ -d "$v" ] && venvs+=("$v"); done
binaries=()
for tool in java chromium chromium-browser; do
  if command -v "$tool" >/dev/null; then binaries+=("$(readlink -f "$(command -v "$tool")")"); fi
done
[ -x /usr/lib/chromium/chromium ] && binaries+=(/usr/lib/chromium/chromium)

missing=$(
  {
    [ ${#venvs[@]} -eq 0 ] || find "${venvs[@]}" -type f \( -name '*.so' -o -name '*.so.*' -o -path '*/bin/*' \
      -o -path '*/playwright/driver/node' \) -print0
    [ ${#binaries[@]} -eq 0 ] || printf '%s\0' "${binaries[@]}"
  } | xargs -0 -r ldd 2>/dev/null |
    awk '/^[^\t].*:$/ { file = substr($0, 1, length($0) - 1) } /=> not found/ { print $1 (file ? " (needed by " file ")" : ""); exit }'
) || true
if [ -n "$missing" ]; then
  echo "test: shared library $missing is missing: install its Debian package (apt-file search ${missing%% *})" >&2
  exit 1
fi
