#include "server/analysis/masking_statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

namespace fnprobe {

double ScoreTotals::Metric(const std::string& metric) const {
  if (tokens == 0) return std::numeric_limits<double>::quiet_NaN();
  if (metric == "nll") return nll_sum / static_cast<double>(tokens);
  return static_cast<double>(top1) / static_cast<double>(tokens);
}

double MaskingEffect(const std::string& metric, double unmasked,
                     double masked) {
  return metric == "nll" ? masked - unmasked : unmasked - masked;
}

ControlRank RankAmongControls(double value,
                              const std::vector<double>& controls) {
  ControlRank rank;
  if (controls.empty()) {
    rank.percentile = std::numeric_limits<double>::quiet_NaN();
    return rank;
  }
  int below = 0, ties = 0, at_least = 0;
  for (double c : controls) {
    const bool tie = std::abs(c - value) <= kMaskingTieTolerance;
    below += !tie && c < value;
    ties += tie;
    at_least += tie || c > value;
  }
  const double n = static_cast<double>(controls.size());
  rank.percentile = (below + 0.5 * ties) / n;
  rank.p = (1.0 + at_least) / (1.0 + n);
  return rank;
}

MaskingResult SummarizeMasking(const std::string& metric,
                               const ScoreTotals& unmasked,
                               const ScoreTotals& masked,
                               const std::vector<ScoreTotals>& controls) {
  MaskingResult r;
  r.metric = metric;
  r.unmasked = unmasked.Metric(metric);
  r.masked = masked.Metric(metric);
  r.change = r.masked - r.unmasked;
  const size_t n = controls.size();
  double sum = 0;
  std::vector<double> effects;
  r.control_min = std::numeric_limits<double>::infinity();
  r.control_max = -std::numeric_limits<double>::infinity();
  for (const ScoreTotals& c : controls) {
    const double value = c.Metric(metric);
    r.controls.push_back(value);
    sum += value;
    r.control_min = std::min(r.control_min, value);
    r.control_max = std::max(r.control_max, value);
    effects.push_back(MaskingEffect(metric, r.unmasked, value));
  }
  const ControlRank rank =
      RankAmongControls(MaskingEffect(metric, r.unmasked, r.masked), effects);
  r.percentile = rank.percentile;
  r.p = rank.p;
  if (n == 0) {
    r.control_min = r.control_max = std::numeric_limits<double>::quiet_NaN();
    r.control_mean = r.control_sd = r.control_min;
    return r;
  }
  r.control_mean = sum / static_cast<double>(n);
  double ss = 0;
  for (double v : r.controls) ss += (v - r.control_mean) * (v - r.control_mean);
  r.control_sd = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0;
  return r;
}

namespace {

// The scores summed by (operation, network, evaluation, member), the
// unmasked runs under operation UNSPECIFIED, network -1; texts counted per
// key, so that a combination missing a run is left out rather than
// summarised on part of its texts.
class ScoreTable {
 public:
  using Key = std::tuple<int, int, int, int>;

  ScoreTable(const v1::MaskingSpec& spec, const MaskingPlan& plan,
             const std::vector<MaskingScore>& scores)
      : spec_(spec) {
    for (const MaskingScore& s : scores) {
      if (s.run < 0 || s.run >= static_cast<int>(plan.runs.size())) continue;
      const MaskingRun& run = plan.runs[s.run];
      const Key key{run.operation, run.network, run.evaluation, s.member};
      ScoreTotals& t = totals_[key];
      t.tokens += s.tokens;
      t.nll_sum += s.nll_sum;
      t.top1 += s.top1;
      ++texts_[key];
    }
  }

  // Every text of evaluation set `e` is scored under `key`.
  bool Complete(int op, int net, int e, int member) const {
    auto it = texts_.find(Key{op, net, e, member});
    return it != texts_.end() && it->second == spec_.evaluation(e).texts_size();
  }

  ScoreTotals Get(int op, int net, int e, int member) const {
    auto it = totals_.find(Key{op, net, e, member});
    return it == totals_.end() ? ScoreTotals{} : it->second;
  }

 private:
  const v1::MaskingSpec& spec_;
  std::map<Key, ScoreTotals> totals_;
  std::map<Key, int> texts_;
};

constexpr int kUnmaskedOp = v1::MaskingOperation::UNSPECIFIED;

// The totals of members 0 (the network) .. `controls` of one operation and
// network on one evaluation set, and the set's unmasked totals; false
// unless all are complete.
bool Gather(const ScoreTable& table, int op, int net, int e, int controls,
            ScoreTotals* unmasked, std::vector<ScoreTotals>* members) {
  if (!table.Complete(kUnmaskedOp, -1, e, 0)) return false;
  for (int k = 0; k <= controls; ++k) {
    if (!table.Complete(op, net, e, k)) return false;
  }
  *unmasked = table.Get(kUnmaskedOp, -1, e, 0);
  members->clear();
  for (int k = 0; k <= controls; ++k) {
    members->push_back(table.Get(op, net, e, k));
  }
  return true;
}

void AddTotals(const ScoreTotals& from, ScoreTotals* to) {
  to->tokens += from.tokens;
  to->nll_sum += from.nll_sum;
  to->top1 += from.top1;
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? std::numeric_limits<double>::quiet_NaN()
                   : sum / static_cast<double>(v.size());
}

}  // namespace

std::vector<MaskingResult> ComputeMaskingResults(
    const v1::ExperimentSpec& spec, const MaskingPlan& plan,
    const std::vector<MaskingScore>& scores) {
  const v1::MaskingSpec& m = spec.masking();
  const ScoreTable table(m, plan, scores);
  std::vector<MaskingResult> out;
  for (int op : m.operations()) {
    for (size_t net = 0; net < plan.networks.size(); ++net) {
      const MaskedNetwork& network = plan.networks[net];
      const int n = static_cast<int>(network.controls.size());
      for (int e = 0; e < m.evaluation_size(); ++e) {
        ScoreTotals unmasked;
        std::vector<ScoreTotals> members;
        if (!Gather(table, op, static_cast<int>(net), e, n, &unmasked,
                    &members)) {
          continue;
        }
        const std::vector<ScoreTotals> controls(members.begin() + 1,
                                                members.end());
        for (const char* metric : {"nll", "top1"}) {
          MaskingResult r =
              SummarizeMasking(metric, unmasked, members[0], controls);
          r.network = network.name;
          r.operation =
              OperationName(static_cast<v1::MaskingOperation::Kind>(op));
          r.evaluation = m.evaluation(e).name();
          r.condition = EvaluationCondition(m.evaluation(e));
          out.push_back(std::move(r));
        }
      }
    }
  }
  return out;
}

std::vector<MaskingDissociation> ComputeMaskingDissociations(
    const v1::ExperimentSpec& spec, const MaskingPlan& plan,
    const std::vector<MaskingScore>& scores) {
  const v1::MaskingSpec& m = spec.masking();
  const ScoreTable table(m, plan, scores);
  // Conditions in evaluation order, each with its sets.
  std::vector<std::pair<std::string, std::vector<int>>> conditions;
  for (int e = 0; e < m.evaluation_size(); ++e) {
    const std::string c = EvaluationCondition(m.evaluation(e));
    auto it = std::find_if(conditions.begin(), conditions.end(),
                           [&](const auto& p) { return p.first == c; });
    if (it == conditions.end()) {
      conditions.push_back({c, {e}});
    } else {
      it->second.push_back(e);
    }
  }
  std::vector<MaskingDissociation> out;
  if (conditions.size() < 2) return out;
  for (int op : m.operations()) {
    for (size_t net = 0; net < plan.networks.size(); ++net) {
      const MaskedNetwork& network = plan.networks[net];
      const int n = static_cast<int>(network.controls.size());
      const std::string own =
          net < static_cast<size_t>(m.networks_size())
              ? NetworkCondition(m.networks(static_cast<int>(net)),
                                 static_cast<int>(net))
              : network.name;
      // Pooled totals per condition: unmasked, then members 0..n.
      std::map<std::string, std::pair<ScoreTotals, std::vector<ScoreTotals>>>
          pooled;
      bool complete = true;
      for (const auto& [condition, sets] : conditions) {
        auto& [unmasked, members] = pooled[condition];
        members.assign(n + 1, ScoreTotals{});
        for (int e : sets) {
          ScoreTotals u;
          std::vector<ScoreTotals> ms;
          if (!Gather(table, op, static_cast<int>(net), e, n, &u, &ms)) {
            complete = false;
            break;
          }
          AddTotals(u, &unmasked);
          for (int k = 0; k <= n; ++k) AddTotals(ms[k], &members[k]);
        }
      }
      if (!complete || pooled.count(own) == 0) continue;
      for (const char* metric : {"nll", "top1"}) {
        // Each member's effect (index 0 the network) and change on a
        // condition's texts.
        auto effects = [&](const std::string& c, std::vector<double>* change) {
          const auto& [unmasked, members] = pooled.at(c);
          const double u = unmasked.Metric(metric);
          std::vector<double> e;
          change->clear();
          for (const ScoreTotals& t : members) {
            e.push_back(MaskingEffect(metric, u, t.Metric(metric)));
            change->push_back(t.Metric(metric) - u);
          }
          return e;
        };
        std::vector<double> own_change, other_change;
        const std::vector<double> own_effects = effects(own, &own_change);
        for (const auto& [other, sets] : conditions) {
          if (other == own) continue;
          const std::vector<double> other_effects =
              effects(other, &other_change);
          MaskingDissociation d;
          d.network = network.name;
          d.operation =
              OperationName(static_cast<v1::MaskingOperation::Kind>(op));
          d.metric = metric;
          d.condition = own;
          d.other = other;
          d.change = own_change[0];
          d.other_change = other_change[0];
          d.control_change = Mean(
              std::vector<double>(own_change.begin() + 1, own_change.end()));
          d.other_control_change = Mean(std::vector<double>(
              other_change.begin() + 1, other_change.end()));
          d.contrast = own_effects[0] - other_effects[0];
          for (int k = 1; k <= n; ++k) {
            d.control_contrasts.push_back(own_effects[k] - other_effects[k]);
          }
          const ControlRank rank =
              RankAmongControls(d.contrast, d.control_contrasts);
          d.percentile = rank.percentile;
          d.p = rank.p;
          out.push_back(std::move(d));
        }
      }
    }
  }
  return out;
}

}  // namespace fnprobe
