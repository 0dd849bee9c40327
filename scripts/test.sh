#!/usr/bin/env bash
# The test command: set up what is missing, then run every test — unit, integration against a
# real PostgreSQL the test kit starts itself (one cluster per test binary), end-to-end against the
# real binary, golden files from tests/golden, the Helm chart rendered and linted with a real
# Helm, and its dashboards and alert rules checked with a real Prometheus and promtool
# (chart-tests/test_observability.py), and the web page in a real headless Chromium
# (tests/browser).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh
cargo build --release --locked -p cgaf
cargo test --release --locked --workspace -- --test-threads 2
if [ -f chart-tests/run.sh ]; then
  CGAF_BIN="$CARGO_TARGET_DIR/release/cgaf" bash chart-tests/run.sh
fi
CGAF_BIN="$CARGO_TARGET_DIR/release/cgaf" bash tests/browser/run.sh
echo "all tests passed"
