#!/usr/bin/env bash
# The web page in a real headless Chromium (Debian's `chromium`) driven by Playwright for
# Python, both installed by scripts/setup.sh (Playwright in its own venv; no browser download).
#   tests/browser/run.sh [pytest args]
# Runs the built cgaf: CGAF_BIN=/path/to/cgaf, or target/release/cgaf under $CARGO_TARGET_DIR.
# Uploads fixture plugins from $CARGO_TARGET_DIR/plugins (built here by scripts/build-plugins.sh).
# Screenshots go to $CGAF_TEST_ARTIFACTS (default $CARGO_TARGET_DIR/browser-artifacts).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${CGAF_BROWSER_VENV:-$HOME/.cache/cgaf-browser-venv}"
if ! "$venv/bin/python" -c 'import playwright, pytest, PIL' >/dev/null 2>&1; then
  echo "the browser tests need Playwright: run scripts/setup.sh" >&2
  exit 1
fi
# The fixture plugins the page uploads (idempotent; cargo rebuilds only what changed).
scripts/build-plugins.sh --tests --quiet
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/browser "$@"
