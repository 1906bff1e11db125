# Finds every third-party dependency once, for all targets. Each comes from
# Debian's packages (see scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
# yaml-cpp (libyaml-cpp-dev): the CLI reads YAML experiment specs.
find_package(yaml-cpp REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(ONIG REQUIRED IMPORTED_TARGET oniguruma)
# zstd (libzstd-dev): the activation store compresses chunks that pay.
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
# ICU (libicu-dev): Unicode normalization for the tokenizer.
find_package(ICU COMPONENTS uc REQUIRED)
# Armadillo (libarmadillo-dev) and Boost.Math (libboost-math-dev, header-only):
# the analysis worker's linear algebra and distributions.
find_package(Armadillo REQUIRED)
find_package(Boost REQUIRED)

# gRPC and protobuf (libgrpc++-dev, libprotobuf-dev, protobuf-compiler,
# protobuf-compiler-grpc). Protobuf is found before gRPC and torch: gRPC's
# config and torch's Caffe2 config each call find_package(Protobuf) only when
# it has not been found yet (Caffe2 re-runs it quietly, which is harmless), so
# all three share this one protobuf, the one Debian's libtorch links
# (libprotobuf.so.32). protoc must match the headers the generated code
# includes.
find_package(Protobuf REQUIRED)
if(NOT TARGET protobuf::protoc)
  message(FATAL_ERROR "protoc not found (install protobuf-compiler)")
endif()
if(Protobuf_PROTOC_EXECUTABLE)
  execute_process(COMMAND ${Protobuf_PROTOC_EXECUTABLE} --version
                  OUTPUT_VARIABLE _fnprobe_protoc_version
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" _fnprobe_protoc_version
         "${_fnprobe_protoc_version}")
  if(NOT _fnprobe_protoc_version VERSION_EQUAL Protobuf_VERSION)
    message(FATAL_ERROR "protoc ${_fnprobe_protoc_version} "
            "(${Protobuf_PROTOC_EXECUTABLE}) does not match libprotobuf "
            "${Protobuf_VERSION}")
  endif()
endif()
find_package(gRPC CONFIG REQUIRED)
message(STATUS "fnprobe: protobuf ${Protobuf_VERSION}, gRPC ${gRPC_VERSION}")

# libtorch: Debian's libtorch-dev (CPU) or a CUDA build named by
# -DTorch_DIR=/path/to/libtorch/share/cmake/Torch.
# The fuzz build (FNPROBE_FUZZ) builds nothing that links it.
if(NOT FNPROBE_FUZZ)
  find_package(Torch REQUIRED)
endif()
# Torch's exported flags include -D_GLIBCXX_USE_CXX11_ABI; keep them on the
# targets that link torch rather than globally.

if(FNPROBE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FNPROBE_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
