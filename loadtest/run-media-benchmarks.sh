#!/usr/bin/env bash
# Produces the "Video visits (media worker)" figures in BENCHMARKS.md: how many concurrent
# 2- and 4-party visits one `media` worker forwards with < 1 % loss (beside a plain UDP relay
# forwarding the same packets), the worker's CPU per forwarded stream, and the time from a
# join offer to the other party's first packet (beside two peers connected directly). Each
# run starts its own `media` worker; reports (one JSON per run) go to $OUT.
#
# The capacity runs pin the worker (and the relay baseline) to CPU 0 and the load generator
# to CPU 1 (PIN=0: no pinning): its webrtc peers need about as much CPU as the worker, so
# unpinned both saturate the machine together; pinned, the figure is "the worker on one
# core" and the report says which side ran out first.
#
# `visit` times a visit through a release `hub serve` (link opened → first remote frame).
#
# Needs release builds, which it makes first unless BUILD=0:
#   cargo build --release -p loadtest -p media -p hub
#
#   loadtest/run-media-benchmarks.sh
#   ONLY="join" JOINS=20 loadtest/run-media-benchmarks.sh
#   VISITS2=8,16,24 ONLY=capacity2 loadtest/run-media-benchmarks.sh
set -euo pipefail
cd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

OUT=${OUT:-/tmp/hb-media-bench}
BIN=${CARGO_TARGET_DIR:-target}/release
ONLY=${ONLY:-capacity2 capacity4 join visit}
VISITS2=${VISITS2:-1,2,4,8,16,32,48,64,80,96,112,128,144,160}
VISITS4=${VISITS4:-1,2,4,8,12,16,20,24,28,32,36,40,44,48}
WINDOW=${WINDOW:-10}
JOINS=${JOINS:-50}
mkdir -p "$OUT"
PINNING=()
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    PINNING=(--worker-cpus 0 --loadgen-cpus 1)
fi

if [ "${BUILD:-1}" = 1 ]; then
    cargo build --release -p loadtest -p media -p hub
fi

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
capacity2)
    run media-capacity-2 media-capacity --media-bin "$BIN/media" --parties 2 \
        --visits "$VISITS2" --window-secs "$WINDOW" "${PINNING[@]}"
    ;;
capacity4)
    run media-capacity-4 media-capacity --media-bin "$BIN/media" --parties 4 \
        --visits "$VISITS4" --window-secs "$WINDOW" "${PINNING[@]}"
    ;;
join)
    run media-join media-join --media-bin "$BIN/media" --joins "$JOINS"
    ;;
visit)
    # Through the hub: a release `hub serve` (SQLite, in-process media worker) in a
    # scratch directory, a platform admin made with `hub user create`.
    HUBDIR=$(mktemp -d)
    export HUB_DATA_DIR=$HUBDIR/data HUB_LISTEN=127.0.0.1:${HUB_PORT:-18180} HUB_LOG__LEVEL=warn
    echo "bench admin passphrase 2026" |
        "$BIN/hub" user create --email root@bench.example --role admin --password-stdin >&2
    "$BIN/hub" serve 2>"$HUBDIR/hub.log" &
    HUB_PID=$!
    trap 'kill $HUB_PID 2>/dev/null || true' EXIT
    for _ in $(seq 50); do curl -fs "http://$HUB_LISTEN/healthz" >/dev/null && break; sleep 0.2; done
    LOADTEST_ADMIN_EMAIL=root@bench.example LOADTEST_ADMIN_PASSWORD="bench admin passphrase 2026" \
        run visit-join visit-join --url "http://$HUB_LISTEN" --joins "${VISIT_JOINS:-30}"
    kill $HUB_PID; wait $HUB_PID 2>/dev/null || true
    ;;
*) echo "unknown scenario $scenario (capacity2, capacity4, join, visit)" >&2; exit 2 ;;
esac
done
