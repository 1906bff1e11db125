#!/usr/bin/env bash
# Configures and builds fnprobe into ./build (Release, Ninja).
# Extra arguments go to cmake's configure step, e.g. -DTorch_DIR=... for a
# CUDA libtorch.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
