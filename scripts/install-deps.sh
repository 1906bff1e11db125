#!/usr/bin/env bash
# Installs every build and test dependency of fnprobe on Debian 12 (bookworm).
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  # libtorch links libblas.so.3; without OpenBLAS that is netlib's reference
  # BLAS, about 10x slower for the model's matrix products.
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev libssl-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libarmadillo-dev libboost-math-dev libabsl-dev
  libsqlite3-dev libsqlitecpp-dev
  # The activation store compresses its chunks with zstd.
  libzstd-dev
  nlohmann-json3-dev libonig-dev libicu-dev libcli11-dev
  # yaml-cpp: the CLI reads YAML experiment specs.
  libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format python3 python3-numpy
  # scripts/fuzz.sh: clang with libFuzzer and the sanitizer runtimes.
  clang libclang-rt-14-dev
  # Tests only (fnprobe itself runs without them): report_browser_e2e_test
  # renders the HTML report in headless Chromium, and report_test has node
  # render `fnprobe export --plots` SVGs; both skip, saying so, without.
  chromium nodejs
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
# Said up front so that nobody takes the long quiet apt run for a hang.
echo "install-deps: with their dependencies this can be ~440 packages," \
  "~400 MiB to download and a few minutes on a fresh Debian 12" \
  "(Debian's libtorch brings OpenCV, Qt and FFmpeg)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
