#!/usr/bin/env bash
# Installs what is missing, builds, and starts `tasker dev`: the whole system
# on this machine with its own PostgreSQL under ./var. Ctrl-C stops it all.
# Extra arguments go to `tasker dev` (see build/tasker --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
install_deps
build_tasker tasker
exec build/tasker dev "$@"
