#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang into build-fuzz/ and runs
# each: first every input of its corpus (fuzz/corpus/http, params or
# gateway) once, whole (seeds and regressions), then fuzzing for
# TASKER_FUZZ_SECONDS (default 30; 0 replays the corpus only) on a scratch
# copy of that corpus, so the repo's corpus stays as it is. Exits non-zero
# when a target crashes; the input that did is kept under
# build-fuzz/artifacts/TARGET/.
#   scripts/fuzz.sh                  # every target
#   scripts/fuzz.sh http_request     # one target (ctest: fuzz.http_request)
#   TASKER_FUZZ_SECONDS=600 scripts/fuzz.sh params
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

all_targets=(http_request params gateway)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
seconds=${TASKER_FUZZ_SECONDS:-30}

# Each target's folder in fuzz/corpus/, and the longest input libFuzzer makes
# for it: past the 16 KiB header limit for HTTP.
declare -A corpus_dir=([http_request]=http [params]=params [gateway]=gateway)
declare -A max_len=([http_request]=20480 [params]=4096 [gateway]=20480)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

for t in "${targets[@]}"; do
  if [ -z "${max_len[$t]:-}" ]; then
    echo "fuzz.sh: no target '$t' (${all_targets[*]})" >&2
    exit 2
  fi
done

install_deps
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  cmake -S fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ >/dev/null
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
cmake --build build-fuzz -j "${TASKER_BUILD_JOBS:-2}" "${build_targets[@]}"

scratch=$(mktemp -d /tmp/tasker-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# Runs one target; prints one line of what it did.
fuzz_target() {
  local t=$1
  local bin=build-fuzz/fuzz_$t corpus=fuzz/corpus/${corpus_dir[$t]}
  local artifacts=build-fuzz/artifacts/$t/ log=build-fuzz/fuzz_$t.log
  mkdir -p "$artifacts"
  if ! "$bin" -artifact_prefix="$artifacts" "$corpus"/* >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "fuzz $t: FAILED on an input of $corpus (log: $log)"
    return 1
  fi
  local inputs
  inputs=$(find "$corpus" -type f | wc -l)
  if [ "$seconds" = 0 ]; then
    echo "fuzz $t: replayed $inputs inputs, no crash"
    return 0
  fi
  local work=$scratch/$t
  mkdir -p "$work"
  cp "$corpus"/* "$work"/
  local rc=0
  "$bin" -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=25 \
    -print_final_stats=1 -artifact_prefix="$artifacts" "$work" >"$log" 2>&1 || rc=$?
  local found
  found=$(( $(find "$work" -type f | wc -l) - inputs ))
  rm -rf "$work"
  local runs done_line
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  done_line=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  local cov ft
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  if [ "$rc" != 0 ]; then
    tail -n 80 "$log"
    echo "fuzz $t: CRASH after ${runs:-?} runs; input kept in $artifacts (log: $log)"
    return 1
  fi
  echo "fuzz $t: ${runs:-?} runs in ${seconds} s, cov ${cov:-?}, ft ${ft:-?}," \
    "$inputs corpus inputs replayed, $found new inputs (not kept), no crash"
}

status=0
for t in "${targets[@]}"; do
  fuzz_target "$t" || status=1
done
exit $status
