#!/usr/bin/env bash
# Makes (once) the virtualenv with Pillow for `cgaf bench`'s PNG-size baseline and prints its
# python's path on the last stdout line (see setup-venv.sh).
set -euo pipefail
exec "$(dirname "$0")/setup-venv.sh" pillow PIL 13.0.0 "${CGAF_BENCH_PILLOW_VENV:-$HOME/.cache/cgaf-bench-pillow-venv}" "" pillow
