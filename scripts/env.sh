# Sourced by the scripts: one cargo target folder outside the clone, shared by runs and CI.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cgaf-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Incremental caches grow with every build of a changed crate and are never pruned by cargo:
# drop them once they pass 8 GB (the next build recompiles the workspace's own crates).
for d in "$CARGO_TARGET_DIR"/release/incremental "$CARGO_TARGET_DIR"/debug/incremental; do
  if [ -d "$d" ] && [ "$(du -sm "$d" 2>/dev/null | cut -f1)" -gt 8192 ]; then rm -rf "$d"; fi
done
