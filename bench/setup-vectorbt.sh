#!/usr/bin/env bash
# Sets up the Python virtualenv used by the vectorbt baseline of `cgaf bench --only sweep`
# (bench/vectorbt_sweep.py) and prints the path of its python on the last stdout line.
#
#   venv:  ${CGAF_BENCH_VECTORBT_VENV:-$HOME/.cache/cgaf-bench-vectorbt-venv}
#   base:  ${CGAF_BENCH_PYTHON:-python3}
#
# Idempotent: when the venv already imports vectorbt 1.2.0 it only prints the path.
set -euo pipefail
exec "$(dirname "$0")/setup-venv.sh" vectorbt vectorbt 1.2.0 "${CGAF_BENCH_VECTORBT_VENV:-$HOME/.cache/cgaf-bench-vectorbt-venv}" \
    "numba, numpy, pandas; a few minutes the first time"
