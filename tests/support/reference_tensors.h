// Reads <reference dir>/models/<family>/reference.safetensors, resolving
// the aliases that reference.json records (a tensor bit-identical to one
// already stored is stored once), and compares float tensors.
#ifndef FNPROBE_TESTS_SUPPORT_REFERENCE_TENSORS_H_
#define FNPROBE_TESTS_SUPPORT_REFERENCE_TENSORS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "common/safetensors_reader.h"
#include "nlohmann/json.hpp"

namespace fnprobe::testing {

class ReferenceTensors {
 public:
  // Aborts (naming the path) when the files are missing or unreadable.
  explicit ReferenceTensors(const std::string& family);

  const std::string& model_dir() const { return model_dir_; }
  const nlohmann::json& index() const { return index_; }

  // Every tensor name listed in reference.json (aliases included).
  std::vector<std::string> Names() const;
  bool Has(const std::string& name) const;
  std::vector<int64_t> Shape(const std::string& name) const;
  std::vector<float> Floats(const std::string& name) const;
  std::vector<int64_t> Ints(const std::string& name) const;
  int NumPrompts() const;

 private:
  std::string Resolve(const std::string& name) const;

  std::string model_dir_;
  nlohmann::json index_;
  std::unique_ptr<SafetensorsReader> reader_;
};

// max |a - b|; +inf if the sizes differ.
double MaxAbsDiff(absl::Span<const float> a, absl::Span<const float> b);
// max |a - b| / max |b| (b the reference); +inf if the sizes differ.
double MaxRelDiff(absl::Span<const float> a, absl::Span<const float> b);

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_SUPPORT_REFERENCE_TENSORS_H_
