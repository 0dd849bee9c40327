#!/usr/bin/env bash
# Sets up the Python virtualenv used by the Backtrader baseline of `cgaf bench`
# (bench/backtrader_sma.py) and prints the path of its python on the last stdout line.
#
#   venv:  ${CGAF_BENCH_VENV:-$HOME/.cache/cgaf-bench-venv}
#   base:  ${CGAF_BENCH_PYTHON:-python3}
#
# Idempotent: when the venv already imports backtrader it only prints the path.
set -euo pipefail
exec "$(dirname "$0")/setup-venv.sh" backtrader backtrader 1.9.78.123 "${CGAF_BENCH_VENV:-$HOME/.cache/cgaf-bench-venv}"
