#include "server/inference/serving/capture_columns.h"

#include <algorithm>
#include <utility>

#include "server/inference/model/hook_points.h"

namespace fnprobe {

CaptureColumns::CaptureColumns(const ModelConfig& config) {
  const std::vector<HookSpec> points = ModelHookPoints(config);
  for (size_t i = 0; i < points.size(); ++i) ranks_[points[i].name] = i;
}

bool CaptureColumns::Update(const std::vector<const Layout*>& layouts) {
  std::vector<std::pair<size_t, const HookSpec*>> ranked;
  for (const Layout* layout : layouts) {
    for (const HookSpec& h : layout->hooks()) {
      const size_t rank = ranks_.at(h.name);
      if (std::none_of(ranked.begin(), ranked.end(),
                       [rank](const auto& p) { return p.first == rank; })) {
        ranked.push_back({rank, &h});
      }
    }
  }
  std::sort(ranked.begin(), ranked.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::vector<HookSpec>& current = capture_.hooks();
  bool same = current.size() == ranked.size();
  for (size_t i = 0; same && i < ranked.size(); ++i) {
    same = current[i] == *ranked[i].second;
  }
  if (same && version_ != 0) return false;
  std::vector<HookSpec> specs;
  for (const auto& p : ranked) specs.push_back(*p.second);
  capture_ = Layout(std::move(specs));
  ++version_;
  return true;
}

const std::shared_ptr<const ColumnRuns>& CaptureColumns::Columns(
    const Layout& layout, ColumnCache* cache) const {
  if (cache->version == version_ && cache->runs != nullptr) return cache->runs;
  auto runs = std::make_shared<ColumnRuns>();
  for (const HookSpec& h : layout.hooks()) {
    const int64_t begin = capture_.offset(*capture_.IndexOf(h.name));
    if (!runs->empty() && runs->back().first + runs->back().second == begin) {
      runs->back().second += h.width;
    } else {
      runs->push_back({begin, h.width});
    }
  }
  cache->runs = std::move(runs);
  cache->version = version_;
  return cache->runs;
}

std::vector<float> CaptureColumns::CutRow(const float* values, int64_t row,
                                          const Layout& layout,
                                          ColumnCache* cache) const {
  std::vector<float> out;
  out.reserve(layout.width());
  const float* base = values + row * capture_.width();
  for (const auto& [begin, width] : *Columns(layout, cache)) {
    out.insert(out.end(), base + begin, base + begin + width);
  }
  return out;
}

}  // namespace fnprobe
