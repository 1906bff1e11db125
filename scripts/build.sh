#!/usr/bin/env bash
# Configures and builds fnprobe into ./build (Release, Ninja): every target,
# or only those named in FNPROBE_TARGETS (space-separated, with what they
# link), e.g. FNPROBE_TARGETS="fnprobe fnprobe-worker".
# Extra arguments go to cmake's configure step, e.g. -DTorch_DIR=... for a
# CUDA libtorch.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache, where installed, lets several checkouts share one compiler cache.
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@"
targets=()
if [ -n "${FNPROBE_TARGETS:-}" ]; then
  read -r -a names <<<"$FNPROBE_TARGETS"
  targets=(--target "${names[@]}")
fi
cmake --build build -j"$(nproc)" "${targets[@]}"
