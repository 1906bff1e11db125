// fnprobe-ica: spatial ICA of one matrix file, the library the worker runs
// per hook point, from the command line (Liu et al. 2025's decomposition).
//
//   fnprobe-ica --input X.npy --components K [--fun logcosh|cube|exp]
//               [--seed S] [--restarts R] [--max-iter N] [--tol E]
//               [--z 3.6] --out DIR
//
// Exit codes: 0 done; 2 usage (unknown flag, missing value); 3 bad input
// (unreadable or malformed file, NaN/Inf, K beyond the data's rank, bad
// option values); 1 the outputs could not be written.
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "server/analysis/ica/ica_files.h"
#include "server/analysis/ica/spatial_ica.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitBadInput = 3;

int Fail(int code, const absl::Status& status) {
  std::cerr << "fnprobe-ica: " << status.message() << "\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  namespace ica = fnprobe::ica;
  ica::IcaOptions o;
  std::string input, out_dir, fun = "logcosh", pca = "auto";
  CLI::App app{
      "fnprobe-ica: spatial ICA (units are the samples) of a time points x "
      "units matrix: PCA to K, whitening, symmetric FastICA; with "
      "--restarts, ICASSO stability. Writes DIR/sources.npy (K x units, "
      "float32, z-scored), DIR/mixing.npy (time points x K) and "
      "DIR/components.json."};
  app.add_option("--input", input,
                 "X, time points x units: .npy (float32/float64, C or "
                 "Fortran order) or Armadillo binary")
      ->required();
  app.add_option("--components", o.components, "K, the number of components")
      ->required();
  app.add_option("--fun", fun, "FastICA contrast: logcosh, cube or exp")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random seed (same seed, same bytes)")
      ->capture_default_str();
  app.add_option("--restarts", o.restarts,
                 "FastICA runs from different seeds; >= 2 gives ICASSO "
                 "stability indices and keeps the most stable run")
      ->capture_default_str();
  app.add_option("--max-iter", o.max_iter, "FastICA iterations at most")
      ->capture_default_str();
  app.add_option("--tol", o.tol, "FastICA convergence tolerance")
      ->capture_default_str();
  app.add_option("--z", o.z, "Network threshold on |z| (Liu et al.: 3.6)")
      ->capture_default_str();
  app.add_option("--pca", pca, "PCA reduction: auto, exact or randomized")
      ->capture_default_str();
  app.add_option("--threads", o.threads,
                 "FastICA threads (0: one per hardware thread)")
      ->capture_default_str();
  app.add_option("--out", out_dir, "Output directory (created if missing)")
      ->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every other parse failure is a usage error.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }

  absl::StatusOr<ica::Contrast> contrast = ica::ParseContrast(fun);
  if (!contrast.ok()) return Fail(kExitBadInput, contrast.status());
  o.fun = *contrast;
  if (pca == "auto") {
    o.pca = ica::PcaMethod::kAuto;
  } else if (pca == "exact") {
    o.pca = ica::PcaMethod::kExact;
  } else if (pca == "randomized") {
    o.pca = ica::PcaMethod::kRandomized;
  } else {
    return Fail(kExitBadInput,
                absl::InvalidArgumentError(
                    "--pca must be auto, exact or randomized; got " + pca));
  }
  if (absl::Status s = ica::ValidateIcaOptions(o); !s.ok()) {
    return Fail(kExitBadInput, s);
  }
  absl::StatusOr<ica::Frames> frames = ica::LoadFrames(input);
  if (!frames.ok()) return Fail(kExitBadInput, frames.status());
  absl::StatusOr<ica::IcaResult> result =
      ica::RunSpatialIca(std::move(*frames), o);
  if (!result.ok()) return Fail(kExitBadInput, result.status());
  if (absl::Status s = ica::WriteIcaOutputs(out_dir, *result, o); !s.ok()) {
    return Fail(kExitError, s);
  }
  int converged = 0;
  for (bool c : result->converged) converged += c ? 1 : 0;
  std::cout << "fnprobe-ica: " << result->maps.n_cols << " components of "
            << result->mixing.n_rows << " time points x " << result->maps.n_rows
            << " units (" << (result->randomized_pca ? "randomized" : "exact")
            << " PCA keeps " << 100.0 * result->pca_explained_variance
            << "% of the variance; " << converged << "/"
            << result->converged.size() << " runs converged) in " << out_dir
            << std::endl;
  return 0;
}
