#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan (in
# build-fuzz/, -DFNPROBE_FUZZ=ON) and runs each for a bounded time over a
# scratch copy of its checked-in corpus (tests/fuzz/corpus/<target>/ is never
# written). Exits non-zero if a target fails to build or finds a crash, a
# sanitizer report, a leak, a timeout (-timeout) or excess memory
# (-rss_limit_mb); the input that did it is kept in
# build-fuzz/fuzz-artifacts/<target>/ and the log in build-fuzz/fuzz-logs/.
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_JOBS      targets fuzzed at once (default: nproc)
#   FUZZ_TARGETS   space-separated subset of the targets (default: all)
#   FUZZ_BUILD_DIR build directory (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-$(nproc)}
build=${FUZZ_BUILD_DIR:-build-fuzz}
if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

start=$(date +%s)
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DFNPROBE_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
built=$(date +%s)

work=$(mktemp -d "${TMPDIR:-/tmp}/fnprobe-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
logs="$build/fuzz-logs"
artifacts="$build/fuzz-artifacts"
mkdir -p "$logs"

# Fuzzes one target; its exit status lands in $work/<target>.rc.
fuzz_one() {
  local t=$1
  mkdir -p "$work/$t" "$artifacts/$t"
  cp -R "tests/fuzz/corpus/$t/." "$work/$t/"
  local rc=0
  "$build/tests/fuzz/$t" "$work/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t/" \
    >"$logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$work/$t.rc"
}

export UBSAN_OPTIONS=print_stacktrace=1
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

passed=0
failed=0
for t in "${targets[@]}"; do
  rc=$(cat "$work/$t.rc" 2>/dev/null || echo "?")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log")
  cov=$(grep -o 'cov: [0-9]*' "$logs/$t.log" | tail -1 || true)
  if [ "$rc" = "0" ]; then
    passed=$((passed + 1))
    echo "fuzz: PASS $t: ${execs:-?} runs, ${rate:-?}/s, ${cov:-cov: ?}"
  else
    failed=$((failed + 1))
    echo "fuzz: FAIL $t (exit $rc), log $logs/$t.log," \
      "inputs in $artifacts/$t/:"
    tail -n 40 "$logs/$t.log" | cut -c1-300 | sed "s/^/  /"
  fi
done
end=$(date +%s)
echo "fuzz: build $((built - start)) s, fuzzing $((end - built)) s" \
  "(${seconds} s per target, ${jobs} at once)"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
