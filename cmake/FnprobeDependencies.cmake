# Finds every third-party dependency once, for all targets. Each comes from
# Debian's packages (see scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(ONIG REQUIRED IMPORTED_TARGET oniguruma)
# ICU (libicu-dev): Unicode normalization for the tokenizer.
find_package(ICU COMPONENTS uc REQUIRED)

# libtorch: Debian's libtorch-dev (CPU) or a CUDA build named by
# -DTorch_DIR=/path/to/libtorch/share/cmake/Torch.
find_package(Torch REQUIRED)
# Torch's exported flags include -D_GLIBCXX_USE_CXX11_ABI; keep them on the
# targets that link torch rather than globally.

if(FNPROBE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FNPROBE_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
