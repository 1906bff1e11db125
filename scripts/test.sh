#!/usr/bin/env bash
# Installs what is missing, builds everything (tests and benchmarks
# included), and runs every test with ctest.
# The golden reference data comes with the repository (tests/data/reference;
# another copy can be named with -DFNPROBE_REFERENCE_DIR=... through
# FNPROBE_CMAKE_ARGS). Then fuzzes every parser for a bounded time
# (scripts/fuzz.sh, its own clang build in build-fuzz/); FNPROBE_SKIP_FUZZ=1
# leaves that out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# shellcheck disable=SC2086
FNPROBE_TARGETS="" bash scripts/build.sh ${FNPROBE_CMAKE_ARGS:-}
ctest --test-dir build --output-on-failure -j"$(nproc)"
if [ "${FNPROBE_SKIP_FUZZ:-0}" != "1" ]; then
  bash scripts/fuzz.sh
fi
