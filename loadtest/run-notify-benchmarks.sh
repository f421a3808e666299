#!/usr/bin/env bash
# Produces the "Scheduling and notifications" figures in BENCHMARKS.md: outbox → SMTP
# throughput with one and two notifier processes (beside the SMTP sink's own ceiling),
# slot-search latency with a year of appointments (beside an empty provider), and booking
# under contention (beside the same bookings without). Every run gets a fresh PostgreSQL
# database; reports (one JSON per run) go to $OUT.
#
# Needs PostgreSQL on 127.0.0.1:5432 with trust auth for a user that may create databases
# ($PG_ADMIN), python3 with aiosmtpd (tests/support/smtp_sink.py), and release builds,
# which it makes first unless BUILD=0:
#   cargo build --release -p hub -p loadtest -p notifier
#
#   loadtest/run-notify-benchmarks.sh
#   ONLY="notify" NOTIFICATIONS=2000 loadtest/run-notify-benchmarks.sh
set -euo pipefail
cd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

OUT=${OUT:-/tmp/hb-notify-bench}
BIN=${CARGO_TARGET_DIR:-target}/release
ONLY=${ONLY:-notify slots booking}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
PORT=${PORT:-18080}
NOTIFICATIONS=${NOTIFICATIONS:-5000}
PROCESSES=${PROCESSES:-1 2}
SEARCHES=${SEARCHES:-5000}
mkdir -p "$OUT"
export LOADTEST_ADMIN_EMAIL=bench-admin@example.org
export LOADTEST_ADMIN_PASSWORD='bench admin passphrase 2026'

if [ "${BUILD:-1}" = 1 ]; then
    cargo build --release -p hub -p loadtest -p notifier
fi

wait_http() {
    for _ in $(seq 1 150); do
        curl -fs "$1/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "server at $1 did not come up" >&2
    return 1
}

fresh_db() { # fresh_db <name>: drops and creates it
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

# start_hub <database>: a fresh hub on PostgreSQL; sets HUB_PID and HUB_DB_URL.
start_hub() {
    HUB_DB_URL="$PG_BASE/$1"
    local dir="$OUT/hub-$1"
    rm -rf "$dir"; mkdir -p "$dir"
    HUB_ENV=(HUB_DATA_DIR="$dir" HUB_DATABASE_URL="$HUB_DB_URL"
        HUB_SECRETS__TOKEN_SIGNING_KEY="$(head -c 48 /dev/urandom | base64 -w0)"
        HUB_SECRETS__DATA_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
        HUB_SECRETS__AUDIT_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
        # The notifier is measured on its own (notify-throughput); here the outbox rows
        # that bookings write stay pending instead of being sent during the measurement.
        HUB_NOTIFIER__IN_PROCESS=false
        HUB_LISTEN="127.0.0.1:$PORT" HUB_LOG__LEVEL=warn HUB_METRICS__TOKEN=loadtest-metrics-token)
    echo "$LOADTEST_ADMIN_PASSWORD" | env "${HUB_ENV[@]}" \
        "$BIN/hub" user create --email "$LOADTEST_ADMIN_EMAIL" --role admin --password-stdin >/dev/null
    env "${HUB_ENV[@]}" "$BIN/hub" serve 2>"$dir/hub.log" &
    HUB_PID=$!
    wait_http "http://127.0.0.1:$PORT"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# busy_cores, wait_quiet
source loadtest/bench-common.sh

run() { # run <name> <loadtest args...>
    local name=$1; shift
    wait_quiet
    echo "== $name" >&2
    local t0=$SECONDS
    "$BIN/loadtest" "$@" >"$OUT/$name.json"
    echo "== $name: $((SECONDS - t0)) s" >&2
    cat "$OUT/$name.json"; echo
}

for scenario in $ONLY; do
case $scenario in
notify)
    # Each run creates (and drops) its own database and migrates it with `hub migrate`.
    for k in $PROCESSES; do
        run "notify-k$k" notify-throughput --notifications "$NOTIFICATIONS" --processes "$k" \
            --pg-admin-url "$PG_ADMIN" --hub-bin "$BIN/hub" --notifier-bin "$BIN/notifier" \
            --sink-script tests/support/smtp_sink.py --lettre-like-ceiling --work-dir "$OUT/notify-k$k"
    done
    ;;
slots)
    fresh_db hb_slots_bench
    start_hub hb_slots_bench
    run slot-search slot-search --url "http://127.0.0.1:$PORT" --days 365 --fill 0.7 \
        --searches "$SEARCHES" --concurrency 1 --concurrency 8 --hub-pid "$HUB_PID" --database-url "$HUB_DB_URL"
    stop "$HUB_PID"
    ;;
booking)
    fresh_db hb_book_bench
    start_hub hb_book_bench
    run book-contention book-contention --url "http://127.0.0.1:$PORT" --patients 64 \
        --contention 8 --slots 1600 --hub-pid "$HUB_PID" --database-url "$HUB_DB_URL"
    stop "$HUB_PID"
    ;;
*) echo "unknown scenario $scenario (notify, slots, booking)" >&2; exit 2 ;;
esac
done
