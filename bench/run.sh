#!/usr/bin/env bash
# End-to-end benchmark of tasker: a private PostgreSQL, one `tasker serve` coordinator, and
# bench/loadgen driving it over HTTP. Prints loadgen's table and, last, its JSON line.
#
#   bench/run.sh [extra loadgen args...]        e.g. bench/run.sh --type sleep --sleep-ms 50
#
# Environment:
#   BENCH_TASKS (50000)  BENCH_CONNECTIONS (64)  BENCH_TIMEOUT_S (300, loadgen --wait-timeout-s)
#   BENCH_OUT      append the JSON result line to this file
#   BENCH_KEEP=1   keep the temp dir (PostgreSQL data, tasker.log) for inspection
#   TASKER_BIN     tasker binary (default build/tasker)
#   LOADGEN_BIN    loadgen binary (default build/bench/loadgen, built with g++ if missing/stale)
#   TASKER_*       any other tasker setting (e.g. TASKER_LOCAL_SLOTS) is passed through.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

tasks=${BENCH_TASKS:-50000}
conns=${BENCH_CONNECTIONS:-64}
timeout_s=${BENCH_TIMEOUT_S:-300}
tasker_bin=${TASKER_BIN:-build/tasker}
loadgen_bin=${LOADGEN_BIN:-build/bench/loadgen}

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

command -v curl >/dev/null || die "curl is required"
command -v psql >/dev/null || die "psql is required (postgresql-client-15)"
[ -x "$tasker_bin" ] || die "$tasker_bin not found or not executable: build tasker first (or set TASKER_BIN)"

# --- loadgen: use the CMake target's output, or build it directly -----------------------------
if [ -z "${LOADGEN_BIN:-}" ] && { [ ! -x "$loadgen_bin" ] || [ bench/loadgen.cpp -nt "$loadgen_bin" ]; }; then
  log "building $loadgen_bin (g++ -O2)"
  mkdir -p "$(dirname "$loadgen_bin")"
  g++ -O2 -std=c++17 -o "$loadgen_bin.tmp.$$" bench/loadgen.cpp
  mv -f "$loadgen_bin.tmp.$$" "$loadgen_bin"
fi
[ -x "$loadgen_bin" ] || die "$loadgen_bin not found"

# --- temp dir and cleanup -----------------------------------------------------------------------
tmp=$(mktemp -d /tmp/tasker-bench.XXXXXX)
chmod 755 "$tmp"   # PostgreSQL runs as `postgres` when we are root and must reach $tmp/pg
tasker_pid=""
loadgen_pid=""
pg_started=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$loadgen_pid" ] && kill -0 "$loadgen_pid" 2>/dev/null; then
    kill -TERM "$loadgen_pid" 2>/dev/null || true   # loadgen stops and reports what it measured
    wait "$loadgen_pid" 2>/dev/null || true
    cat "$tmp/loadgen.out" 2>/dev/null || true
  fi
  if [ -n "$tasker_pid" ] && kill -0 "$tasker_pid" 2>/dev/null; then
    kill -TERM "$tasker_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$tasker_pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$tasker_pid" 2>/dev/null; then
      log "tasker did not stop within 20 s of SIGTERM; killing it"
      kill -KILL "$tasker_pid" 2>/dev/null || true
    fi
    wait "$tasker_pid" 2>/dev/null || true
  fi
  if [ -n "$pg_started" ]; then
    "$root/scripts/pg.sh" stop "$tmp/pg" || true
  fi
  if [ "$rc" -ne 0 ] && [ -f "$tmp/tasker.log" ]; then
    log "last lines of tasker.log:"
    tail -n 20 "$tmp/tasker.log" >&2 || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    log "kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- PostgreSQL on a free port ------------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pg_url=""
for attempt in 1 2 3 4 5; do
  pg_port=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
  port_in_use "$pg_port" && continue
  if pg_url=$("$root/scripts/pg.sh" start "$tmp/pg" "$pg_port" 2>"$tmp/pg_start.err"); then
    pg_started=1
    break
  fi
  pg_url=""
  log "PostgreSQL did not start on port $pg_port (attempt $attempt), retrying"
done
[ -n "$pg_url" ] || { cat "$tmp/pg_start.err" >&2; die "could not start PostgreSQL"; }
db=tasker_bench
psql "$pg_url" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $db" >/dev/null
db_url="${pg_url%/postgres}/$db"
log "PostgreSQL at $db_url"

# --- baseline: PostgreSQL alone ----------------------------------------------------------------
# The machine is shared and noisy, so the figures are also given as a ratio to what PostgreSQL
# alone does in the same run: one small INSERT and COMMIT per transaction from the same number
# of clients (the durable write every acknowledged task needs at least once).
baseline_tps=""
if [ "${BENCH_BASELINE:-1}" = 1 ] && command -v pgbench >/dev/null; then
  psql "$db_url" -v ON_ERROR_STOP=1 -qc \
    "CREATE TABLE bench_baseline (id uuid PRIMARY KEY, params jsonb, created_at timestamptz)" >/dev/null
  echo "INSERT INTO bench_baseline VALUES (gen_random_uuid(), '{\"a\": 1, \"b\": 2}', now());" \
    >"$tmp/baseline.sql"
  baseline_tps=$(pgbench -n -c "$conns" -j 2 -T "${BENCH_BASELINE_S:-5}" -f "$tmp/baseline.sql" \
                   "$db_url" 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  psql "$db_url" -qc "DROP TABLE bench_baseline" >/dev/null
  log "baseline: PostgreSQL alone commits ${baseline_tps:-?} single-row inserts/s from $conns clients"
fi

# --- tasker -------------------------------------------------------------------------------------
TASKER_DB_URL="$db_url" TASKER_HTTP_PORT=0 TASKER_HTTP_HOST=127.0.0.1 TASKER_CLUSTER_PORT=0 \
  "$tasker_bin" serve >"$tmp/tasker.out" 2>"$tmp/tasker.log" &
tasker_pid=$!

http_port=""
for _ in $(seq 1 300); do   # up to 60 s for the "listening" log line
  kill -0 "$tasker_pid" 2>/dev/null || die "tasker exited during start-up"
  line=$(grep -m1 '"message" *: *"listening"' "$tmp/tasker.log" 2>/dev/null || true)
  if [ -n "$line" ]; then
    http_port=$(printf '%s\n' "$line" | sed -n 's/.*"port" *: *\([0-9][0-9]*\).*/\1/p')
    [ -n "$http_port" ] && break
  fi
  sleep 0.2
done
[ -n "$http_port" ] || die "tasker did not log a \"listening\" line with a port within 60 s"
url="http://127.0.0.1:$http_port"

ready=""
for _ in $(seq 1 600); do   # up to 120 s for migrations and recovery
  kill -0 "$tasker_pid" 2>/dev/null || die "tasker exited before becoming ready"
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/ready" || true)
  if [ "$code" = 200 ]; then ready=1; break; fi
  sleep 0.2
done
[ -n "$ready" ] || die "GET $url/ready did not answer 200 within 120 s"
log "tasker (pid $tasker_pid) ready at $url; running $tasks tasks over $conns connections"

# --- load ---------------------------------------------------------------------------------------
# In the background plus `wait`, so that SIGINT/SIGTERM run the cleanup trap at once.
"$loadgen_bin" --url "$url" --tasks "$tasks" --connections "$conns" \
  --wait-timeout-s "$timeout_s" --pid "$tasker_pid" "$@" >"$tmp/loadgen.out" &
loadgen_pid=$!
lg_rc=0
wait "$loadgen_pid" || lg_rc=$?
loadgen_pid=""
cat "$tmp/loadgen.out"
if [ -n "$baseline_tps" ]; then
  tail -n 1 "$tmp/loadgen.out" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read()); b = float(sys.argv[1])
print("ratio to the PostgreSQL baseline (%.0f inserts/s): submit %.2f, end-to-end %.2f"
      % (b, r["submit_rate"] / b, r["e2e_rate_server"] / b))' "$baseline_tps" || true
fi
if [ -n "${BENCH_OUT:-}" ]; then
  tail -n 1 "$tmp/loadgen.out" | grep '^{' >>"$BENCH_OUT" || true
fi
[ "$lg_rc" -eq 0 ] || log "loadgen exited with $lg_rc (not all tasks completed)"
exit "$lg_rc"
