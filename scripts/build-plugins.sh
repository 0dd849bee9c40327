#!/usr/bin/env bash
# Builds the plugin components (wasm32-wasip2; a cdylib built with wit-bindgen for this target is
# already a component) and copies them, under their registry names, to
#
#   $CARGO_TARGET_DIR/plugins/builtin/<name>.wasm   the built-ins
#   $CARGO_TARGET_DIR/plugins/hostile/<name>.wasm   the hostile test plugins (with --hostile)
#
# Usage: scripts/build-plugins.sh [--hostile] [--quiet]
#
# Idempotent: cargo rebuilds only what changed and a component is copied only when it differs
# (atomically, through a temporary file). Adds the wasm32-wasip2 Rust target when it is missing.
#
# Registry name -> cargo package -> cargo artefact (the lib name: cargo writes
# target/wasm32-wasip2/release/<lib>.wasm, lib names use '_' where registry names use '-'):
#
#   gasf             cgaf-plugin-gasf             gasf.wasm
#   gadf             cgaf-plugin-gadf             gadf.wasm
#   mtf              cgaf-plugin-mtf              mtf.wasm
#   recurrence-plot  cgaf-plugin-recurrence-plot  recurrence_plot.wasm
#   sma-cross        cgaf-plugin-sma-cross        sma_cross.wasm
#   blend-mean       cgaf-plugin-blend-mean       blend_mean.wasm
#   blend-ewma       cgaf-plugin-blend-ewma       blend_ewma.wasm
#   blend-product    cgaf-plugin-blend-product    blend_product.wasm
#
# Hostile plugins (tests/plugins/<name>): package cgaf-hostile-<name>, artefact
# hostile_<name with '_'>.wasm, copied to plugins/hostile/<name>.wasm; e.g. memory-bomb is
# cgaf-hostile-memory-bomb -> hostile_memory_bomb.wasm -> plugins/hostile/memory-bomb.wasm.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh

hostile=0
quiet=0
for arg in "$@"; do
  case "$arg" in
    --hostile) hostile=1 ;;
    --quiet | -q) quiet=1 ;;
    -h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-plugins: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[build-plugins] %s\n' "$*" >&2; }

TARGET=wasm32-wasip2
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  say "adding the $TARGET Rust target"
  rustup target add "$TARGET" >&2
fi

BUILTINS=(gasf gadf mtf recurrence-plot sma-cross blend-mean blend-ewma blend-product)
HOSTILE=(loop memory-bomb stack-overflow panic huge-result wrong-world wasi-sockets wasi-filesystem bad-info slow-info gadf-next momentum)

packages=()
for n in "${BUILTINS[@]}"; do packages+=(-p "cgaf-plugin-$n"); done
if [ "$hostile" = 1 ]; then
  for n in "${HOSTILE[@]}"; do packages+=(-p "cgaf-hostile-$n"); done
fi

# The same separate target folder as host/build.rs's nested build, so the wasm dependencies
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
for n in "${BUILTINS[@]}"; do
  install_component "$out_dir/${n//-/_}.wasm" "$dest_root/builtin/$n.wasm"
done
if [ "$hostile" = 1 ]; then
  for n in "${HOSTILE[@]}"; do
    install_component "$out_dir/hostile_${n//-/_}.wasm" "$dest_root/hostile/$n.wasm"
  done
fi
