// StatMap: one contrast's per-unit statistics (effect, its variance, t, p),
// for one run or for a condition over its repeats (fixed effects), and the
// byte format they are stored in (glm_maps.stats_blob).
//
// Plain values and free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_STAT_MAP_H_
#define FNPROBE_SERVER_ANALYSIS_STAT_MAP_H_

#include <armadillo>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/analysis/ar1.h"
#include "server/analysis/ols_fit.h"

namespace fnprobe::analysis {

// Invariant: effect, variance, t and p have one entry per unit. A unit with
// zero variance (constant data) has variance 0, t = 0 and p = 1; residual
// variance at rounding level (residual SD below 1e-10 of the fitted values'
// RMS, as constant nonzero data leaves) counts as zero.
struct StatMap {
  std::string contrast;  // e.g. "pathology > rest"
  arma::vec effect;      // c' beta
  arma::vec variance;    // of the effect: sigma2 c' (X'X)^+ c
  arma::vec t;
  arma::vec p;  // two-sided, Student t with `dof`
  double dof = 0.0;
  std::string noise_model = "OLS";  // or "AR1"
};

// The map of contrast `c` (p entries) on an OLS / AR(1) fit; p two-sided.
// INVALID_ARGUMENT if c has the wrong length or is zero.
absl::StatusOr<StatMap> MapFromOls(const OlsFit& fit, const arma::vec& c,
                                   std::string contrast);
absl::StatusOr<StatMap> MapFromAr1(const Ar1Fit& fit, const arma::vec& c,
                                   std::string contrast);

// Inverse-variance fixed effects over runs (nipy's fixed_effects):
// effect = sum(e/v) / sum(1/v), variance = 1 / sum(1/v), dof = sum(dof).
// Units with zero variance in a run leave that run out; a unit with zero
// variance in every run gets the plain mean effect, variance 0, t 0, p 1.
// contrast and noise_model are the first map's. INVALID_ARGUMENT for no
// maps, a null map, or maps of different sizes.
absl::StatusOr<StatMap> FixedEffects(const std::vector<const StatMap*>& maps);

// Self-describing little-endian bytes (magic, version, sizes, contrast,
// noise model, float64 arrays, checksum; layout in stat_map_codec.cc) and
// back. DATA_LOSS for anything malformed: truncation, trailing bytes, sizes
// that disagree, or any corrupted byte (checksum).
std::string EncodeStatMap(const StatMap& map);
absl::StatusOr<StatMap> DecodeStatMap(absl::string_view bytes);

// A run's level-one prompt values (P x V; prompt_values.values_blob) in the
// same style (magic "FNPV", sizes, float64 values prompt by prompt, FNV-1a
// checksum) and back; DATA_LOSS for anything malformed.
std::string EncodePromptValues(const arma::mat& values);
absl::StatusOr<arma::mat> DecodePromptValues(absl::string_view bytes);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_STAT_MAP_H_
