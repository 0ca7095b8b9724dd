# Sourced by benches/callgrind.sh and benches/chat_cpu.sh: the release server and the
# Anthropic stand-in on random loopback ports, SQLite in a temporary folder, one person
# signed up with a stand-in key; and the curl configs that send requests on one keep-alive
# connection (as a browser or the benches do).
#
#   start_server NAME [WRAPPER…]   sets dir, base, jar, server (the pid to watch), stub,
#                                  stub_base; WRAPPER runs the server (e.g. valgrind
#                                  --tool=callgrind)
#   status_config N, chat_config N print N requests' curl config
#   chat_config N W                the same, each message W words longer: the stand-in
#                                  echoes it, a word per event (W=32: answers of 40 words)
#
# Needs `root` (the repository) and `bin` (the folder with apexaurum and anthropic-stub).

start_server() {
  local name=$1
  shift
  dir=$(mktemp -d "/tmp/apx-$name.XXXXXX")
  mkdir -p "$dir/data"
  local port=$((20000 + RANDOM % 20000))
  local stub_port=$((port + 1))
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
      JWT_SECRET=bench-secret-bench-secret-bench-0000 \
      "$@" "$bin/apexaurum" >"$dir/server.log" 2>&1
  ) &
  server=$!
  base=http://127.0.0.1:$port
  stub_base=http://127.0.0.1:$stub_port
  # Under valgrind the server takes its time to start.
  for _ in $(seq 1 600); do
    curl -sf "$base/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! curl -sf "$base/healthz" >/dev/null 2>&1; then
    echo "the server did not start (port $port taken?):" >&2
    tail -5 "$dir/server.log" >&2
    return 1
  fi
  jar="$dir/cookies"
  local key=sk-ant-api03-bench000-bench000-bench000-bench000-bench000-0000
  curl -sf -c "$jar" -b "$jar" -H 'content-type: application/json' \
    -d '{"email":"bench@example.org","password":"bench-password"}' "$base/api/v1/auth/register" >/dev/null
  curl -sf -c "$jar" -b "$jar" -H 'content-type: application/json' \
    -d "{\"api_key\":\"$key\"}" "$base/api/v1/user/api-key" >/dev/null
}

status_config() {
  for i in $(seq 1 "$1"); do
    [ "$i" -gt 1 ] && echo next
    printf 'url = "%s/api/v1/user/api-key/status"\noutput = "/dev/null"\n' "$base"
    printf 'cookie = "%s"\nwrite-out = "%%{http_code}\\n"\n' "$jar"
  done
}

chat_config() { # N [W]: N chats; each message W words longer (the stand-in echoes them)
  local words=""
  [ "${2:-0}" -gt 0 ] && words=" $(seq -f 'word%g' 1 "$2" | paste -sd' ')"
  for i in $(seq 1 "$1"); do
    [ "$i" -gt 1 ] && echo next
    printf 'url = "%s/api/v1/chat"\nheader = "content-type: application/json"\n' "$base"
    printf 'data = "{\\"message\\":\\"hello %s%s\\"}"\noutput = "/dev/null"\n' "$i" "$words"
    printf 'cookie = "%s"\nwrite-out = "%%{http_code}\\n"\n' "$jar"
  done
}
