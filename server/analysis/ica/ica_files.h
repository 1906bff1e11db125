// Files of fnprobe-ica: the input matrix (.npy or Armadillo binary) and
// the outputs (sources.npy, mixing.npy, components.json).
//
// Input: X, time points x units, as
//   - .npy, float32 or float64, C or Fortran order (common/npy_io.h). A
//     C-order array is read straight into the V x T frames layout the
//     library wants (no copy, no transpose); a Fortran-order one is read
//     and transposed once.
//   - Armadillo binary ("ARMA_MAT_BIN_FN004" float32 / "FN008" float64,
//     column-major T x V), read with arma::Mat::load(arma_binary) after the
//     header and size are checked here, then transposed once.
// The format is recognised by the file's first bytes, not its name.
// Errors (INVALID_ARGUMENT, DATA_LOSS for truncation, NOT_FOUND) name the
// file and say what is wrong.
//
// Outputs in DIR (created if missing):
//   sources.npy     K x V float32, z-scored maps (row k = component k)
//   mixing.npy      T x K float64, time courses
//   components.json per_component[]: index, stability (null with one
//                   restart), explained_variance, skewness, network_size
//                   (units with |z| > z); and the run's parameters.
//
// Thread-safety: free functions without state.
#ifndef FNPROBE_SERVER_ANALYSIS_ICA_ICA_FILES_H_
#define FNPROBE_SERVER_ANALYSIS_ICA_ICA_FILES_H_

#include <armadillo>
#include <string>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/analysis/ica/spatial_ica.h"

namespace fnprobe::ica {

// The input in frames layout (V x T), in the file's precision.
using Frames = std::variant<arma::fmat, arma::mat>;

// Reads X (T x V) from `path` into frames (V x T).
absl::StatusOr<Frames> LoadFrames(const std::string& path);

// Runs RunSpatialIca on either precision, moving the data in.
absl::StatusOr<IcaResult> RunSpatialIca(Frames frames,
                                        const IcaOptions& options);

// Writes sources.npy, mixing.npy and components.json into `dir`.
absl::Status WriteIcaOutputs(const std::string& dir, const IcaResult& result,
                             const IcaOptions& options);

}  // namespace fnprobe::ica

#endif  // FNPROBE_SERVER_ANALYSIS_ICA_ICA_FILES_H_
