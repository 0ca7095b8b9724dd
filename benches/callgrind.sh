#!/usr/bin/env bash
# Instructions per request of the release server, counted by valgrind's callgrind: unlike
# requests per second, the count does not depend on what else the machine is doing.
#
#   cargo build --release --features ssr,stub --bins
#   bash benches/callgrind.sh [N] [S]  # N requests of each kind (default 200), and S
#                                      # streamed chats (default 40)
#
# Starts the Anthropic stand-in and the server (SQLite in a temporary folder, the default
# log level), signs up one person with a key, warms up, then counts the server's
# instructions over N `GET /api/v1/user/api-key/status` and over N chat messages (each
# answered in full, and what it leaves to do in the background done), one at a time on one
# keep-alive connection. Then S chats whose answers stream as Anthropic streams them: 40
# words (about 47 events), the stand-in waiting 2 ms before each, so that every word
# arrives on its own (what an answer's length costs, per word). Prints instructions per
# request and leaves the callgrind files (for callgrind_annotate) in the folder it names.
set -euo pipefail
N=${1:-200}
S=${2:-40}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${APX_BIN:-${CARGO_TARGET_DIR:-$root/target}/release}
. "$root/benches/support/server.sh"
trap 'kill ${server:-} ${stub:-} 2>/dev/null || true' EXIT
start_server callgrind valgrind --tool=callgrind --callgrind-out-file=callgrind.out  # in $dir: the server runs there

# Background work the requests leave (the search index catching up, half a second after an
# answer) runs within the count it belongs to, not in the next one.
settle() { sleep 3; }
count() { # label, config, number of requests in it
  local n=$3
  callgrind_control -z "$server" >/dev/null 2>&1
  local codes
  codes=$(curl -s -K "$2" | sort | uniq -c | tr -s " \n" " ")
  settle
  callgrind_control -d "$1" "$server" >/dev/null 2>&1
  sleep 1
  local file
  file=$(ls -t "$dir"/callgrind.out.* | head -1)
  local total
  total=$(callgrind_annotate "$file" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  printf '%-8s %12s instructions in %d requests: %10.0f per request  (statuses:%s; %s)\n' \
    "$1" "$total" "$n" "$(echo "$total / $n" | bc -l)" "$codes" "$file"
}
status_config 20 >"$dir/warm-status"
chat_config 5 >"$dir/warm-chat"
curl -s -K "$dir/warm-status" >/dev/null
curl -s -K "$dir/warm-chat" >/dev/null
settle
status_config "$N" >"$dir/status"
chat_config "$N" >"$dir/chat"
count status "$dir/status" "$N"
count chat "$dir/chat" "$N"
curl -sf -H 'content-type: application/json' -d '{"kind":"slow","delay_ms":2}' \
  "$stub_base/_stub/fault" >/dev/null
chat_config 3 32 >"$dir/warm-streamed"
chat_config "$S" 32 >"$dir/streamed"
curl -s -K "$dir/warm-streamed" >/dev/null
settle
count streamed "$dir/streamed" "$S"
echo "files in $dir"
