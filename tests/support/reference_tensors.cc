#include "tests/support/reference_tensors.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "tests/support/reference_data.h"

namespace fnprobe::testing {
namespace {

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "FATAL: %s\n", message.c_str());
  std::abort();
}

}  // namespace

ReferenceTensors::ReferenceTensors(const std::string& family) {
  model_dir_ = ReferencePath("models/" + family);
  index_ = nlohmann::json::parse(
      ReadFileOrDie(ReferencePath("models/" + family + "/reference.json")));
  auto reader = SafetensorsReader::Open(
      ReferencePath("models/" + family + "/reference.safetensors"));
  if (!reader.ok()) Die(std::string(reader.status().message()));
  reader_ = std::move(*reader);
}

std::vector<std::string> ReferenceTensors::Names() const {
  std::vector<std::string> names;
  for (auto it = index_["tensors"].begin(); it != index_["tensors"].end();
       ++it) {
    names.push_back(it.key());
  }
  return names;
}

bool ReferenceTensors::Has(const std::string& name) const {
  return index_["tensors"].contains(name);
}

std::string ReferenceTensors::Resolve(const std::string& name) const {
  if (!Has(name)) Die("reference has no tensor " + name);
  const auto& entry = index_["tensors"][name];
  if (entry.contains("alias_of")) return entry["alias_of"].get<std::string>();
  return name;
}

std::vector<int64_t> ReferenceTensors::Shape(const std::string& name) const {
  return index_["tensors"][name]["shape"].get<std::vector<int64_t>>();
}

std::vector<float> ReferenceTensors::Floats(const std::string& name) const {
  auto v = reader_->ReadFloat32(Resolve(name));
  if (!v.ok()) Die(std::string(v.status().message()));
  return *v;
}

std::vector<int64_t> ReferenceTensors::Ints(const std::string& name) const {
  auto v = reader_->ReadInt64(Resolve(name));
  if (!v.ok()) Die(std::string(v.status().message()));
  return *v;
}

int ReferenceTensors::NumPrompts() const {
  return static_cast<int>(index_["prompts"].size());
}

double MaxAbsDiff(absl::Span<const float> a, absl::Span<const float> b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (std::isnan(d)) return std::numeric_limits<double>::infinity();
    m = std::max(m, d);
  }
  return m;
}

double MaxRelDiff(absl::Span<const float> a, absl::Span<const float> b) {
  double scale = 0;
  for (float x : b) scale = std::max(scale, std::fabs(static_cast<double>(x)));
  double d = MaxAbsDiff(a, b);
  if (d == 0) return 0;
  return scale == 0 ? std::numeric_limits<double>::infinity() : d / scale;
}

}  // namespace fnprobe::testing
