#include "server/analysis/worker/unit_moments.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/analysis/storage/activation_store.h"

namespace fnprobe::worker {

absl::StatusOr<std::map<std::string, HookMoments>> UnitMoments(
    ExperimentStore& store, int64_t id, const std::vector<std::string>& hooks,
    int64_t max_values) {
  FNPROBE_ASSIGN_OR_RETURN(const Layout layout, store.ExperimentLayout(id));
  FNPROBE_ASSIGN_OR_RETURN(const std::vector<RunRow> runs, store.ListRuns(id));
  struct Column {
    HookMoments* moments;
    int64_t offset;
  };
  std::map<std::string, HookMoments> out;
  std::vector<Column> columns;
  int64_t columns_width = 0;
  for (const std::string& hook : hooks) {
    const std::optional<size_t> i = layout.IndexOf(hook);
    if (!i.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat("experiment ", id, " did not capture ", hook));
    }
    if (out.count(hook) > 0) continue;
    const int64_t width = layout.hooks()[*i].width;
    HookMoments& m = out[hook];
    m.mean.assign(width, 0.0);
    m.variance.assign(width, 0.0);  // the sum of squared deviations first
    columns.push_back({&m, layout.offset(*i)});
    columns_width += width;
  }
  std::vector<std::string> paths;
  int64_t stored_rows = 0;
  for (const RunRow& run : runs) {
    if (run.state != RunState::kDone || run.activation_path.empty()) continue;
    paths.push_back(run.activation_path);
    // Opening reads the header and footer only: the count for the stride.
    FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<ActivationReader> reader,
                             ActivationReader::Open(run.activation_path));
    stored_rows += reader->rows();
  }
  if (stored_rows == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", id, " stores no activations"));
  }
  const int64_t values = stored_rows * std::max<int64_t>(columns_width, 1);
  max_values = std::max<int64_t>(max_values, 1);
  const int64_t stride = (values + max_values - 1) / max_values;
  int64_t row_index = 0, used = 0;
  for (const std::string& path : paths) {
    FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<ActivationReader> reader,
                             ActivationReader::Open(path));
    const int64_t width = reader->width();
    FNPROBE_RETURN_IF_ERROR(
        reader->VisitChunks([&](const ActivationReader::Chunk& c) {
          for (int64_t r = 0; r < c.rows; ++r, ++row_index) {
            if (row_index % stride != 0) continue;
            ++used;
            const double inv = 1.0 / static_cast<double>(used);
            const float* row = c.values + r * width;
            for (const Column& col : columns) {
              double* mean = col.moments->mean.data();
              double* m2 = col.moments->variance.data();
              const float* x = row + col.offset;
              const size_t n = col.moments->mean.size();
              for (size_t u = 0; u < n; ++u) {
                const double d = x[u] - mean[u];
                mean[u] += d * inv;
                m2[u] += d * (x[u] - mean[u]);
              }
            }
          }
          return absl::OkStatus();
        }));
  }
  for (auto& [hook, m] : out) {
    for (double& v : m.variance) v /= static_cast<double>(used);
    m.rows = used;
    m.stride = stride;
  }
  return out;
}

}  // namespace fnprobe::worker
