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
dir=$(mktemp -d /tmp/apx-cpu.XXXXXX)
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
    JWT_SECRET=chat-cpu-secret-chat-cpu-secret-0000 \
    "$bin/apexaurum" >"$dir/server.log" 2>&1
) &
server=$!
trap 'kill $server $stub 2>/dev/null || true; rm -rf "$dir"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 1 600); do
  curl -sf "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -sf "$base/healthz" >/dev/null 2>&1; then
  echo "the server did not start (port $port taken?):" >&2
  tail -5 "$dir/server.log" >&2
  exit 1
fi
jar="$dir/cookies"
key=sk-ant-api03-chatcpu0-chatcpu0-chatcpu0-chatcpu0-chatcpu-0000
curl -sf -c "$jar" -b "$jar" -H 'content-type: application/json' \
  -d '{"email":"cpu@example.org","password":"chat-cpu-password"}' "$base/api/v1/auth/register" >/dev/null
curl -sf -c "$jar" -b "$jar" -H 'content-type: application/json' \
  -d "{\"api_key\":\"$key\"}" "$base/api/v1/user/api-key" >/dev/null
chat_config() {
  for i in $(seq 1 "$1"); do
    [ "$i" -gt 1 ] && echo next
    printf 'url = "%s/api/v1/chat"\nheader = "content-type: application/json"\n' "$base"
    printf 'data = "{\\"message\\":\\"hello %s\\"}"\noutput = "/dev/null"\n' "$i"
    printf 'cookie = "%s"\nwrite-out = "%%{http_code}\\n"\n' "$jar"
  done
}
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
