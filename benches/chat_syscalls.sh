#!/usr/bin/env bash
# Where a chat message's CPU goes outside the app's own code: the server's user and system
# time per message, and the system calls it makes per message (counted by strace, which
# slows the server down but not the counts). On this machine half the CPU of a message is
# the kernel's: thread wake-ups (futex, epoll_wait), SQLite's WAL writes (two pwrite64 a
# page) and its file locks (fcntl), the sockets' writes.
#
#   cargo build --release --features ssr,stub --bins
#   bash benches/chat_syscalls.sh [N]      # N chat messages (default 300)
#
# Same set-up as benches/chat_cpu.sh: the stand-in, SQLite in a temporary folder, one
# person with a key, a warm-up, then N chats one at a time on one keep-alive connection.
set -euo pipefail
N=${1:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${APX_BIN:-${CARGO_TARGET_DIR:-$root/target}/release}
command -v strace >/dev/null || { echo "needs strace (apt-get install -y strace)" >&2; exit 1; }
. "$root/benches/support/server.sh"
trap 'kill ${tracer:-} ${server:-} ${stub:-} 2>/dev/null || true; rm -rf "${dir:-}"' EXIT
start_server syscalls
chat_config 20 >"$dir/warm"
chat_config "$N" >"$dir/chat"
curl -s -K "$dir/warm" >/dev/null
sleep 3

# utime and stime of the whole process (its threads, live and ended), in clock ticks.
times() { sed 's/.*) //' "/proc/$server/stat" | awk '{print $12, $13}'; }
hz=$(getconf CLK_TCK)
read -r u0 s0 < <(times)
curl -s -K "$dir/chat" >/dev/null
sleep 3
read -r u1 s1 < <(times)
printf 'CPU per chat message over %d: user %.3f ms, system %.3f ms\n' "$N" \
  "$(echo "($u1 - $u0) * 1000 / $hz / $N" | bc -l)" "$(echo "($s1 - $s0) * 1000 / $hz / $N" | bc -l)"

strace -c -f -p "$server" -o "$dir/strace" 2>/dev/null &
tracer=$!
sleep 1
curl -s -K "$dir/chat" >/dev/null
sleep 3
kill -INT "$tracer"
wait "$tracer" 2>/dev/null || true
tracer=
echo "system calls per chat message (strace -c over another $N):"
awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 {
  calls = $4; name = $NF
  if (name == "total") next
  if (calls / n >= 0.5) printf "  %-14s %6.1f\n", name, calls / n
}' "$dir/strace" | sort -k2 -rn
