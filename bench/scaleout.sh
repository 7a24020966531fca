#!/usr/bin/env bash
# Scale-out benchmark: a coordinator with no local slots and 1, 2 and 4 `tasker worker`
# processes of BENCH_SLOTS slots each run BENCH_TASKS `sleep` tasks of BENCH_SLEEP_MS. Prints
# the achieved rate against the ideal (nodes x slots / sleep), the dispatch latency (scheduled
# -> started), and the `sum` end-to-end rate with two remote workers next to the single-node
# figure (local slots). Everything runs on this machine and stops by itself.
#
#   bench/scaleout.sh            BENCH_TASKS (20000) BENCH_SLOTS (100) BENCH_SLEEP_MS (50)
#                                BENCH_NODES ("1 2 4") BENCH_CONNECTIONS (64)
#                                BENCH_BATCHES ("1 100": tasks per submit request; 1 is
#                                POST /v1/tasks, more is POST /v1/tasks/batch)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source scripts/lib.sh

tasks=${BENCH_TASKS:-20000}
slots=${BENCH_SLOTS:-100}
sleep_ms=${BENCH_SLEEP_MS:-50}
node_counts=${BENCH_NODES:-"1 2 4"}
batches=${BENCH_BATCHES:-"1 100"}
conns=${BENCH_CONNECTIONS:-64}
tasker_bin=${TASKER_BIN:-build/tasker}
loadgen_bin=${LOADGEN_BIN:-build/bench/loadgen}
secret=bench-$$

log() { echo "scaleout: $*" >&2; }
[ -x "$tasker_bin" ] || { log "build tasker first"; exit 1; }
if [ ! -x "$loadgen_bin" ] || [ bench/loadgen.cpp -nt "$loadgen_bin" ]; then
  mkdir -p "$(dirname "$loadgen_bin")"
  g++ -O2 -std=c++17 -o "$loadgen_bin" bench/loadgen.cpp
fi

tmp=$(mktemp -d /tmp/tasker-scaleout.XXXXXX)
chmod 755 "$tmp"
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  done
  pids=()
}
cleanup() { stop_all; scripts/pg.sh stop "$tmp/pg" || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

pg_url=$(scripts/pg.sh start "$tmp/pg" "$(free_port)")
run=0

# Starts a coordinator (local slots $1) on a fresh database; sets url and cluster_port.
start_coordinator() {
  run=$((run + 1))
  local db="scaleout_$run"
  psql "$pg_url" -qc "CREATE DATABASE $db" >/dev/null
  cluster_port=$(free_port)
  TASKER_DB_URL="${pg_url%/postgres}/$db" TASKER_HTTP_PORT=0 TASKER_LOCAL_SLOTS="$1" \
    TASKER_CLUSTER_PORT="$cluster_port" TASKER_CLUSTER_SECRET="$secret" \
    "$tasker_bin" serve 2>"$tmp/coordinator.$run.log" &
  pids+=($!)
  local port=""
  for _ in $(seq 1 300); do
    port=$(grep -m1 '"message":"listening"' "$tmp/coordinator.$run.log" 2>/dev/null \
           | sed -n 's/.*"port":\([0-9]*\).*/\1/p' || true)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { log "coordinator did not start"; exit 1; }
  url="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/ready" || true)" = 200 ] && break
    sleep 0.1
  done
}

# Starts $1 workers of $2 slots and waits until all have joined.
start_workers() {
  for i in $(seq 1 "$1"); do
    TASKER_JOIN="127.0.0.1:$cluster_port" TASKER_CLUSTER_SECRET="$secret" \
      TASKER_NODE_NAME="w$i" TASKER_SLOTS="$2" "$tasker_bin" worker 2>"$tmp/worker.$run.$i.log" &
    pids+=($!)
  done
  for _ in $(seq 1 300); do
    local n
    n=$(curl -s "$url/v1/workers" | python3 -c \
        'import json,sys; print(sum(w["status"]=="ALIVE" for w in json.load(sys.stdin)["workers"]))' \
        || echo 0)
    [ "$n" -ge "$1" ] && return 0
    sleep 0.1
  done
  log "workers did not join"; exit 1
}

# Runs loadgen with extra args; prints its JSON line.
load() {
  "$loadgen_bin" --url "$url" --connections "$conns" --progress-s 0 --wait-timeout-s 600 "$@" \
    | tail -n 1
}

echo "scale-out: $tasks sleep tasks of $sleep_ms ms, $slots slots per worker"
printf '%-6s %-7s %-10s %-12s %-10s %-22s\n' nodes batch "ideal/s" "achieved/s" "of ideal" \
  "dispatch p50/p99 ms"
for b in $batches; do
  for n in $node_counts; do
    start_coordinator 0
    start_workers "$n" "$slots"
    line=$(load --tasks "$tasks" --type sleep --sleep-ms "$sleep_ms" --batch "$b")
    python3 - "$n" "$b" "$slots" "$sleep_ms" "$line" <<'PY'
import json, sys
n, b, slots, ms, line = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                         sys.argv[5])
r = json.loads(line)
ideal = n * slots * 1000.0 / ms
d = r["dispatch_latency_ms"]
print("%-6d %-7d %-10.0f %-12.0f %-10s %-22s" % (n, b, ideal, r["e2e_rate_server"],
      "%.0f %%" % (100 * r["e2e_rate_server"] / ideal), "%s / %s" % (d["p50"], d["p99"])))
PY
    stop_all
  done
done

echo
echo "no-op (sum) end-to-end, $tasks tasks:"
start_coordinator 8
single=$(load --tasks "$tasks" --type sum | python3 -c 'import json,sys; print(json.load(sys.stdin)["e2e_rate_server"])')
stop_all
start_coordinator 0
start_workers 2 8
remote=$(load --tasks "$tasks" --type sum | python3 -c 'import json,sys; print(json.load(sys.stdin)["e2e_rate_server"])')
stop_all
echo "  single node (8 local slots):   $single tasks/s"
echo "  two remote workers (8 slots):  $remote tasks/s"
