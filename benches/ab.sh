#!/usr/bin/env bash
# Runs two builds' measurements alternately, in pairs, so that the machine's drift (other
# work, thermal state, noisy neighbours) falls on both alike: on the machines here the same
# binary's figures move by a tenth or more from one run to the next, more than most single
# changes. Each argument after PAIRS is a command, run with bash; its output is labelled.
#
#   bash benches/ab.sh PAIRS BEFORE AFTER
#
# For example, the ttft bench of two commits (build each with
# `cargo bench --features ssr,stub --bench ttft --no-run` and copy the binary it names), or
# two release builds' CPU per message:
#
#   bash benches/ab.sh 3 /tmp/ttft-before /tmp/ttft-after
#   bash benches/ab.sh 2 'APX_BIN=/tmp/before bash benches/chat_cpu.sh 500' \
#                        'APX_BIN=/tmp/after bash benches/chat_cpu.sh 500'
set -euo pipefail
[ $# -eq 3 ] || { sed -n '7p' "$0" >&2; exit 2; }
pairs=$1 before=$2 after=$3
for pair in $(seq 1 "$pairs"); do
  for side in before after; do
    echo "== pair $pair of $pairs, $side: ${!side}"
    bash -c "${!side}" 2>&1
  done
done
