#!/usr/bin/env bash
# Set up what nbrunner needs on a fresh Debian/Ubuntu machine with Python >= 3.10: a virtualenv in .venv with
# nbrunner installed (editable) and, for Spark, Java 17+ (through apt when missing). Safe to run again: it only
# does what is missing. Usage: dev/setup.sh [--test]   (--test also installs the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_install() {
  echo "setup: installing $* with apt" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup: nbrunner needs Python 3.10 or newer as '$python' (set PYTHON=/path/to/python3.x)" >&2
  exit 2
fi

# Java 17 or newer, for spark-submit
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
  apt_install openjdk-17-jre-headless 2>/dev/null || apt_install default-jre-headless
fi

# what the test tools need beyond their wheels (dev/check-libs.sh names a shared library still missing): Debian's
# chromium for the page tests (playwright never downloads a browser here), libatomic1 for playwright's bundled node,
# debootstrap for the fresh-system test (-m fresh)
if [ -n "$extras" ]; then
  missing=()
  command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
  command -v npm >/dev/null || missing+=(npm)  # Azurite, the Azure Storage emulator, comes from npm (below)
  for package in libatomic1 debootstrap; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  if ! "$python" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    ver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    apt_install "python${ver}-venv" 2>/dev/null || apt_install python3-venv
    "$python" -m venv .venv
  fi
fi

# reinstall only when the dependencies changed
stamp=".venv/.nbrunner-installed${extras}"
want=$(cat pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".${extras}"
  echo "$want" > "$stamp"
fi
# Azurite, the Azure Storage emulator of the store tests (-m stores), from npm into .node/ (ignored by git); where it
# cannot be installed (no npm, a Node.js too old for it) the Azure tests skip, saying why
if [ -n "$extras" ] && command -v npm >/dev/null && [ ! -x .node/node_modules/.bin/azurite-blob ]; then
  echo "setup: installing Azurite with npm into .node/" >&2
  mkdir -p .node
  npm install --silent --no-audit --no-fund --prefix .node azurite >/dev/null ||
    echo "setup: warning: Azurite could not be installed with npm ($(node --version 2>&1)); the Azure tests will skip" >&2
fi
# the bytecode an installed package has (pip compiles it; an editable install leaves it to the first import, which
# PYTHONDONTWRITEBYTECODE=1 turns into a compilation on every run)
.venv/bin/python -m compileall -q nbrunner >/dev/null
