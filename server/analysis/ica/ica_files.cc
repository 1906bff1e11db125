#include "server/analysis/ica/ica_files.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/npy_io.h"
#include "nlohmann/json.hpp"

namespace fnprobe::ica {
namespace {

constexpr char kNpyMagic[] = "\x93NUMPY";
constexpr char kArmaMagic[] = "ARMA_MAT_BIN_";

absl::Status WithPath(const std::string& path, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
}

absl::Status CheckMatrixShape(const std::string& path, int64_t t, int64_t v) {
  if (t < 1 || v < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": the matrix is empty (", t, " time points x ", v, " units)"));
  }
  return absl::OkStatus();
}

template <typename eT>
absl::StatusOr<Frames> ReadNpyFrames(const std::string& path,
                                     const NpyHeader& header) {
  const int64_t t = header.shape[0], v = header.shape[1];
  if (header.fortran_order) {
    // Column-major T x V: read as is, transpose once into V x T.
    arma::Mat<eT> x(t, v);
    absl::Status read = ReadNpyData(path, header, x.memptr());
    if (!read.ok()) return read;
    return Frames(arma::Mat<eT>(x.t()));
  }
  // Row-major T x V is column-major V x T: the frames layout itself.
  arma::Mat<eT> frames(v, t);
  absl::Status read = ReadNpyData(path, header, frames.memptr());
  if (!read.ok()) return read;
  return Frames(std::move(frames));
}

absl::StatusOr<Frames> LoadNpy(const std::string& path) {
  absl::StatusOr<NpyHeader> header = ReadNpyHeader(path);
  if (!header.ok()) return header.status();
  if (header->shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected a 2-D array (time points x units); it has ",
        header->shape.size(), " dimensions"));
  }
  absl::Status shape =
      CheckMatrixShape(path, header->shape[0], header->shape[1]);
  if (!shape.ok()) return shape;
  if (header->dtype == NpyDtype::kFloat32) {
    return ReadNpyFrames<float>(path, *header);
  }
  return ReadNpyFrames<double>(path, *header);
}

template <typename eT>
absl::StatusOr<Frames> LoadArmaAs(const std::string& path) {
  arma::Mat<eT> x;
  if (!x.load(path, arma::arma_binary)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": Armadillo could not load the matrix"));
  }
  return Frames(arma::Mat<eT>(x.t()));
}

absl::StatusOr<Frames> LoadArma(const std::string& path,
                                const std::string& head, size_t file_size) {
  // "ARMA_MAT_BIN_FN004\n<rows> <cols>\n<data>"
  const size_t eol1 = head.find('\n');
  const size_t eol2 =
      eol1 == std::string::npos ? std::string::npos : head.find('\n', eol1 + 1);
  if (eol2 == std::string::npos) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated Armadillo binary file: incomplete header"));
  }
  const std::string type = head.substr(0, eol1);
  size_t value_size = 0;
  if (type == "ARMA_MAT_BIN_FN004") value_size = 4;
  if (type == "ARMA_MAT_BIN_FN008") value_size = 8;
  if (value_size == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": unsupported Armadillo binary type '", type,
        "': only float32 (FN004) and float64 (FN008) matrices are read"));
  }
  std::vector<std::string> dims = absl::StrSplit(
      head.substr(eol1 + 1, eol2 - eol1 - 1), ' ', absl::SkipEmpty());
  int64_t rows = 0, cols = 0;
  if (dims.size() != 2 || !absl::SimpleAtoi(dims[0], &rows) ||
      !absl::SimpleAtoi(dims[1], &cols) || rows < 0 || cols < 0 ||
      (cols > 0 && rows > std::numeric_limits<int64_t>::max() / 8 / cols)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        ": malformed Armadillo binary header: expected '<rows> <cols>'"
        " on its second line"));
  }
  absl::Status shape = CheckMatrixShape(path, rows, cols);
  if (!shape.ok()) return shape;
  const size_t expected =
      eol2 + 1 + static_cast<size_t>(rows * cols) * value_size;
  if (file_size != expected) {
    return (file_size < expected ? absl::DataLossError
                                 : absl::InvalidArgumentError)(
        absl::StrCat(path, file_size < expected ? ": truncated" : ": malformed",
                     " Armadillo binary file: ", file_size, " bytes, a ", rows,
                     " x ", cols, " matrix needs ", expected));
  }
  if (value_size == 4) return LoadArmaAs<float>(path);
  return LoadArmaAs<double>(path);
}

}  // namespace

absl::StatusOr<Frames> LoadFrames(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": is a directory, not a matrix file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  }
  std::string head(128, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat(path, ": ", ec.message()));
  }
  if (head.rfind(std::string(kNpyMagic, 6), 0) == 0) return LoadNpy(path);
  if (head.rfind(kArmaMagic, 0) == 0) return LoadArma(path, head, size);
  if (head.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": the file is empty"));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path,
      ": neither a .npy file nor an Armadillo binary matrix (it starts "
      "with neither \"\\x93NUMPY\" nor \"ARMA_MAT_BIN_\")"));
}

absl::StatusOr<IcaResult> RunSpatialIca(Frames frames,
                                        const IcaOptions& options) {
  if (auto* f = std::get_if<arma::fmat>(&frames)) {
    return RunSpatialIca(std::move(*f), options);
  }
  return RunSpatialIca(std::move(std::get<arma::mat>(frames)), options);
}

absl::Status WriteIcaOutputs(const std::string& dir, const IcaResult& result,
                             const IcaOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(dir, ": cannot create the directory: ", ec.message()));
  }
  const int64_t v = result.maps.n_rows, t = result.mixing.n_rows,
                k = result.maps.n_cols;
  // maps (V x K, column-major) are the bytes of row-major K x V.
  const arma::fmat sources = arma::conv_to<arma::fmat>::from(result.maps);
  absl::Status s = WriteNpy(dir + "/sources.npy", NpyDtype::kFloat32, {k, v},
                            sources.memptr());
  if (!s.ok()) return s;
  const arma::mat mixing_rows = result.mixing.t();  // row-major T x K
  s = WriteNpy(dir + "/mixing.npy", NpyDtype::kFloat64, {t, k},
               mixing_rows.memptr());
  if (!s.ok()) return s;

  nlohmann::json j;
  j["time_points"] = t;
  j["units"] = v;
  j["components"] = k;
  j["fun"] = ContrastName(options.fun);
  j["seed"] = options.seed;
  j["restarts"] = options.restarts;
  j["max_iter"] = options.max_iter;
  j["tol"] = options.tol;
  j["z"] = options.z;
  j["pca"] = result.randomized_pca ? "randomized" : "exact";
  j["pca_explained_variance"] = result.pca_explained_variance;
  j["chosen_restart"] = result.chosen_restart;
  j["iterations"] = result.iterations;
  j["converged"] = result.converged;
  j["sign_convention"] = "skewness of each z-scored map >= 0";
  nlohmann::json list = nlohmann::json::array();
  for (int64_t c = 0; c < k; ++c) {
    const IcaComponent& comp = result.components[c];
    nlohmann::json e;
    e["index"] = c;
    // JSON has no NaN: one restart gives no stability index.
    e["stability"] = std::isfinite(comp.stability)
                         ? nlohmann::json(comp.stability)
                         : nlohmann::json(nullptr);
    e["explained_variance"] = comp.explained_variance;
    e["skewness"] = comp.skewness;
    e["network_size"] = comp.network.size();
    list.push_back(std::move(e));
  }
  j["per_component"] = std::move(list);
  const std::string path = dir + "/components.json";
  std::ofstream out(path, std::ios::trunc);
  out << j.dump(2) << "\n";
  out.close();
  if (!out) {
    return absl::UnavailableError(absl::StrCat(path, ": cannot write"));
  }
  return absl::OkStatus();
}

}  // namespace fnprobe::ica
