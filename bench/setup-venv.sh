#!/usr/bin/env bash
# Makes (once) a private Python virtualenv with one pinned package for a `cgaf bench` baseline and
# prints the path of its python on the last stdout line. Used by setup-backtrader.sh and
# setup-vectorbt.sh:
#
#   setup-venv.sh NAME MODULE VERSION VENV [NOTE] [PACKAGE]
#
# NAME names the log lines, MODULE is what the venv must import, VERSION the pinned version of
# the PyPI package MODULE (checked against MODULE.__version__ when it has one), VENV the folder,
# NOTE an optional remark for the install line, PACKAGE the PyPI name when it is not MODULE
# (Pillow's module is PIL). The base interpreter is ${CGAF_BENCH_PYTHON:-python3}.
# Idempotent; installs python3-venv with apt-get when root and it is missing. Progress and errors
# go to stderr; stdout carries nothing but the python path.
set -euo pipefail

NAME="$1" MODULE="$2" VERSION="$3" VENV="$4" NOTE="${5:-}" PACKAGE="${6:-$2}"
BASE_PY="${CGAF_BENCH_PYTHON:-python3}"
PY="$VENV/bin/python"

log() { echo "setup-$NAME: $*" >&2; }

# Fast path: already set up with the pinned version (a module without __version__ counts as it).
if [ -x "$PY" ] && "$PY" -c "import $MODULE, sys; sys.exit(getattr($MODULE, '__version__', '$VERSION') != '$VERSION')" >/dev/null 2>&1; then
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

log "installing $PACKAGE==$VERSION${NOTE:+ ($NOTE)}"
"$PY" -m pip install --quiet --disable-pip-version-check "$PACKAGE==$VERSION" >&2

"$PY" -c "import $MODULE" >/dev/null
echo "$PY"
