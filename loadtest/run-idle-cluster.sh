#!/usr/bin/env bash
set -euo pipefail
# 50,000 idle authenticated sockets over three hub nodes sharing PostgreSQL and Redis
# (this machine allows 20,000 open files per process, so one node cannot hold 50,000).
cd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT=${OUT:-/tmp/hb-bench}; BIN=target/release
export LOADTEST_ADMIN_EMAIL=bench-admin@example.org LOADTEST_ADMIN_PASSWORD='bench admin passphrase 2026'
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS hb_bench50 WITH (FORCE)" -c "CREATE DATABASE hb_bench50"
COMMON=(HUB_DATABASE_URL=postgres://postgres@127.0.0.1:5432/hb_bench50 HUB_REDIS_URL=redis://127.0.0.1:6379
  HUB_SECRETS__TOKEN_SIGNING_KEY="$(head -c 48 /dev/urandom | base64 -w0)"
  HUB_SECRETS__DATA_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64 -w0)"
  HUB_SECRETS__AUDIT_KEY="$(head -c 32 /dev/urandom | base64 -w0)" HUB_LOG__LEVEL=warn
  HUB_METRICS__TOKEN=loadtest-metrics-token HUB_GATEWAY__MAX_SOCKETS_PER_USER=10000)
echo "$LOADTEST_ADMIN_PASSWORD" | env HUB_DATA_DIR=$OUT/n0 "${COMMON[@]}" $BIN/hub user create --email $LOADTEST_ADMIN_EMAIL --role admin --password-stdin >/dev/null
pids=(); args=()
for p in 8080 8081 8082; do
  mkdir -p $OUT/n$p
  env HUB_DATA_DIR=$OUT/n$p HUB_LISTEN=127.0.0.1:$p "${COMMON[@]}" $BIN/hub serve 2>$OUT/n$p/log &
  pids+=($!); args+=(--url http://127.0.0.1:$p --server-pid $!)
done
sleep 2
$BIN/loadtest idle --target hub "${args[@]}" --connections 50000 --hold-secs 10 > $OUT/idle-hub-3nodes.json
kill "${pids[@]}"; wait
