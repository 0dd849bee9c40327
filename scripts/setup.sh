#!/usr/bin/env bash
# Sets up what is missing on this machine for crypto-gaf: the wasm32-wasip2 Rust target, the
# PostgreSQL server binaries, Prometheus with promtool for the observability tests (installed
# with apt if absent; the distribution's Prometheus service is not used) and, for Python plugins,
# componentize-py in a private venv (~/.cache/cgaf-python/venv; skipped with a warning when
# python3 or PyPI is unavailable, or with CGAF_SETUP_PYTHON=0), and for the web page's browser
# tests Debian's chromium (apt) and Playwright for Python in a private venv
# (~/.cache/cgaf-browser-venv; Playwright drives /usr/bin/chromium, no browser is downloaded).
# Safe to run again.
set -euo pipefail

say() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

if ! command -v cargo >/dev/null 2>&1; then
  say "cargo is missing: install Rust from https://rustup.rs first"; exit 1
fi
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  say "adding the wasm32-wasip2 Rust target"
  rustup target add wasm32-wasip2 >&2
fi

have_pg() {
  command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}
if ! have_pg; then
  if command -v apt-get >/dev/null 2>&1; then
    say "installing PostgreSQL server binaries with apt"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    # The service cgaf needs is its own private cluster; the distribution's default one is not used.
  else
    say "PostgreSQL server binaries (initdb, pg_ctl) are missing and apt-get is not available;"
    say "install PostgreSQL 13+ or pass --database-url"; exit 1
  fi
fi
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    say "installing Prometheus (prometheus, promtool) with apt for the observability tests"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >&2
  else
    say "prometheus and promtool are missing and apt-get is not available; the observability tests need them"
    exit 1
  fi
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  say "creating the unprivileged 'postgres' user to run the private PostgreSQL (it refuses root)"
  as_root useradd --system --home /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi
# componentize-py builds Python plugins (cgaf plugin build finds it on PATH or in this venv).
COMPONENTIZE_PY_VERSION=0.25.1
venv="${HOME}/.cache/cgaf-python/venv"
if [ "${CGAF_SETUP_PYTHON:-1}" != 0 ] && ! command -v componentize-py >/dev/null 2>&1 \
   && ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$COMPONENTIZE_PY_VERSION"; then
  if command -v python3 >/dev/null 2>&1 && python3 -m venv "$venv" >&2 \
     && "$venv/bin/pip" install -q "componentize-py==$COMPONENTIZE_PY_VERSION" >&2; then
    say "componentize-py $COMPONENTIZE_PY_VERSION installed in $venv (Python plugins)"
  else
    say "warning: componentize-py could not be installed; Python plugins cannot be built (Rust ones can)"
  fi
fi
# The browser tests (tests/browser): Debian's chromium, driven by Playwright from its own venv.
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    say "installing chromium with apt for the browser tests"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  else
    say "chromium is missing and apt-get is not available; the browser tests need it"
    exit 1
  fi
fi
PLAYWRIGHT_VERSION=1.65.2
browser_venv="${CGAF_BROWSER_VENV:-${HOME}/.cache/cgaf-browser-venv}"
if ! "$browser_venv/bin/python" -c "import importlib.metadata as m, PIL, pytest; assert m.version('playwright') == '$PLAYWRIGHT_VERSION'" 2>/dev/null; then
  say "installing Playwright $PLAYWRIGHT_VERSION for Python in $browser_venv (browser tests)"
  python3 -m venv "$browser_venv" >&2
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the tests use Debian's chromium, never a downloaded one.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$browser_venv/bin/pip" install -q \
    "playwright==$PLAYWRIGHT_VERSION" "pytest==9.2.0" "pillow==13.0.0" >&2
fi
say "ok"
