#!/usr/bin/env bash
# Builds the plugin components (wasm32-wasip2; a cdylib built with wit-bindgen for this target is
# already a component) of the one list, host/plugin-artifacts/plugins.txt (also read by
# host/build.rs and tests/kit/build.rs), and copies them, under their list names, to
#
#   $CARGO_TARGET_DIR/plugins/builtin/<name>.wasm   the built-ins
#   $CARGO_TARGET_DIR/plugins/hostile/<name>.wasm   the hostile test plugins (with --tests)
#   $CARGO_TARGET_DIR/plugins/fixture/<name>.wasm   the test fixtures (with --tests)
#
# Usage: scripts/build-plugins.sh [--tests] [--quiet]
#
# The tests do not need this script: the test kit builds what they use. Idempotent: cargo
# rebuilds only what changed and a component is copied only when it differs (atomically, through
# a temporary file). Adds the wasm32-wasip2 Rust target when it is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

tests=0
quiet=0
for arg in "$@"; do
  case "$arg" in
    --tests) tests=1 ;;
    --quiet | -q) quiet=1 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-plugins: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[build-plugins] %s\n' "$*" >&2; }

TARGET=wasm32-wasip2
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  say "adding the $TARGET Rust target"
  rustup target add "$TARGET" >&2
fi

# The list: kind name package artifact, one plugin a line ('#' starts a comment).
kinds=() names=() artifacts=() packages=()
while read -r kind name package artifact _; do
  case "$kind" in '' | '#'*) continue ;; esac
  if [ "$kind" != builtin ] && [ "$tests" = 0 ]; then continue; fi
  kinds+=("$kind") names+=("$name") artifacts+=("$artifact") packages+=(-p "$package")
done <host/plugin-artifacts/plugins.txt

# The same separate target folder as the build scripts' nested builds, so the wasm dependencies
# compile once and the outer build's lock is never contended.
plugin_target="$CARGO_TARGET_DIR/plugin-target"
cargo_flags=(--release --target "$TARGET" --target-dir "$plugin_target")
[ "$quiet" = 1 ] && cargo_flags+=(--quiet)
cargo build "${cargo_flags[@]}" "${packages[@]}" >&2

out_dir="$plugin_target/$TARGET/release"
dest_root="$CARGO_TARGET_DIR/plugins"

# install <artefact> <destination>: copies when the content differs; prints name and size.
install_component() {
  local src="$1" dst="$2"
  if [ ! -f "$src" ]; then
    say "missing artefact $src"; exit 1
  fi
  mkdir -p "$(dirname "$dst")"
  if ! cmp -s "$src" "$dst" 2>/dev/null; then
    cp "$src" "$dst.tmp.$$"
    mv -f "$dst.tmp.$$" "$dst"
  fi
  printf '  %-28s %9d bytes\n' "${dst#"$dest_root"/}" "$(wc -c <"$dst")"
}

echo "plugins in $dest_root:"
for i in "${!names[@]}"; do
  install_component "$out_dir/${artifacts[$i]}.wasm" "$dest_root/${kinds[$i]}/${names[$i]}.wasm"
done
