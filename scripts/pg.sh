#!/usr/bin/env bash
# Starts or stops a throw-away PostgreSQL 15 cluster for tests and benchmarks.
#   scripts/pg.sh start DIR PORT   -> prints the libpq URL on stdout
#   scripts/pg.sh stop DIR
# The cluster listens on 127.0.0.1 (or the addresses in TASKER_PG_LISTEN, comma-separated) and on
# a unix socket in DIR. As root it runs as `postgres`.
set -euo pipefail
cmd=${1:?usage: pg.sh start DIR PORT | stop DIR}
dir=${2:?directory}
pgbin=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || true)
[ -n "$pgbin" ] || { echo "pg.sh: PostgreSQL 15 is not installed (apt-get install postgresql-15)" >&2; exit 2; }
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$pgbin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 \
      -o "-k $dir -p $port -c listen_addresses=${TASKER_PG_LISTEN:-127.0.0.1} -c max_connections=200 -c shared_buffers=256MB" \
      start >/dev/null || { cat "$dir/pg.log" >&2; exit 1; }
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_pg "$pgbin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null || true
    fi
    ;;
  *) echo "usage: pg.sh start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
