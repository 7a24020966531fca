#!/usr/bin/env bash
# tasker and its peers (BullMQ, pg-boss, graphile-worker, Celery) side by side on this machine:
# installs what is missing (Debian packages; the peers from the npm registry at the versions
# bench/compare/node/package-lock.json pins), builds tasker and its loadgen, then runs
# bench/compare/compare.py, which writes bench/results/DATE.md with its plots.
#
#   bench/compare/run.sh [--reps 3] [--only tasker,tasker_loadgen,bullmq,pgboss,graphile,celery]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
source scripts/lib.sh

TASKER_PACKAGES+=(redis-server redis-tools python3-celery python3-redis python3-matplotlib wrk)
install_deps
command -v node >/dev/null || { echo "compare: Node.js (20 or later) is required" >&2; exit 2; }
(cd bench/compare/node && npm ci --no-audit --no-fund --loglevel=error)
build_tasker tasker tasker_loadgen
exec /usr/bin/python3 bench/compare/compare.py "$@"
