#!/usr/bin/env bash
# CPU time per chat message of the release server, split by thread: its tokio runtime and
# the SQLite connections' threads (sqlx runs each connection on a thread of its own, so the
# runtime's threads alone miss the database's share). Wall-clock free, but not load-free:
# run it on a quiet machine, or alternately with the binaries compared.
#
#   cargo build --release --features ssr,stub --bins
#   bash benches/chat_cpu.sh [N]       # N chat messages (default 1000)
#   APX_BIN=/some/other/build bash benches/chat_cpu.sh   # another build's binaries
#
# Same set-up as benches/callgrind.sh: the stand-in, SQLite in a temporary folder, one
# person with a key, a warm-up, then N chats one at a time on one keep-alive connection,
# each answered in full; counts the CPU (user + system) of the server's threads between
# the first and the last, plus 3 s for the background work the chats leave.
set -euo pipefail
N=${1:-1000}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${APX_BIN:-${CARGO_TARGET_DIR:-$root/target}/release}
. "$root/benches/support/server.sh"
trap 'kill ${server:-} ${stub:-} 2>/dev/null || true; rm -rf "${dir:-}"' EXIT
start_server cpu

# Clock ticks (USER_HZ) of the server's threads whose name starts with $1, or of the others.
ticks() {
  local total=0 name fields
  for task in /proc/"$server"/task/*; do
    name=$(cat "$task/comm" 2>/dev/null) || continue
    fields=$(sed 's/.*) //' "$task/stat" 2>/dev/null) || continue
    case "$name" in
      sqlx-sqlite*) [ "$1" = sqlite ] || continue ;;
      *) [ "$1" = other ] || continue ;;
    esac
    total=$((total + $(echo "$fields" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
chat_config 20 >"$dir/warm"
chat_config "$N" >"$dir/chat"
curl -s -K "$dir/warm" >/dev/null
sleep 3
hz=$(getconf CLK_TCK)
s0=$(ticks sqlite) o0=$(ticks other)
codes=$(curl -s -K "$dir/chat" | sort | uniq -c | tr -s " \n" " ")
sleep 3
s1=$(ticks sqlite) o1=$(ticks other)
per() { echo "scale=3; ($1) * 1000 / $hz / $N" | bc -l; }
printf 'CPU per chat message over %d (statuses:%s): runtime and the rest %s ms, SQLite threads %s ms, together %s ms\n' \
  "$N" "$codes" "$(per "$o1 - $o0")" "$(per "$s1 - $s0")" "$(per "$o1 - $o0 + $s1 - $s0")"
