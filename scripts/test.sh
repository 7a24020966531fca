#!/usr/bin/env bash
# Installs what is missing, builds, starts a private PostgreSQL and runs every
# test through ctest, the fuzzers of fuzz/ included (scripts/fuzz.sh). Extra
# arguments go to ctest (e.g. -R gateway, or -LE fuzz to skip fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
source scripts/lib.sh
install_deps "${TASKER_TEST_PACKAGES[@]}"
build_tasker

pg_dir=$(mktemp -d /tmp/tasker-test-pg.XXXXXX)
chmod 755 "$pg_dir"
cleanup() { "$root/scripts/pg.sh" stop "$pg_dir" || true; rm -rf "$pg_dir"; }
trap cleanup EXIT
TASKER_TEST_PG_URL=$(scripts/pg.sh start "$pg_dir" "$(free_port)")
export TASKER_TEST_PG_URL
echo "test PostgreSQL: $TASKER_TEST_PG_URL"

cd build
ctest --output-on-failure --timeout 600 "$@"
