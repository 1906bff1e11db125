#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test with ctest.
# The golden reference data must sit at ../shared/reference (or pass
# -DFNPROBE_REFERENCE_DIR=... through FNPROBE_CMAKE_ARGS).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# shellcheck disable=SC2086
bash scripts/build.sh ${FNPROBE_CMAKE_ARGS:-}
ctest --test-dir build --output-on-failure -j"$(nproc)"
