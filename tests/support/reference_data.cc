#include "tests/support/reference_data.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#ifndef FNPROBE_REFERENCE_DIR
#error "FNPROBE_REFERENCE_DIR must be defined by the build"
#endif

namespace fnprobe::testing {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "FATAL: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

// Creates a fresh directory <tmp>/<prefix>XXXXXX, aborting on failure.
std::string NewTempDir(const std::string& prefix) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed for " + pattern);
  return pattern;
}

class TempDirs {
 public:
  // FNPROBE_KEEP_TEST_DIRS=1 keeps them (logs, databases) for a post-mortem.
  ~TempDirs() {
    const char* keep = std::getenv("FNPROBE_KEEP_TEST_DIRS");
    if (keep != nullptr && std::string(keep) == "1") {
      for (const auto& d : dirs_) std::fprintf(stderr, "kept %s\n", d.c_str());
      return;
    }
    std::error_code ec;
    for (const auto& d : dirs_) std::filesystem::remove_all(d, ec);
  }
  void Add(const std::string& d) {
    std::lock_guard<std::mutex> lock(mu_);
    dirs_.push_back(d);
  }

 private:
  std::mutex mu_;
  std::vector<std::string> dirs_;
};

}  // namespace

const std::string& ReferenceDir() {
  static const std::string* dir = [] {
    auto* d = new std::string(FNPROBE_REFERENCE_DIR);
    if (!std::filesystem::is_directory(*d)) {
      Die("reference data directory '" + *d +
          "' does not exist; set -DFNPROBE_REFERENCE_DIR=<path to "
          "shared/reference> (default: ../shared/reference beside the "
          "repository)");
    }
    return d;
  }();
  return *dir;
}

std::string ReferencePath(const std::string& relative) {
  std::string path = ReferenceDir() + "/" + relative;
  if (!std::filesystem::exists(path)) {
    Die("reference file '" + path + "' does not exist");
  }
  return path;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string MakeTempDir(const std::string& prefix) {
  static TempDirs* dirs = new TempDirs();
  static bool registered = [] {
    std::atexit([] { delete dirs; });
    return true;
  }();
  (void)registered;
  std::string dir = NewTempDir(prefix);
  dirs->Add(dir);
  return dir;
}

ScopedTempDir::ScopedTempDir(const std::string& prefix)
    : path_(NewTempDir(prefix)) {}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace fnprobe::testing
