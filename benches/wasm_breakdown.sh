#!/usr/bin/env bash
# Where the browser's WASM goes, per chunk: splits the last release build's WASM again
# (the linker's output, which still has function names) with wasm-split's own CLI, verbose,
# and sums each chunk's functions by crate or module, and by generic function (a
# framework function instantiated once per type shows up as one line with its count).
# Sizes are before wasm-opt and compression: compare them with each other, not with
# `bash .ci/page-weight`.
#
#   cargo leptos build --release --split      (or bash .ci/page-weight, which builds it)
#   bash benches/wasm_breakdown.sh [CHUNK] [N]  # CHUNK: a prefix of the module's name,
#                                               # default the chat page's; N lines (30)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chunk=${1:-Split(\"chat_route}
lines=${2:-30}
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v wasm-split-cli >/dev/null 2>&1; then
  # The same crate and version cargo-leptos 0.3.10 splits with.
  cargo install wasm_split_cli_support --version 0.2.3 --features build-binary --locked
fi
input="$root/target/front/wasm32-unknown-unknown/wasm-release/apexaurum.wasm"
[ -f "$input" ] || { echo "no release WASM at $input: build it first (see above)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
RUST_LOG=trace wasm-split-cli -v "$input" "$work" > "$work/split.log" 2>&1
python3 "$root/benches/support/wasm_breakdown.py" "$work/split.log" "$chunk" "$lines"
