#!/usr/bin/env bash
# Builds the GPU side of fnprobe — fnprobe-inference and fnprobe-capture,
# plus the model parity tests and the engine/server benchmarks — against the
# libtorch inside a machine's PyTorch installation (which ships CUDA), into
# ./build-gpu. The other libraries (gRPC, protobuf, Abseil, ICU, oniguruma,
# ...) come from Debian's packages: installed ones, or ones unpacked into a
# prefix (--deps-prefix) on a machine without a package registry.
#
#   bash scripts/build-gpu.sh                     # torch from `python3 -c ...`
#   bash scripts/build-gpu.sh --torch DIR         # DIR/share/cmake/Torch
#   bash scripts/build-gpu.sh --deps-prefix P     # Debian packages under P
#   bash scripts/build-gpu.sh --unpack-debs DEBS --deps-prefix P
#                                                 # dpkg-deb -x DEBS/*.deb P
#
# Where PyTorch is missing (this CPU machine) it falls back to Debian's
# libtorch, so the script is exercised here and builds the same targets.
# PyTorch wheels built with the pre-C++11 string ABI cannot be linked with
# Debian's C++ libraries (std::string differs); the script says so and stops
# rather than failing at link time.
set -euo pipefail
cd "$(dirname "$0")/.."

torch_prefix=""
deps_prefix=""
debs_dir=""
build_dir=build-gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --torch) torch_prefix=$2; shift 2 ;;
    --deps-prefix) deps_prefix=$(realpath -m "$2"); shift 2 ;;
    --unpack-debs) debs_dir=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build-gpu: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -n "$debs_dir" ]; then
  [ -n "$deps_prefix" ] || { echo "build-gpu: --unpack-debs needs --deps-prefix" >&2; exit 2; }
  mkdir -p "$deps_prefix"
  for deb in "$debs_dir"/*.deb; do dpkg-deb -x "$deb" "$deps_prefix"; done
  echo "build-gpu: unpacked $(ls "$debs_dir"/*.deb | wc -l) packages into $deps_prefix"
fi

python=${PYTHON:-python3}
if [ -z "$torch_prefix" ] && "$python" -c 'import torch' 2>/dev/null; then
  torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  abi=$("$python" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
  cuda=$("$python" -c 'import torch; print(torch.version.cuda or "none")')
  echo "build-gpu: PyTorch $("$python" -c 'import torch; print(torch.__version__)'), CUDA $cuda, at $torch_prefix"
  if [ "$abi" != 1 ]; then
    echo "build-gpu: this PyTorch's libtorch uses the pre-C++11 string ABI;" \
         "Debian's gRPC, protobuf and Abseil use the C++11 ABI, so they cannot" \
         "be linked together. Install a cxx11-ABI libtorch (pytorch.org," \
         "'cxx11 ABI' download, or PyTorch >= 2.7 wheels) and pass --torch DIR." >&2
    exit 3
  fi
fi

cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
prefixes=()
if [ -n "$torch_prefix" ]; then
  prefixes+=("$torch_prefix")
else
  echo "build-gpu: no PyTorch here; building against Debian's libtorch (CPU)"
fi
if [ -n "$deps_prefix" ]; then
  # Debian's layout: headers in usr/include, libraries and CMake packages in
  # usr/lib/<triplet>.
  triplet=$(gcc -dumpmachine)
  prefixes+=("$deps_prefix/usr" "$deps_prefix/usr/lib/$triplet/cmake")
  cmake_args+=("-DCMAKE_INCLUDE_PATH=$deps_prefix/usr/include"
               "-DCMAKE_LIBRARY_PATH=$deps_prefix/usr/lib/$triplet")
  export PKG_CONFIG_PATH="$deps_prefix/usr/lib/$triplet/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$deps_prefix/usr/lib/$triplet${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PATH="$deps_prefix/usr/bin:$PATH"
fi
if [ ${#prefixes[@]} -gt 0 ]; then
  cmake_args+=("-DCMAKE_PREFIX_PATH=$(IFS=';'; echo "${prefixes[*]}")")
fi
if command -v ccache >/dev/null; then
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j"$(nproc)" --target \
  fnprobe-inference fnprobe-capture fnprobe-make-model \
  model_parity_test engine_bench inference_server_bench
echo "build-gpu: built into $build_dir; on the GPU machine run e.g."
echo "  FNPROBE_TEST_DEVICE=cuda $build_dir/tests/inference/model/model_parity_test"
echo "  FNPROBE_BENCH_DEVICE=cuda $build_dir/tests/bench/engine_bench"
