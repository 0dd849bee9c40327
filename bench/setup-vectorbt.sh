#!/usr/bin/env bash
# Sets up the Python virtualenv used by the vectorbt baseline of `cgaf bench --only sweep`
# (bench/vectorbt_sweep.py) and prints the path of its python on the last stdout line.
#
#   venv:  ${CGAF_BENCH_VECTORBT_VENV:-$HOME/.cache/cgaf-bench-vectorbt-venv}
#   base:  ${CGAF_BENCH_PYTHON:-python3}
#
# Idempotent: when the venv already imports vectorbt it only prints the path.
# Progress and errors go to stderr; stdout carries nothing but the python path.
set -euo pipefail

VECTORBT_VERSION="1.2.0"
VENV="${CGAF_BENCH_VECTORBT_VENV:-$HOME/.cache/cgaf-bench-vectorbt-venv}"
BASE_PY="${CGAF_BENCH_PYTHON:-python3}"
PY="$VENV/bin/python"

log() { echo "setup-vectorbt: $*" >&2; }

# Fast path: already set up (with the pinned version).
if [ -x "$PY" ] && "$PY" -c "import vectorbt, sys; sys.exit(vectorbt.__version__ != '$VECTORBT_VERSION')" >/dev/null 2>&1; then
    echo "$PY"
    exit 0
fi

if ! command -v "$BASE_PY" >/dev/null 2>&1; then
    log "error: '$BASE_PY' not found; install Python 3 (or set CGAF_BENCH_PYTHON)"
    exit 1
fi

# A venv with pip needs both venv and ensurepip (Debian splits them into python3-venv).
if ! "$BASE_PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing python3-venv with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq python3-venv >/dev/null
    else
        log "error: the Python venv module is missing; install python3-venv (e.g. sudo apt-get install python3-venv)"
        exit 1
    fi
fi

# Create the venv, or recreate it if its interpreter is broken (e.g. the base python went away).
if [ ! -x "$PY" ] || ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    log "creating virtualenv at $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$BASE_PY" -m venv --clear "$VENV"
fi

log "installing vectorbt==$VECTORBT_VERSION (numba, numpy, pandas; a few minutes the first time)"
"$PY" -m pip install --quiet --disable-pip-version-check "vectorbt==$VECTORBT_VERSION" >&2

"$PY" -c 'import vectorbt' >/dev/null
echo "$PY"
