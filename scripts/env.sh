# Sourced by the scripts: one cargo target folder outside the clone, shared by runs and CI.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cgaf-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
