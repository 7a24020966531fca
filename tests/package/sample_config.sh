#!/usr/bin/env bash
# package.sample_config: the commented config files of packaging/ are what
# `tasker sample-config` writes from the options table (regenerate them with
# the commands below after changing an option).
#   tests/package/sample_config.sh TASKER_BIN
set -euo pipefail
bin=${1:?usage: sample_config.sh TASKER_BIN}
packaging=$(cd "$(dirname "$0")/../../packaging" && pwd)
status=0
for pair in serve:tasker.conf worker:worker.conf; do
  command=${pair%%:*}
  file=$packaging/${pair#*:}
  if ! "$bin" sample-config "$command" | diff -u "$file" -; then
    echo "FAIL: $file is not what \`tasker sample-config $command\` writes;" \
         "update it: build/tasker sample-config $command > packaging/${pair#*:}" >&2
    status=1
  fi
done
[ $status = 0 ] && echo "packaging/tasker.conf and packaging/worker.conf are current"
exit $status
