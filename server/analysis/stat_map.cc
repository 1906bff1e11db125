// Stat maps from OLS / AR(1) fits and their fixed-effects combination. The
// blob codec is in stat_map_codec.cc.
//
// Degenerate units (variance zero or not finite, or effect not finite) are
// normalised once, here: variance 0, t 0, p 1. Everything downstream
// (thresholds, fixed effects, classification) can then rely on finite t and
// p in [0, 1] and treat "variance == 0" as "no information".
//
// "Zero" residual variance is judged relative to the fit: a constant unit
// (value 5 on every token) leaves residuals of rounding size, sigma2 ~1e-29
// rather than 0, and its rounding-sized effect over rounding-sized noise
// gives t of order 1 to 5 that can pass a threshold. A residual SD below
// kRoundingSd times the RMS of the fitted values counts as zero: 1e-10 is
// five orders above float64 rounding and below any real variation of f32 /
// f16 / bf16 captures (one f32 ulp is 6e-8 relative).
#include "server/analysis/stat_map.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/cpu_count.h"
#include "server/analysis/p_values.h"

namespace fnprobe::analysis {
namespace {

constexpr double kRoundingSd = 1e-10;

// sigma2 with rounding-level entries set to 0 (see above). The fitted mean
// square per unit is b' X'X b / T, with X'X recovered from (X'X)^+ (full
// rank) and T = df + p.
arma::vec ResolveSigma2(const arma::mat& beta, const arma::vec& sigma2,
                        const arma::mat& xtx_pinv, double df) {
  arma::mat xtx;
  if (!arma::inv_sympd(xtx, xtx_pinv) && !arma::pinv(xtx, xtx_pinv)) {
    return sigma2;  // no scale to compare against: keep the strict rule
  }
  const double rows = df + static_cast<double>(beta.n_rows);
  const arma::vec fitted_ms = arma::sum(beta % (xtx * beta), 0).t() / rows;
  arma::vec out = sigma2;
  out.elem(arma::find(out <= kRoundingSd * kRoundingSd * fitted_ms)).zeros();
  return out;
}

// Two-sided p-values, in chunks on up to AvailableCpus() threads.
// Boost's t CDF costs 2 to 4 us a unit, so one 200k-unit map is ~0.5 s on
// one core, and an experiment combines ~25 maps (conditions and
// leave-one-out). Throws std::runtime_error if a chunk fails (callers turn
// it into a status); a thread that cannot start runs its chunk inline.
arma::vec TwoSidedP(const arma::vec& t, double dof) {
  constexpr arma::uword kMinChunk = 16384;
  const arma::uword n = t.n_elem;
  const arma::uword threads = std::min<arma::uword>(
      static_cast<arma::uword>(AvailableCpus()), n / kMinChunk);
  if (threads <= 1) return TPValues(t, dof, Tail::kTwoSided);
  arma::vec p(n);
  std::atomic<bool> failed{false};
  auto work = [&](arma::uword lo, arma::uword hi) {
    try {
      p.subvec(lo, hi - 1) =
          TPValues(arma::vec(t.subvec(lo, hi - 1)), dof, Tail::kTwoSided);
    } catch (...) {
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  for (arma::uword i = 0; i < threads; ++i) {
    const arma::uword lo = n * i / threads, hi = n * (i + 1) / threads;
    try {
      pool.emplace_back(work, lo, hi);
    } catch (const std::system_error&) {
      work(lo, hi);
    }
  }
  for (std::thread& th : pool) th.join();
  if (failed) throw std::runtime_error("p-values: a chunk failed");
  return p;
}

bool Usable(double effect, double variance) {
  return std::isfinite(effect) && std::isfinite(variance) && variance > 0;
}

// Fills t and p from effect and variance; degenerate units get variance 0,
// t 0 and p 1 (and effect 0 if it was not finite).
void FinishMap(StatMap& map) {
  const arma::uword n = map.effect.n_elem;
  map.t.set_size(n);
  for (arma::uword u = 0; u < n; ++u) {
    if (Usable(map.effect[u], map.variance[u])) {
      map.t[u] = map.effect[u] / std::sqrt(map.variance[u]);
    } else {
      if (!std::isfinite(map.effect[u])) map.effect[u] = 0.0;
      map.variance[u] = 0.0;
      map.t[u] = 0.0;
    }
  }
  map.p = TwoSidedP(map.t, map.dof);
  // A zero-variance unit's t of 0 already gives p 1; a non-finite p could
  // only come from a degenerate dof, and means "no evidence".
  map.p.elem(arma::find_nonfinite(map.p)).ones();
}

absl::Status CheckContrast(const arma::vec& c, arma::uword p) {
  if (c.n_elem != p) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stat map: contrast has ", c.n_elem, " entries, design has ", p));
  }
  if (!c.is_finite() || arma::all(c == 0)) {
    return absl::InvalidArgumentError(
        "stat map: contrast must be finite and non-zero");
  }
  return absl::OkStatus();
}

// c' M c, the unscaled variance of the contrast for one (whitened) design.
absl::StatusOr<double> VarianceFactor(const arma::mat& xtx_pinv,
                                      const arma::vec& c) {
  if (xtx_pinv.n_rows != c.n_elem || xtx_pinv.n_cols != c.n_elem) {
    return absl::InvalidArgumentError(
        absl::StrCat("stat map: (X'X)^+ is ", xtx_pinv.n_rows, " x ",
                     xtx_pinv.n_cols, ", contrast has ", c.n_elem));
  }
  const double factor = arma::as_scalar(c.t() * xtx_pinv * c);
  if (!(factor > 0) || !std::isfinite(factor)) {
    return absl::InvalidArgumentError("stat map: c'(X'X)^+c is not positive");
  }
  return factor;
}

absl::StatusOr<StatMap> OlsMap(const OlsFit& fit, const arma::vec& c,
                               std::string contrast) {
  if (auto s = CheckContrast(c, fit.beta.n_rows); !s.ok()) return s;
  if (fit.sigma2.n_elem != fit.beta.n_cols) {
    return absl::InvalidArgumentError("stat map: sigma2 and beta disagree");
  }
  auto factor = VarianceFactor(fit.xtx_pinv, c);
  if (!factor.ok()) return factor.status();
  StatMap map;
  map.contrast = std::move(contrast);
  map.noise_model = "OLS";
  map.dof = fit.df;
  map.effect = (c.t() * fit.beta).t();
  map.variance =
      ResolveSigma2(fit.beta, fit.sigma2, fit.xtx_pinv, fit.df) * *factor;
  FinishMap(map);
  return map;
}

// Each rho group has its own whitened design, hence its own c'(X'X)^+c.
absl::StatusOr<StatMap> Ar1Map(const Ar1Fit& fit, const arma::vec& c,
                               std::string contrast) {
  if (auto s = CheckContrast(c, fit.beta.n_rows); !s.ok()) return s;
  const arma::uword v = fit.beta.n_cols;
  if (fit.sigma2.n_elem != v) {
    return absl::InvalidArgumentError("stat map: sigma2 and beta disagree");
  }
  arma::vec factor(v, arma::fill::value(arma::datum::nan));
  arma::vec sigma2(v);
  for (const Ar1Group& g : fit.groups) {
    auto f = VarianceFactor(g.fit.xtx_pinv, c);
    if (!f.ok()) return f.status();
    if (!g.units.is_empty() && g.units.max() >= v) {
      return absl::InvalidArgumentError("stat map: AR(1) group out of range");
    }
    factor.elem(g.units).fill(*f);
    sigma2.elem(g.units) =
        ResolveSigma2(fit.beta.cols(g.units), fit.sigma2.elem(g.units),
                      g.fit.xtx_pinv, fit.df);
  }
  if (factor.has_nan()) {
    return absl::InvalidArgumentError(
        "stat map: AR(1) groups do not cover every unit");
  }
  StatMap map;
  map.contrast = std::move(contrast);
  map.noise_model = "AR1";
  map.dof = fit.df;
  map.effect = (c.t() * fit.beta).t();
  map.variance = sigma2 % factor;
  FinishMap(map);
  return map;
}

absl::Status CheckSameSize(const std::vector<const StatMap*>& maps) {
  if (maps.empty()) {
    return absl::InvalidArgumentError("fixed effects: no maps");
  }
  const arma::uword v = maps[0] ? maps[0]->effect.n_elem : 0;
  for (size_t i = 0; i < maps.size(); ++i) {
    if (maps[i] == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("fixed effects: map ", i, " is null"));
    }
    const StatMap& m = *maps[i];
    if (m.effect.n_elem != v || m.variance.n_elem != v) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fixed effects: map ", i, " has ", m.effect.n_elem, " effects and ",
          m.variance.n_elem, " variances, map 0 has ", v));
    }
  }
  return absl::OkStatus();
}

// Inverse-variance weighting over the runs that carry information for each
// unit. A unit with no such run gets the plain mean effect (e.g. a
// noise-free response still reports its size) with variance 0, t 0, p 1.
StatMap Combine(const std::vector<const StatMap*>& maps) {
  const arma::uword v = maps[0]->effect.n_elem;
  arma::vec sum_w(v, arma::fill::zeros), sum_we(v, arma::fill::zeros);
  arma::vec sum_e(v, arma::fill::zeros);
  StatMap out;
  out.contrast = maps[0]->contrast;
  out.noise_model = maps[0]->noise_model;
  for (const StatMap* m : maps) {
    out.dof += m->dof;
    for (arma::uword u = 0; u < v; ++u) {
      const double e = m->effect[u], var = m->variance[u];
      if (std::isfinite(e)) sum_e[u] += e;
      if (!Usable(e, var)) continue;
      sum_w[u] += 1.0 / var;
      sum_we[u] += e / var;
    }
  }
  out.effect.set_size(v);
  out.variance.set_size(v);
  for (arma::uword u = 0; u < v; ++u) {
    const bool informed = sum_w[u] > 0;
    out.effect[u] = informed ? sum_we[u] / sum_w[u]
                             : sum_e[u] / static_cast<double>(maps.size());
    out.variance[u] = informed ? 1.0 / sum_w[u] : 0.0;
  }
  FinishMap(out);
  return out;
}

}  // namespace

absl::StatusOr<StatMap> MapFromOls(const OlsFit& fit, const arma::vec& c,
                                   std::string contrast) {
  try {
    return OlsMap(fit, c, std::move(contrast));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("stat map: ", e.what()));
  }
}

absl::StatusOr<StatMap> MapFromAr1(const Ar1Fit& fit, const arma::vec& c,
                                   std::string contrast) {
  try {
    return Ar1Map(fit, c, std::move(contrast));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("stat map: ", e.what()));
  }
}

absl::StatusOr<StatMap> FixedEffects(const std::vector<const StatMap*>& maps) {
  if (auto s = CheckSameSize(maps); !s.ok()) return s;
  try {
    return Combine(maps);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("fixed effects: ", e.what()));
  }
}

}  // namespace fnprobe::analysis
