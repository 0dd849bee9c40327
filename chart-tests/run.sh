#!/usr/bin/env sh
# Lint and render the Helm chart with a real Helm and check the result.
#   chart-tests/run.sh [pytest args]
# Test (a) runs the built cgaf binary: CGAF_BIN=/path/to/cgaf, or target/release/cgaf under
# $CARGO_TARGET_DIR, $HOME/.cache/cgaf-target or the repository.
set -eu
cd "$(dirname "$0")/.."
if ! python3 -c 'import helm_python, yaml, pytest' >/dev/null 2>&1; then
  python3 -m pip install -q -r chart-tests/requirements.txt
fi
exec python3 -m pytest -q -p no:cacheprovider chart-tests "$@"
