#!/usr/bin/env bash
# Instructions per request of the release server, counted by valgrind's callgrind: unlike
# requests per second, the count does not depend on what else the machine is doing.
#
#   cargo build --release --features ssr,stub --bins
#   bash benches/callgrind.sh [N]      # N requests of each kind (default 200)
#
# Starts the Anthropic stand-in and the server (SQLite in a temporary folder, the default
# log level), signs up one person with a key, warms up, then counts the server's
# instructions over N `GET /api/v1/user/api-key/status` and over N chat messages (each
# answered in full, and what it leaves to do in the background done), one at a time on one
# keep-alive connection. Prints instructions per request and leaves the callgrind files
# (for callgrind_annotate) in the folder it names.
set -euo pipefail
N=${1:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${APX_BIN:-${CARGO_TARGET_DIR:-$root/target}/release}
dir=$(mktemp -d /tmp/apx-callgrind.XXXXXX)
mkdir -p "$dir/data"
port=$((20000 + RANDOM % 20000))
stub_port=$((port + 1))
cat >"$dir/Leptos.toml" <<TOML
site-addr = "127.0.0.1:$port"
site-root = "$dir/site"
data-dir = "$dir/data"
chat-messages-per-minute = 1000000
chat-streams-per-user = 1000
TOML
STUB_ADDR=127.0.0.1:$stub_port "$bin/anthropic-stub" >"$dir/stub.log" 2>&1 &
stub=$!
(
  cd "$dir"
  exec env DATABASE_URL="sqlite://$dir/data/app.db" \
    ANTHROPIC_BASE_URL="http://127.0.0.1:$stub_port" \
    JWT_SECRET=callgrind-secret-callgrind-secret-000 \
    valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
    "$bin/apexaurum" >"$dir/server.log" 2>&1
) &
server=$!
trap 'kill $server $stub 2>/dev/null || true' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 1 600); do
  curl -sf "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
jar="$dir/cookies"
key=sk-ant-api03-callgrind-callgrind-callgrind-callgrind-0000
curl -sf -c "$jar" -b "$jar" -H 'content-type: application/json' \
  -d '{"email":"cg@example.org","password":"callgrind-password"}' "$base/api/v1/auth/register" >/dev/null
curl -sf -c "$jar" -b "$jar" -H 'content-type: application/json' \
  -d "{\"api_key\":\"$key\"}" "$base/api/v1/user/api-key" >/dev/null

# One curl, many requests: one keep-alive connection, as a browser or the benches use.
status_config() {
  for i in $(seq 1 "$1"); do
    [ "$i" -gt 1 ] && echo next
    printf 'url = "%s/api/v1/user/api-key/status"\noutput = "/dev/null"\n' "$base"
    printf 'cookie = "%s"\nwrite-out = "%%{http_code}\\n"\n' "$jar"
  done
}
chat_config() {
  for i in $(seq 1 "$1"); do
    [ "$i" -gt 1 ] && echo next
    printf 'url = "%s/api/v1/chat"\nheader = "content-type: application/json"\n' "$base"
    printf 'data = "{\\"message\\":\\"hello %s\\"}"\noutput = "/dev/null"\n' "$i"
    printf 'cookie = "%s"\nwrite-out = "%%{http_code}\\n"\n' "$jar"
  done
}
# Background work the requests leave (the search index catching up, half a second after an
# answer) runs within the count it belongs to, not in the next one.
settle() { sleep 3; }
count() { # label, config
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
    "$1" "$total" "$N" "$(echo "$total / $N" | bc -l)" "$codes" "$file"
}
status_config 20 >"$dir/warm-status"
chat_config 5 >"$dir/warm-chat"
curl -s -K "$dir/warm-status" >/dev/null
curl -s -K "$dir/warm-chat" >/dev/null
settle
status_config "$N" >"$dir/status"
chat_config "$N" >"$dir/chat"
count status "$dir/status"
count chat "$dir/chat"
echo "files in $dir"
