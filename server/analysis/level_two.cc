// LevelTwoMap computes the observed map in two passes (centred sums) for
// float64 accuracy; permutations compute only t, for blocks of labellings at
// once as matrix products (labellings x prompts times prompts x units), so a
// thousand labellings of ~100 prompts over ~200k units stay a few BLAS calls
// and never hold more than kLabellingsPerBlock x V values.
#include "server/analysis/level_two.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/portable_hash.h"
#include "server/analysis/p_values.h"

namespace fnprobe::analysis {
namespace {

// Residual SD below this share of the fitted values' RMS is rounding, not
// variation (the rule StatMap documents; stat_map.cc says why 1e-10).
constexpr double kRoundingSd = 1e-10;
constexpr arma::uword kLabellingsPerBlock = 64;

struct Groups {
  int num_runs = 0;
  std::vector<std::vector<arma::uword>> members;  // per run, ascending
  std::vector<int> tasks;                         // per run: k_r
  int num_task = 0;
  int num_baseline = 0;
};

absl::StatusOr<Groups> CheckSample(const PromptSample& s) {
  const size_t n = s.values.n_rows;
  if (s.task.size() != n || s.run.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("level two: ", n, " prompts but ", s.task.size(),
                     " labels and ", s.run.size(), " run ids"));
  }
  if (s.values.n_cols == 0) {
    return absl::InvalidArgumentError("level two: no units");
  }
  if (!s.values.is_finite()) {
    return absl::InvalidArgumentError("level two: non-finite prompt values");
  }
  Groups g;
  for (int r : s.run) {
    if (r < 0 || r >= static_cast<int>(n)) {
      return absl::InvalidArgumentError(
          absl::StrCat("level two: run id ", r, " outside [0, ", n, ")"));
    }
    g.num_runs = std::max(g.num_runs, r + 1);
  }
  g.members.resize(g.num_runs);
  g.tasks.assign(g.num_runs, 0);
  for (size_t i = 0; i < n; ++i) {
    g.members[s.run[i]].push_back(i);
    if (s.task[i]) {
      ++g.tasks[s.run[i]];
      ++g.num_task;
    } else {
      ++g.num_baseline;
    }
  }
  for (int r = 0; r < g.num_runs; ++r) {
    if (g.members[r].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "level two: run ids must be 0..R-1; run ", r, " has no prompts"));
    }
  }
  return g;
}

// x~ = task indicator minus its run mean: the task regressor after the run
// intercepts (Frisch-Waugh). Within-run permutations keep every run's task
// count, so the run means (and x~'x~) are the same for every labelling.
arma::rowvec CentredLabels(const Groups& g, const std::vector<uint8_t>& task,
                           const std::vector<int>& run) {
  arma::rowvec x(task.size());
  for (size_t i = 0; i < task.size(); ++i) {
    const double share = static_cast<double>(g.tasks[run[i]]) /
                         static_cast<double>(g.members[run[i]].size());
    x[i] = (task[i] ? 1.0 : 0.0) - share;
  }
  return x;
}

// Y minus each run's mean (N x V).
arma::mat RunCentred(const arma::mat& y, const Groups& g) {
  arma::mat out = y;
  for (const std::vector<arma::uword>& m : g.members) {
    const arma::uvec rows(m);
    const arma::rowvec mean = arma::mean(y.rows(rows), 0);
    for (arma::uword r : m) out.row(r) -= mean;
  }
  return out;
}

absl::Status CheckModel(const Groups& g, LevelTwoModel model, size_t n) {
  if (model == LevelTwoModel::kWelch) {
    if (g.num_task < 2 || g.num_baseline < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "level two (Welch): needs at least 2 task and 2 baseline prompts, "
          "got ",
          g.num_task, " and ", g.num_baseline));
    }
    return absl::OkStatus();
  }
  bool contrast = false;
  for (int r = 0; r < g.num_runs; ++r) {
    const int k = g.tasks[r], m = static_cast<int>(g.members[r].size());
    contrast = contrast || (k > 0 && k < m);
  }
  if (!contrast) {
    return absl::InvalidArgumentError(
        "level two: no run holds both task and baseline prompts");
  }
  if (static_cast<int64_t>(n) - g.num_runs - 1 < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("level two: ", n, " prompts in ", g.num_runs,
                     " run(s) leave no residual degrees of freedom"));
  }
  return absl::OkStatus();
}

// Whether residual sum of squares `ssr` is rounding next to the fitted
// values' sum of squares.
bool IsRoundingResidual(double ssr, double fitted_ss) {
  return !(ssr > kRoundingSd * kRoundingSd * std::max(fitted_ss, 0.0));
}

StatMap OlsMap(const PromptSample& s, const Groups& g, std::string contrast) {
  const arma::uword n = s.values.n_rows, v = s.values.n_cols;
  const arma::rowvec x = CentredLabels(g, s.task, s.run);
  const double sxx = arma::dot(x, x);
  const arma::mat yc = RunCentred(s.values, g);
  const arma::rowvec sxy = x * yc;
  const arma::rowvec syy = arma::sum(arma::square(yc), 0);
  const arma::rowvec sy2 = arma::sum(arma::square(s.values), 0);
  StatMap m;
  m.contrast = std::move(contrast);
  m.noise_model = LevelTwoModelName(LevelTwoModel::kRunOls);
  m.dof = static_cast<double>(n) - g.num_runs - 1;
  m.effect.set_size(v);
  m.variance.set_size(v);
  m.t.set_size(v);
  for (arma::uword u = 0; u < v; ++u) {
    const double beta = sxy[u] / sxx;
    const double ssr = std::max(syy[u] - beta * sxy[u], 0.0);
    m.effect[u] = beta;
    if (IsRoundingResidual(ssr, sy2[u] - ssr)) {
      m.variance[u] = 0.0;
      m.t[u] = 0.0;
      continue;
    }
    m.variance[u] = ssr / m.dof / sxx;
    m.t[u] = beta / std::sqrt(m.variance[u]);
  }
  m.p = TPValues(m.t, m.dof, Tail::kTwoSided);
  for (arma::uword u = 0; u < v; ++u) {
    if (m.variance[u] == 0.0) m.p[u] = 1.0;
  }
  return m;
}

StatMap WelchMap(const PromptSample& s, const Groups& g, std::string contrast) {
  const arma::uword v = s.values.n_cols;
  std::vector<arma::uword> task_rows, base_rows;
  for (arma::uword i = 0; i < s.values.n_rows; ++i) {
    (s.task[i] ? task_rows : base_rows).push_back(i);
  }
  const arma::mat a = s.values.rows(arma::uvec(task_rows));
  const arma::mat b = s.values.rows(arma::uvec(base_rows));
  const double n1 = g.num_task, n0 = g.num_baseline;
  const arma::rowvec m1 = arma::mean(a, 0), m0 = arma::mean(b, 0);
  const arma::rowvec v1 = arma::var(a, 0, 0), v0 = arma::var(b, 0, 0);
  const arma::rowvec sy2 = arma::sum(arma::square(s.values), 0);
  StatMap m;
  m.contrast = std::move(contrast);
  m.noise_model = LevelTwoModelName(LevelTwoModel::kWelch);
  m.effect = (m1 - m0).t();
  m.variance.set_size(v);
  m.t.set_size(v);
  m.p.set_size(v);
  double df_sum = 0.0;
  int df_count = 0;
  for (arma::uword u = 0; u < v; ++u) {
    const double e1 = v1[u] / n1, e0 = v0[u] / n0, se2 = e1 + e0;
    const double ssr = v1[u] * (n1 - 1) + v0[u] * (n0 - 1);
    if (IsRoundingResidual(ssr, sy2[u] - ssr)) {
      m.variance[u] = 0.0;
      m.t[u] = 0.0;
      m.p[u] = 1.0;
      continue;
    }
    const double df = se2 * se2 / (e1 * e1 / (n1 - 1) + e0 * e0 / (n0 - 1));
    m.variance[u] = se2;
    m.t[u] = m.effect[u] / std::sqrt(se2);
    m.p[u] = TPValues(arma::vec{m.t[u]}, df, Tail::kTwoSided)[0];
    df_sum += df;
    ++df_count;
  }
  m.dof = df_count > 0 ? df_sum / df_count : n1 + n0 - 2;
  return m;
}

// t of every unit for a block of labellings (rows of `labels`, 0/1 task
// indicators over the prompts). Units with rounding-level residuals get 0,
// as in the observed map.
class BatchT {
 public:
  BatchT(const PromptSample& s, const Groups& g, LevelTwoModel model)
      : s_(s), g_(g), model_(model) {
    sy2_ = arma::sum(arma::square(s.values), 0);
    if (model == LevelTwoModel::kRunOls) {
      yc_ = RunCentred(s.values, g);
      syy_ = arma::sum(arma::square(yc_), 0);
      share_.set_size(s.values.n_rows);
      for (arma::uword i = 0; i < share_.n_elem; ++i) {
        share_[i] = static_cast<double>(g.tasks[s.run[i]]) /
                    static_cast<double>(g.members[s.run[i]].size());
      }
    } else {
      // Centred on the grand mean, so one-pass sums of squares keep their
      // precision when a unit's mean is far from 0.
      yc_ = s.values.each_row() - arma::mean(s.values, 0);
      y2_ = arma::square(yc_);
      total_ = arma::sum(yc_, 0);
      total2_ = arma::sum(y2_, 0);
    }
  }

  arma::mat operator()(const arma::mat& labels) const {
    return model_ == LevelTwoModel::kRunOls ? Ols(labels) : Welch(labels);
  }

 private:
  arma::mat Ols(const arma::mat& labels) const {
    arma::mat x = labels;
    x.each_row() -= share_.t();
    const double sxx = arma::dot(x.row(0), x.row(0));
    const double dof = static_cast<double>(s_.values.n_rows) - g_.num_runs - 1;
    arma::mat t = x * yc_;  // sxy
    for (arma::uword u = 0; u < t.n_cols; ++u) {
      for (arma::uword b = 0; b < t.n_rows; ++b) {
        const double sxy = t(b, u), beta = sxy / sxx;
        const double ssr = std::max(syy_[u] - beta * sxy, 0.0);
        t(b, u) = IsRoundingResidual(ssr, sy2_[u] - ssr)
                      ? 0.0
                      : beta / std::sqrt(ssr / dof / sxx);
      }
    }
    return t;
  }

  arma::mat Welch(const arma::mat& labels) const {
    const double n1 = g_.num_task, n0 = g_.num_baseline;
    arma::mat s1 = labels * yc_;
    const arma::mat q1 = labels * y2_;
    for (arma::uword u = 0; u < s1.n_cols; ++u) {
      for (arma::uword b = 0; b < s1.n_rows; ++b) {
        const double m1 = s1(b, u) / n1, m0 = (total_[u] - s1(b, u)) / n0;
        const double ss1 = std::max(q1(b, u) - n1 * m1 * m1, 0.0);
        const double ss0 = std::max(total2_[u] - q1(b, u) - n0 * m0 * m0, 0.0);
        const double se2 = ss1 / (n1 - 1) / n1 + ss0 / (n0 - 1) / n0;
        s1(b, u) = IsRoundingResidual(ss1 + ss0, sy2_[u] - ss1 - ss0)
                       ? 0.0
                       : (m1 - m0) / std::sqrt(se2);
      }
    }
    return s1;
  }

  const PromptSample& s_;
  const Groups& g_;
  const LevelTwoModel model_;
  arma::rowvec sy2_, syy_, total_, total2_;
  arma::vec share_;
  arma::mat yc_, y2_;
};

double LogChoose(int n, int k) {
  return std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0);
}

bool AllBalanced(const Groups& g) {
  for (int r = 0; r < g.num_runs; ++r) {
    if (2 * g.tasks[r] != static_cast<int>(g.members[r].size())) return false;
  }
  return true;
}

// Every k-subset of 0..n-1, lexicographic.
std::vector<std::vector<int>> Combinations(int n, int k) {
  std::vector<std::vector<int>> out;
  std::vector<int> c(k);
  std::iota(c.begin(), c.end(), 0);
  while (true) {
    out.push_back(c);
    int i = k - 1;
    while (i >= 0 && c[i] == n - k + i) --i;
    if (i < 0) break;
    ++c[i];
    for (int j = i + 1; j < k; ++j) c[j] = c[j - 1] + 1;
  }
  return out;
}

// Produces labellings (0/1 rows over the prompts) one at a time: the
// observed one first, then either every other labelling (exhaustive) or
// `random` draws, each a Fisher-Yates shuffle of every run's labels.
class Labellings {
 public:
  Labellings(const PromptSample& s, const Groups& g, bool exhaustive,
             int64_t random, uint64_t seed)
      : s_(s), g_(g), exhaustive_(exhaustive), state_(seed) {
    if (exhaustive_) {
      for (int r = 0; r < g.num_runs; ++r) {
        combos_.push_back(
            Combinations(static_cast<int>(g.members[r].size()), g.tasks[r]));
      }
      digits_.assign(g.num_runs, 0);
      total_ = 1;
      for (const auto& c : combos_) total_ *= static_cast<int64_t>(c.size());
    } else {
      total_ = random + 1;
    }
  }

  int64_t total() const { return total_; }

  // Fills `row` with labelling number `i` (called with i = 0, 1, ...).
  void Next(int64_t i, arma::rowvec& row) {
    row.zeros(s_.values.n_rows);
    if (i == 0 && !exhaustive_) {
      for (arma::uword p = 0; p < row.n_elem; ++p) row[p] = s_.task[p];
      return;
    }
    if (exhaustive_) {
      for (int r = 0; r < g_.num_runs; ++r) {
        for (int pos : combos_[r][digits_[r]]) row[g_.members[r][pos]] = 1.0;
      }
      for (int r = 0; r < g_.num_runs; ++r) {  // mixed-radix increment
        if (++digits_[r] < combos_[r].size()) break;
        digits_[r] = 0;
      }
      return;
    }
    for (int r = 0; r < g_.num_runs; ++r) {
      const std::vector<arma::uword>& m = g_.members[r];
      std::vector<uint8_t> labels(m.size(), 0);
      std::fill(labels.begin(), labels.begin() + g_.tasks[r], 1);
      for (size_t j = labels.size(); j > 1; --j) {
        const uint64_t pick = static_cast<uint64_t>(
            (static_cast<unsigned __int128>(SplitMix64(state_)) * j) >> 64);
        std::swap(labels[j - 1], labels[pick]);
      }
      for (size_t j = 0; j < m.size(); ++j) row[m[j]] = labels[j];
    }
  }

 private:
  const PromptSample& s_;
  const Groups& g_;
  const bool exhaustive_;
  uint64_t state_;
  std::vector<std::vector<std::vector<int>>> combos_;
  std::vector<size_t> digits_;
  int64_t total_ = 0;
};

}  // namespace

std::string LevelTwoModelName(LevelTwoModel model) {
  return model == LevelTwoModel::kWelch ? "welch" : "run_ols";
}

absl::StatusOr<StatMap> LevelTwoMap(const PromptSample& sample,
                                    LevelTwoModel model, std::string contrast) {
  absl::StatusOr<Groups> g = CheckSample(sample);
  if (!g.ok()) return g.status();
  if (absl::Status s = CheckModel(*g, model, sample.values.n_rows); !s.ok()) {
    return s;
  }
  return model == LevelTwoModel::kWelch
             ? WelchMap(sample, *g, std::move(contrast))
             : OlsMap(sample, *g, std::move(contrast));
}

double DistinctLabellings(const PromptSample& sample) {
  absl::StatusOr<Groups> g = CheckSample(sample);
  if (!g.ok()) return 0.0;
  double log_total = 0.0;
  for (int r = 0; r < g->num_runs; ++r) {
    log_total += LogChoose(static_cast<int>(g->members[r].size()), g->tasks[r]);
  }
  return std::exp(std::min(log_total, std::log(1e300)));
}

double SmallestPermutationP(double distinct_labellings, bool all_balanced,
                            int permutations) {
  const double distinct_max =
      all_balanced ? distinct_labellings / 2 : distinct_labellings;
  if (distinct_labellings <= permutations) {
    return 1.0 / std::max(distinct_max, 1.0);
  }
  return 1.0 / std::min(distinct_max, permutations + 1.0);
}

absl::StatusOr<PermutationResult> PermuteLevelTwo(
    const PromptSample& sample, LevelTwoModel model,
    const PermutationOptions& options) {
  absl::StatusOr<Groups> g = CheckSample(sample);
  if (!g.ok()) return g.status();
  if (absl::Status s = CheckModel(*g, model, sample.values.n_rows); !s.ok()) {
    return s;
  }
  PermutationResult out;
  out.distinct = DistinctLabellings(sample);
  const double smallest =
      SmallestPermutationP(out.distinct, AllBalanced(*g), options.permutations);
  if (smallest > options.alpha) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "permutation: the design allows %.0f distinct labellings of task and "
        "baseline prompts within runs; its smallest p-value %.3g cannot reach "
        "alpha %g",
        out.distinct, smallest, options.alpha));
  }
  out.exhaustive = out.distinct <= options.permutations;
  Labellings labellings(sample, *g, out.exhaustive, options.permutations,
                        options.seed);
  out.labellings = labellings.total();
  const BatchT batch(sample, *g, model);
  const arma::uword v = sample.values.n_cols;
  arma::rowvec observed;
  arma::uvec exceed(v, arma::fill::zeros);
  std::vector<double> maxima;
  maxima.reserve(static_cast<size_t>(out.labellings));
  arma::rowvec row;
  for (int64_t first = 0; first < out.labellings;
       first += kLabellingsPerBlock) {
    const arma::uword count = static_cast<arma::uword>(
        std::min<int64_t>(kLabellingsPerBlock, out.labellings - first));
    arma::mat labels(count, sample.values.n_rows);
    for (arma::uword b = 0; b < count; ++b) {
      labellings.Next(first + b, row);
      labels.row(b) = row;
    }
    const arma::mat t = arma::abs(batch(labels));
    arma::uword b0 = 0;
    if (first == 0 && !out.exhaustive) {
      observed = t.row(0);
      b0 = 1;
    } else if (first == 0) {
      // Exhaustive enumeration visits the observed labelling somewhere;
      // compute it directly.
      arma::rowvec obs_labels(sample.values.n_rows);
      for (arma::uword p = 0; p < obs_labels.n_elem; ++p) {
        obs_labels[p] = sample.task[p];
      }
      observed = arma::abs(batch(arma::mat(obs_labels)));
    }
    if (first == 0 && !out.exhaustive) {
      maxima.push_back(observed.max());
      exceed += arma::ones<arma::uvec>(v);
    }
    for (arma::uword b = b0; b < count; ++b) {
      maxima.push_back(t.row(b).max());
      // Ties count as exceeding (conservative); 1e-12 relative absorbs
      // rounding between the direct and the batched computation.
      for (arma::uword u = 0; u < v; ++u) {
        exceed[u] += t(b, u) >= observed[u] * (1 - 1e-12);
      }
    }
  }
  const double m = static_cast<double>(out.labellings);
  out.p = arma::conv_to<arma::vec>::from(exceed) / m;
  // p_FWE(u) = #{labellings: max >= |t_u|} / m <= alpha  <=>  |t_u| above
  // the (j+1)-th largest maximum, j = floor(alpha m).
  std::sort(maxima.begin(), maxima.end(), std::greater<double>());
  const int64_t j = static_cast<int64_t>(std::floor(options.alpha * m + 1e-9));
  out.cutoff = j >= 1 && j < static_cast<int64_t>(maxima.size())
                   ? maxima[static_cast<size_t>(j)]
                   : std::numeric_limits<double>::infinity();
  return out;
}

}  // namespace fnprobe::analysis
