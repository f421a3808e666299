#!/usr/bin/env bash
# Produces the figures in BENCHMARKS.md: each scenario against the hub and, where the
# raw broadcast server can run it, against that ceiling, one after the other on this
# machine. Reports (one JSON per run) go to $OUT. Needs release builds:
#   cargo build --release -p hub -p loadtest
# and PostgreSQL on 127.0.0.1:5432 (trust auth) for the persisted-chat run.
set -euo pipefail
cd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

OUT=${OUT:-/tmp/hb-bench}
BIN=target/release
ONLY=${ONLY:-idle fanout maxrate chat}
mkdir -p "$OUT"
export LOADTEST_ADMIN_EMAIL=bench-admin@example.org
export LOADTEST_ADMIN_PASSWORD='bench admin passphrase 2026'
# Throughput runs would otherwise measure the per-user limits, not the hub.
UNLIMITED=(HUB_GATEWAY__MESSAGES_PER_SECOND=1000000 HUB_GATEWAY__FLOOD_FRAMES_PER_SECOND=1000000)

wait_http() {
    for _ in $(seq 1 100); do
        curl -fs "$1/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "server at $1 did not come up" >&2
    return 1
}

# start_hub <port> [ENV=VALUE ...]: a fresh hub; sets HUB_PID.
start_hub() {
    local port=$1; shift
    local dir="$OUT/hub-$port"
    rm -rf "$dir"; mkdir -p "$dir"
    echo "$LOADTEST_ADMIN_PASSWORD" | env HUB_DATA_DIR="$dir" "$@" \
        "$BIN/hub" user create --email "$LOADTEST_ADMIN_EMAIL" --role admin --password-stdin >/dev/null
    # Few users hold many sockets each (see loadtest/src/hub_setup.rs), and PostgreSQL
    # runs need the /metrics token.
    env HUB_DATA_DIR="$dir" HUB_LISTEN="127.0.0.1:$port" HUB_LOG__LEVEL=warn \
        HUB_GATEWAY__MAX_SOCKETS_PER_USER=10000 HUB_METRICS__TOKEN=loadtest-metrics-token "$@" \
        "$BIN/hub" serve 2>"$dir/hub.log" &
    HUB_PID=$!
    wait_http "http://127.0.0.1:$port"
}

start_raw() {
    "$BIN/loadtest" raw-server --listen "127.0.0.1:$1" 2>"$OUT/raw-$1.log" &
    RAW_PID=$!
    sleep 0.5
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

run() { # run <name> <loadtest args...>
    local name=$1; shift
    echo "== $name" >&2
    "$BIN/loadtest" "$@" >"$OUT/$name.json"
    cat "$OUT/$name.json"; echo
}

for scenario in $ONLY; do
case $scenario in
idle)
    # This machine's hard open-file limit is 20,000 per process: 19,000 is the most
    # one server process can hold here.
    start_hub 8080; run idle-hub idle --target hub --url http://127.0.0.1:8080 \
        --connections 19000 --hold-secs 10 --server-pid "$HUB_PID"; stop "$HUB_PID"
    start_raw 9100; run idle-raw idle --target raw --url ws://127.0.0.1:9100 \
        --connections 19000 --hold-secs 10 --server-pid "$RAW_PID"; stop "$RAW_PID"
    ;;
fanout)
    start_hub 8080; run fanout-hub fanout --target hub --url http://127.0.0.1:8080 \
        --subscribers 10000 --rate 10 --duration 20 --server-pid "$HUB_PID"; stop "$HUB_PID"
    start_raw 9100; run fanout-raw fanout --target raw --url ws://127.0.0.1:9100 \
        --subscribers 10000 --rate 10 --duration 20 --server-pid "$RAW_PID"; stop "$RAW_PID"
    ;;
maxrate)
    start_hub 8080 "${UNLIMITED[@]}"; run maxrate-hub fanout --target hub --url http://127.0.0.1:8080 \
        --subscribers 1000 --max-rate --duration 20 --server-pid "$HUB_PID"; stop "$HUB_PID"
    start_raw 9100; run maxrate-raw fanout --target raw --url ws://127.0.0.1:9100 \
        --subscribers 1000 --max-rate --duration 20 --server-pid "$RAW_PID"; stop "$RAW_PID"
    ;;
chat)
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS hb_bench WITH (FORCE)" -c "CREATE DATABASE hb_bench"
    PG=(HUB_DATABASE_URL=postgres://postgres@127.0.0.1:5432/hb_bench
        HUB_SECRETS__TOKEN_SIGNING_KEY="$(head -c 48 /dev/urandom | base64 -w0)"
        HUB_SECRETS__DATA_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
        HUB_SECRETS__AUDIT_KEY="$(head -c 32 /dev/urandom | base64 -w0)")
    # Messages per second = rooms × rate-per-room: 100 × 20 = 2,000 … 100 × 50 = 5,000.
    for rate in ${CHAT_RATES:-20 30 50}; do
        start_hub 8080 "${PG[@]}" "${UNLIMITED[@]}"
        run "chat-hub-pg-$((rate * 100))" chat --target hub --url http://127.0.0.1:8080 --users 100 \
            --rooms 100 --members 10 --rate-per-room "$rate" --duration 20 --server-pid "$HUB_PID"
        stop "$HUB_PID"
    done
    ;;
esac
done
