#include "server/analysis/worker/stored_run_fitter.h"

#include <armadillo>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/analysis/ar1.h"
#include "server/analysis/block_permutation.h"
#include "server/analysis/glm_accumulator.h"
#include "server/analysis/prompt_accumulator.h"
#include "server/analysis/run_design.h"
#include "server/analysis/storage/activation_store.h"

namespace fnprobe::worker {
namespace {

// Y (T x V, float32) in time-point order. Every time point must appear once.
absl::StatusOr<arma::fmat> ReadData(const ActivationReader& reader,
                                    int64_t time_points) {
  if (reader.rows() != time_points) {
    return absl::DataLossError(absl::StrCat(reader.path(), ": holds ",
                                            reader.rows(), " rows, the plan ",
                                            time_points, " time points"));
  }
  const arma::uword v = static_cast<arma::uword>(reader.width());
  arma::fmat y(static_cast<arma::uword>(time_points), v);
  std::vector<bool> seen(static_cast<size_t>(time_points), false);
  FNPROBE_RETURN_IF_ERROR(
      reader.VisitChunks([&](const ActivationReader::Chunk& c) -> absl::Status {
        for (int64_t r = 0; r < c.rows; ++r) {
          const int64_t t = c.time_points[r];
          if (t < 0 || t >= time_points || seen[t]) {
            return absl::DataLossError(
                absl::StrCat(reader.path(), ": time point ", t,
                             " repeated or out of range"));
          }
          seen[t] = true;
          const arma::frowvec row(const_cast<float*>(c.values + r * v), v,
                                  /*copy_aux_mem=*/false, /*strict=*/true);
          y.row(static_cast<arma::uword>(t)) = row;
        }
        return absl::OkStatus();
      }));
  return y;
}

absl::StatusOr<analysis::StatMap> FitOlsStreaming(
    const ActivationReader& reader, const analysis::RunDesign& d) {
  FNPROBE_ASSIGN_OR_RETURN(
      analysis::GlmAccumulator acc,
      analysis::GlmAccumulator::Create(d.design.x, reader.width()));
  FNPROBE_RETURN_IF_ERROR(
      reader.VisitChunks([&](const ActivationReader::Chunk& c) -> absl::Status {
        // A whole chunk at once: folded in place, no per-row copy.
        return acc.AddRows(c.time_points, c.values, c.rows, reader.width());
      }));
  absl::StatusOr<analysis::OlsFit> fit = acc.Fit();
  if (!fit.ok()) {
    return absl::DataLossError(
        absl::StrCat(reader.path(), ": ", fit.status().message()));
  }
  return analysis::MapFromOls(*fit, d.contrast, d.contrast_name);
}

// PROMPT inference: the level-one values streamed from the stored chunks,
// and the run's map over them.
absl::StatusOr<StoredRunFit> FitPrompts(const v1::ExperimentSpec& spec,
                                        const RunPlan& plan,
                                        const ActivationReader& reader) {
  if (reader.rows() != plan.time_points) {
    return absl::DataLossError(absl::StrCat(reader.path(), ": holds ",
                                            reader.rows(), " rows, the plan ",
                                            plan.time_points, " time points"));
  }
  FNPROBE_ASSIGN_OR_RETURN(
      analysis::PromptAccumulator acc,
      analysis::PromptAccumulator::Create(spec, plan, reader.width()));
  FNPROBE_RETURN_IF_ERROR(
      reader.VisitChunks([&](const ActivationReader::Chunk& c) -> absl::Status {
        return acc.AddRows(c.time_points, c.values, c.rows, reader.width());
      }));
  absl::StatusOr<arma::mat> values = acc.Values();
  if (!values.ok()) {
    return absl::DataLossError(
        absl::StrCat(reader.path(), ": ", values.status().message()));
  }
  FNPROBE_ASSIGN_OR_RETURN(analysis::RunPrompts prompts,
                           analysis::MakeRunPrompts(plan, *std::move(values)));
  StoredRunFit out;
  FNPROBE_ASSIGN_OR_RETURN(out.map,
                           analysis::PromptRunMap(spec, plan, prompts));
  out.prompt_values = std::move(prompts.values);
  return out;
}

}  // namespace

absl::StatusOr<arma::fmat> ReadStoredRun(const std::string& activation_path,
                                         int64_t time_points) {
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<ActivationReader> reader,
                           ActivationReader::Open(activation_path));
  return ReadData(*reader, time_points);
}

absl::StatusOr<StoredRunFit> FitStoredRun(const v1::ExperimentSpec& spec,
                                          const RunPlan& plan,
                                          const std::string& path) {
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<ActivationReader> reader,
                           ActivationReader::Open(path));
  if (spec.analysis().inference() == v1::InferenceLevel::PROMPT) {
    return FitPrompts(spec, plan, *reader);
  }
  FNPROBE_ASSIGN_OR_RETURN(analysis::RunDesign d,
                           analysis::BuildRunDesign(spec, plan));
  const bool ar1 = spec.analysis().noise() == v1::NoiseModel::AR1;
  const bool permutation =
      spec.analysis().threshold().method() == v1::ThresholdSpec::PERMUTATION;
  StoredRunFit out;
  if (!ar1 && !permutation) {
    FNPROBE_ASSIGN_OR_RETURN(out.map, FitOlsStreaming(*reader, d));
    return out;
  }
  FNPROBE_ASSIGN_OR_RETURN(arma::fmat y, ReadData(*reader, plan.time_points));
  if (ar1) {
    FNPROBE_ASSIGN_OR_RETURN(analysis::Ar1Fit fit,
                             analysis::FitAr1(d.design.x, y));
    FNPROBE_ASSIGN_OR_RETURN(
        out.map, analysis::MapFromAr1(fit, d.contrast, d.contrast_name));
  } else {
    FNPROBE_ASSIGN_OR_RETURN(out.map, FitOlsStreaming(*reader, d));
  }
  if (permutation) {
    analysis::BlockPermutationOptions o;
    o.block_length = d.block_length;
    o.condition_columns = d.condition_columns;
    o.num_permutations = spec.analysis().threshold().permutations();
    o.alpha = spec.analysis().threshold().alpha();
    o.seed = spec.generation().seed() + static_cast<uint64_t>(plan.index);
    o.two_sided = true;
    const arma::mat yd = arma::conv_to<arma::mat>::from(y);
    FNPROBE_ASSIGN_OR_RETURN(
        analysis::BlockPermutationResult r,
        analysis::BlockPermutationMaxT(d.design.x, yd, d.contrast, o));
    out.permutation_threshold = r.threshold;
  }
  return out;
}

}  // namespace fnprobe::worker
