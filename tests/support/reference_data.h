// Locates the golden reference data (tests/data/reference) for tests.
//
// The directory comes from the CMake cache variable FNPROBE_REFERENCE_DIR
// (default: the copy in the repository), compiled into every test. A missing
// directory is a hard failure naming the path: tests never skip silently.
#ifndef FNPROBE_TESTS_SUPPORT_REFERENCE_DATA_H_
#define FNPROBE_TESTS_SUPPORT_REFERENCE_DATA_H_

#include <string>

namespace fnprobe::testing {

// Returns the reference directory, or aborts the test binary with a message
// naming the configured path when it does not exist.
const std::string& ReferenceDir();

// ReferenceDir() + "/" + relative, aborting if that path does not exist.
std::string ReferencePath(const std::string& relative);

// Reads a whole file into a string, aborting with the path on failure.
std::string ReadFileOrDie(const std::string& path);

// A fresh, empty temporary directory, removed at process exit.
std::string MakeTempDir(const std::string& prefix);

// A fresh, empty temporary directory removed when this object is destroyed.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(const std::string& prefix = "fnprobe_");
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_SUPPORT_REFERENCE_DATA_H_
