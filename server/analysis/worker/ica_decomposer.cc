#include "server/analysis/worker/ica_decomposer.h"

#include <algorithm>
#include <armadillo>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/hook_selector.h"
#include "common/status_util.h"
#include "server/analysis/worker/stored_run_fitter.h"

namespace fnprobe::worker {
namespace {

ica::Contrast ContrastOf(v1::IcaSpec::Fun fun) {
  switch (fun) {
    case v1::IcaSpec::CUBE:
      return ica::Contrast::kCube;
    case v1::IcaSpec::EXP:
      return ica::Contrast::kExp;
    default:
      return ica::Contrast::kLogcosh;
  }
}

// The numerical rank of V x T `frames` centred per time point (as
// RunSpatialIca centres them), at float32's tolerance and a margin: what
// K a low-rank hook point (e.g. a planted model's layer 0 attention, which
// writes a handful of dims) allows.
arma::uword CentredRank(const arma::fmat& frames) {
  arma::mat x = arma::conv_to<arma::mat>::from(frames);
  x.each_row() -= arma::mean(x, 0);
  const arma::mat gram =
      x.n_rows < x.n_cols ? arma::mat(x * x.t()) : arma::mat(x.t() * x);
  arma::vec eig = arma::eig_sym(gram);
  eig = arma::sqrt(arma::clamp(eig, 0.0, arma::datum::inf));
  const double largest = eig.max();
  return largest > 0
             ? static_cast<arma::uword>(arma::accu(eig > 2e-3 * largest))
             : 0;
}

// The networks of one decomposition of `columns` (layout-global units of
// y's columns, in order). K above the data's rank is lowered to it (with a
// note in the error-free log line of the caller): a hook point that spans
// fewer dimensions than K has fewer components, not a failed experiment.
absl::StatusOr<std::vector<IcaNetwork>> DecomposeColumns(
    const v1::IcaSpec& spec, const ica::IcaOptions& options,
    const IcaRunInput& run, const std::string& hook, const arma::fmat& y,
    arma::uword first, arma::uword count) {
  // RunSpatialIca takes V x T: one column per time point.
  arma::fmat frames = y.cols(first, first + count - 1).t();
  absl::StatusOr<ica::IcaResult> result = ica::RunSpatialIca(frames, options);
  if (absl::IsFailedPrecondition(result.status())) {
    const arma::uword rank = CentredRank(frames);
    if (rank < 2) return std::vector<IcaNetwork>();  // nothing to unmix
    ica::IcaOptions lowered = options;
    lowered.components =
        std::min<int>(options.components, static_cast<int>(rank) - 1);
    result = ica::RunSpatialIca(std::move(frames), lowered);
  }
  if (!result.ok()) {
    return absl::Status(
        result.status().code(),
        absl::StrCat("ICA of run ", run.run_id, " (group ", run.group,
                     "), hook ", hook, ": ", result.status().message()));
  }
  std::vector<IcaNetwork> out;
  for (size_t k = 0; k < result->components.size(); ++k) {
    const ica::IcaComponent& c = result->components[k];
    IcaNetwork n;
    n.run_id = run.run_id;
    n.group = run.group;
    n.hook = hook;
    n.component = static_cast<int>(k);
    for (arma::uword u : c.network) {
      n.units.push_back(static_cast<int64_t>(first + u));
      n.z.push_back(result->maps(u, k));
    }
    n.time_course = arma::conv_to<std::vector<float>>::from(
        result->mixing.col(static_cast<arma::uword>(k)));
    n.stability = spec.restarts() > 1 ? c.stability : -1;
    n.explained_variance = c.explained_variance;
    out.push_back(std::move(n));
  }
  return out;
}

absl::StatusOr<arma::fmat> ReadRun(const Layout& layout,
                                   const IcaRunInput& run) {
  FNPROBE_ASSIGN_OR_RETURN(arma::fmat y,
                           ReadStoredRun(run.activation_path, run.time_points));
  if (static_cast<int64_t>(y.n_cols) != layout.width()) {
    return absl::DataLossError(absl::StrCat("run ", run.run_id, ": ", y.n_cols,
                                            " units stored, the layout has ",
                                            layout.width()));
  }
  if (y.n_rows == 0) {
    return absl::DataLossError(
        absl::StrCat("run ", run.run_id, ": no time points stored"));
  }
  return y;
}

absl::StatusOr<std::vector<IcaNetwork>> DecomposeMatrix(
    const v1::IcaSpec& spec, const Layout& layout, const IcaRunInput& run,
    arma::fmat y, const IcaDecomposition& decomposition,
    const std::function<absl::Status()>& check) {
  FNPROBE_ASSIGN_OR_RETURN(const ica::IcaOptions options,
                           IcaOptionsFromSpec(spec));
  FNPROBE_ASSIGN_OR_RETURN(const std::vector<size_t> hooks,
                           SelectIcaHooks(layout, decomposition));
  std::vector<IcaNetwork> out;
  const auto append = [&](std::vector<IcaNetwork> networks) {
    for (IcaNetwork& n : networks) out.push_back(std::move(n));
  };
  if (decomposition.joint) {
    // All selected hooks at once: their columns side by side.
    arma::fmat joint(y.n_rows, 0);
    std::vector<int64_t> global;
    for (size_t h : hooks) {
      const arma::uword first = static_cast<arma::uword>(layout.offset(h));
      const arma::uword width =
          static_cast<arma::uword>(layout.hooks()[h].width);
      joint = arma::join_rows(joint, y.cols(first, first + width - 1));
      for (arma::uword u = 0; u < width; ++u) global.push_back(first + u);
    }
    y.reset();
    FNPROBE_ASSIGN_OR_RETURN(std::vector<IcaNetwork> networks,
                             DecomposeColumns(spec, options, run, kAllHooks,
                                              joint, 0, joint.n_cols));
    for (IcaNetwork& n : networks) {
      for (int64_t& u : n.units) u = global[static_cast<size_t>(u)];
    }
    append(std::move(networks));
    return out;
  }
  for (size_t h : hooks) {
    FNPROBE_RETURN_IF_ERROR(check());
    FNPROBE_ASSIGN_OR_RETURN(
        std::vector<IcaNetwork> networks,
        DecomposeColumns(spec, options, run, layout.hooks()[h].name, y,
                         static_cast<arma::uword>(layout.offset(h)),
                         static_cast<arma::uword>(layout.hooks()[h].width)));
    append(std::move(networks));
  }
  return out;
}

}  // namespace

absl::StatusOr<ica::IcaOptions> IcaOptionsFromSpec(const v1::IcaSpec& spec) {
  ica::IcaOptions o;
  o.components = spec.components();
  o.fun = ContrastOf(spec.fun());
  o.seed = spec.seed();
  o.restarts = spec.restarts() > 0 ? spec.restarts() : 1;
  if (spec.max_iter() > 0) o.max_iter = spec.max_iter();
  o.z = spec.z();
  FNPROBE_RETURN_IF_ERROR(ica::ValidateIcaOptions(o));
  return o;
}

absl::StatusOr<std::vector<size_t>> SelectIcaHooks(
    const Layout& layout, const IcaDecomposition& decomposition) {
  std::vector<bool> selected(layout.size(), decomposition.hooks.empty());
  for (const std::string& pattern : decomposition.hooks) {
    bool any = false;
    for (size_t i = 0; i < layout.size(); ++i) {
      if (GlobMatch(pattern, layout.hooks()[i].name)) {
        selected[i] = true;
        any = true;
      }
    }
    if (!any) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hooks: '", pattern, "' matches no captured hook point"));
    }
  }
  std::vector<size_t> out;
  for (size_t i = 0; i < layout.size(); ++i) {
    if (selected[i]) out.push_back(i);
  }
  return out;
}

absl::StatusOr<std::vector<IcaNetwork>> DecomposeRun(
    const v1::IcaSpec& spec, const Layout& layout, const IcaRunInput& run,
    const IcaDecomposition& decomposition,
    const std::function<absl::Status()>& check) {
  FNPROBE_ASSIGN_OR_RETURN(arma::fmat y, ReadRun(layout, run));
  return DecomposeMatrix(spec, layout, run, std::move(y), decomposition, check);
}

absl::StatusOr<std::vector<IcaNetwork>> DecomposeRuns(
    const v1::IcaSpec& spec, const Layout& layout,
    const std::vector<IcaRunInput>& runs, const IcaDecomposition& decomposition,
    const std::function<absl::Status()>& check,
    const std::function<void(const std::string&)>& log) {
  const auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  std::vector<IcaNetwork> out;
  if (spec.scope() != v1::IcaSpec::EXPERIMENT) {
    for (const IcaRunInput& run : runs) {
      FNPROBE_RETURN_IF_ERROR(check());
      const absl::Time start = absl::Now();
      FNPROBE_ASSIGN_OR_RETURN(
          std::vector<IcaNetwork> networks,
          DecomposeRun(spec, layout, run, decomposition, check));
      say(absl::StrCat("ICA of run ", run.run_id, " (", run.time_points,
                       " time points): ", networks.size(), " components in ",
                       absl::FormatDuration(absl::Now() - start)));
      for (IcaNetwork& n : networks) out.push_back(std::move(n));
    }
    return out;
  }
  if (runs.empty()) return out;
  // Temporal concatenation: the runs' rows stacked, so that every unit is
  // one sample with the time points of every run as its features.
  const absl::Time start = absl::Now();
  int64_t total = 0;
  for (const IcaRunInput& run : runs) total += run.time_points;
  arma::fmat y(static_cast<arma::uword>(total),
               static_cast<arma::uword>(layout.width()));
  arma::uword row = 0;
  for (const IcaRunInput& run : runs) {
    FNPROBE_RETURN_IF_ERROR(check());
    FNPROBE_ASSIGN_OR_RETURN(const arma::fmat part, ReadRun(layout, run));
    y.rows(row, row + part.n_rows - 1) = part;
    row += part.n_rows;
  }
  const IcaRunInput every{0, kEveryGroup, "", total};
  FNPROBE_ASSIGN_OR_RETURN(
      out,
      DecomposeMatrix(spec, layout, every, std::move(y), decomposition, check));
  say(absl::StrCat("ICA of ", runs.size(), " runs concatenated (", total,
                   " time points): ", out.size(), " components in ",
                   absl::FormatDuration(absl::Now() - start)));
  return out;
}

}  // namespace fnprobe::worker
