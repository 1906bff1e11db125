// CaptureColumns: the capture layout of one engine step, the union of the
// batch's request layouts in the model's hook order, and where each
// request's own layout lies within it, as (offset, width) runs of columns.
// A request's runs are cached in its ColumnCache and recomputed only when
// the capture layout changes.
//
// Not thread-safe: the scheduler's loop thread owns it.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_CAPTURE_COLUMNS_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_CAPTURE_COLUMNS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/layout.h"
#include "server/inference/model/model_config.h"

namespace fnprobe {

// (offset, width) runs of columns, in order; adjacent hooks are merged.
using ColumnRuns = std::vector<std::pair<int64_t, int64_t>>;

// A request's runs within the capture layout of version `version`; shared
// with the frames cut by them, which may outlive a capture change.
struct ColumnCache {
  std::shared_ptr<const ColumnRuns> runs;
  uint64_t version = 0;  // 0: never computed
};

class CaptureColumns {
 public:
  explicit CaptureColumns(const ModelConfig& config);

  // Makes the capture layout the union of `layouts`. REQUIRES: every hook
  // point is the model's (RequestChecker). Returns true when it changed.
  bool Update(const std::vector<const Layout*>& layouts);
  const Layout& capture() const { return capture_; }

  // Where `layout` (a member of the union) lies in the capture layout.
  const std::shared_ptr<const ColumnRuns>& Columns(const Layout& layout,
                                                   ColumnCache* cache) const;

  // Row `row` of `values` ([rows, capture().width()]), cut down to `layout`.
  std::vector<float> CutRow(const float* values, int64_t row,
                            const Layout& layout, ColumnCache* cache) const;

 private:
  // Canonical rank of each of the model's hook points.
  absl::flat_hash_map<std::string, size_t> ranks_;
  Layout capture_;
  uint64_t version_ = 0;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_CAPTURE_COLUMNS_H_
