#!/usr/bin/env bash
# Creates .venv and installs requirements.txt into it (only when requirements.txt changed since the last install).
# With --test-deps it also installs Debian's chromium (browser tests; no browser download) and postgresql (a private
# throw-away cluster for the PostgreSQL tests) when missing; needs root or sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3.11 python3; do command -v "$c" >/dev/null 2>&1 && { PY=$c; break; }; done
fi
[ -n "$PY" ] || { echo "setup: no python3 found; install Python 3.11" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing requirements (first time: a few minutes; torch is large)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -U pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  echo "$want" > "$stamp"
fi
# The project itself, in editable mode (so `app`, `ctl_core` and `db` import from anywhere, no sys.path edits).
if ! ls .venv/lib/python*/site-packages/__editable__*complete_the_look* >/dev/null 2>&1; then
  echo "setup: installing the project in editable mode"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>/dev/null \
    || .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
fi
if [ "${1:-}" = "--test-deps" ]; then
  need=()
  [ -x /usr/bin/chromium ] || need+=(chromium)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; }; then
      echo "setup: installing Debian's ${need[*]} for the tests"
      $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null \
        || echo "setup: could not install ${need[*]}; the tests that need them will be skipped" >&2
    else
      echo "setup: no apt-get/sudo to install ${need[*]}; the tests that need them will be skipped" >&2
    fi
  fi
fi
