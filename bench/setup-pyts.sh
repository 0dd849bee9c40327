#!/usr/bin/env bash
# Makes (once) the virtualenv with pyts and Pillow for `cgaf bench`'s pyts and original-calculate
# baselines (`bench/pyts_baseline.py`) and prints its python's path on the last stdout line (see
# setup-venv.sh). pyts pulls numpy, scipy, scikit-learn and numba (~400 MB, about a minute the
# first time).
set -euo pipefail
here="$(dirname "$0")"
venv="${CGAF_BENCH_PYTS_VENV:-$HOME/.cache/cgaf-bench-pyts-venv}"
"$here/setup-venv.sh" pyts pyts 0.14.1 "$venv" "pulls numpy, scipy, scikit-learn, numba" >/dev/null
exec "$here/setup-venv.sh" pyts PIL 13.0.0 "$venv" "the original's PNG encoder" pillow
