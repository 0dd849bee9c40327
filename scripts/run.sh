#!/usr/bin/env bash
# The quick start: set up what is missing, build, and run `cgaf serve` on its embedded defaults
# (private PostgreSQL in ./.cgaf, the market simulator, API on 127.0.0.1:4202). Extra arguments
# go to `cgaf serve`, e.g. `scripts/run.sh --products BTC-USD:300`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup.sh
cargo build --release --locked -p cgaf
exec "$CARGO_TARGET_DIR/release/cgaf" serve "$@"
