// The glm_maps.stats_blob format of a StatMap, version 1, little-endian:
//
//   "FNSM"            4 bytes magic
//   version           u32 (1)
//   num_units V       u64
//   dof               f64
//   contrast          u32 length, bytes
//   noise_model       u32 length, bytes
//   effect, variance, t, p   V f64 each
//   checksum          u64 FNV-1a 64 of every byte before it
//
// Prompt values (level one of prompt-level inference; prompt_values.blob),
// version 1, little-endian:
//
//   "FNPV"            4 bytes magic
//   version           u32 (1)
//   prompts P, units V   u64 each
//   values            P x V f64, prompt-major (row by row)
//   checksum          u64 FNV-1a 64 of every byte before it
//
// The checksum makes a flipped bit in the arrays DATA_LOSS instead of a
// silently wrong map. FNV-1a rather than the store's CRC-32C because
// fnprobe_analysis does not link the storage library (SQLite).
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/portable_hash.h"
#include "server/analysis/stat_map.h"

namespace fnprobe::analysis {
namespace {

constexpr char kMagic[4] = {'F', 'N', 'S', 'M'};
constexpr uint32_t kVersion = 1;
constexpr size_t kArrays = 4;  // effect, variance, t, p

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutF64(std::string& out, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  PutU64(out, bits);
}
void PutString(std::string& out, const std::string& s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Reads fields front to back; every read checks the bytes are there.
class Reader {
 public:
  explicit Reader(absl::string_view bytes) : rest_(bytes) {}

  bool U64(uint64_t& v) {
    if (rest_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) {
      v |= uint64_t{static_cast<unsigned char>(rest_[i])} << (8 * i);
    }
    rest_.remove_prefix(8);
    return true;
  }
  bool U32(uint32_t& v) {
    uint64_t wide = 0;
    if (rest_.size() < 4) return false;
    for (int i = 0; i < 4; ++i) {
      wide |= uint64_t{static_cast<unsigned char>(rest_[i])} << (8 * i);
    }
    rest_.remove_prefix(4);
    v = static_cast<uint32_t>(wide);
    return true;
  }
  bool F64(double& d) {
    uint64_t bits;
    if (!U64(bits)) return false;
    std::memcpy(&d, &bits, sizeof d);
    return true;
  }
  bool String(std::string& s) {
    uint32_t n;
    if (!U32(n) || rest_.size() < n) return false;
    s.assign(rest_.data(), n);
    rest_.remove_prefix(n);
    return true;
  }
  bool Vec(arma::vec& v, uint64_t n) {
    v.set_size(n);
    for (uint64_t i = 0; i < n; ++i) {
      if (!F64(v[i])) return false;
    }
    return true;
  }
  bool Bytes(absl::string_view& b, size_t n) {
    if (rest_.size() < n) return false;
    b = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  size_t remaining() const { return rest_.size(); }

 private:
  absl::string_view rest_;
};

absl::Status Loss(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("stat map blob: ", what));
}

absl::StatusOr<StatMap> DecodeBody(Reader& r) {
  absl::string_view magic;
  uint32_t version = 0;
  uint64_t units = 0;
  StatMap map;
  if (!r.Bytes(magic, 4) || magic != absl::string_view(kMagic, 4)) {
    return Loss("bad magic");
  }
  if (!r.U32(version) || version != kVersion) return Loss("unknown version");
  if (!r.U64(units) || !r.F64(map.dof) || !r.String(map.contrast) ||
      !r.String(map.noise_model)) {
    return Loss("truncated header");
  }
  // Checked before allocating, so a corrupt count cannot ask for terabytes.
  if (units > r.remaining() / (8 * kArrays) ||
      r.remaining() != units * 8 * kArrays + 8) {
    return Loss(absl::StrCat("size disagrees with ", units, " units"));
  }
  if (!r.Vec(map.effect, units) || !r.Vec(map.variance, units) ||
      !r.Vec(map.t, units) || !r.Vec(map.p, units)) {
    return Loss("truncated arrays");
  }
  return map;
}

constexpr char kPromptMagic[4] = {'F', 'N', 'P', 'V'};

absl::Status PromptLoss(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("prompt values blob: ", what));
}

}  // namespace

std::string EncodePromptValues(const arma::mat& values) {
  const uint64_t rows = values.n_rows, cols = values.n_cols;
  std::string out;
  out.reserve(24 + rows * cols * 8 + 8);
  out.append(kPromptMagic, 4);
  PutU32(out, kVersion);
  PutU64(out, rows);
  PutU64(out, cols);
  for (uint64_t r = 0; r < rows; ++r) {
    for (uint64_t c = 0; c < cols; ++c) PutF64(out, values(r, c));
  }
  PutU64(out, Fnv1a64(out));
  return out;
}

absl::StatusOr<arma::mat> DecodePromptValues(absl::string_view bytes) {
  if (bytes.size() < 32) return PromptLoss("truncated");
  Reader r(bytes);
  absl::string_view magic;
  uint32_t version = 0;
  uint64_t rows = 0, cols = 0;
  if (!r.Bytes(magic, 4) || magic != absl::string_view(kPromptMagic, 4)) {
    return PromptLoss("bad magic");
  }
  if (!r.U32(version) || version != kVersion) {
    return PromptLoss("unknown version");
  }
  if (!r.U64(rows) || !r.U64(cols)) return PromptLoss("truncated header");
  // Checked before allocating, so a corrupt count cannot ask for terabytes.
  if (rows == 0 || cols == 0 || rows > r.remaining() / 8 / cols ||
      r.remaining() != rows * cols * 8 + 8) {
    return PromptLoss(absl::StrCat("size disagrees with ", rows, " x ", cols));
  }
  uint64_t checksum = 0;
  Reader(bytes.substr(bytes.size() - 8)).U64(checksum);
  if (checksum != Fnv1a64(bytes.substr(0, bytes.size() - 8))) {
    return PromptLoss("checksum mismatch");
  }
  arma::mat values(rows, cols);
  for (uint64_t i = 0; i < rows; ++i) {
    for (uint64_t c = 0; c < cols; ++c) r.F64(values(i, c));
  }
  return values;
}

std::string EncodeStatMap(const StatMap& map) {
  const uint64_t v = map.effect.n_elem;
  std::string out;
  out.reserve(40 + map.contrast.size() + map.noise_model.size() +
              v * 8 * kArrays + 8);
  out.append(kMagic, 4);
  PutU32(out, kVersion);
  PutU64(out, v);
  PutF64(out, map.dof);
  PutString(out, map.contrast);
  PutString(out, map.noise_model);
  // Arrays shorter than effect (a map breaking its invariant) are padded
  // with NaN so the blob stays self-consistent.
  for (const arma::vec* a : {&map.effect, &map.variance, &map.t, &map.p}) {
    for (uint64_t i = 0; i < v; ++i) {
      PutF64(out, i < a->n_elem ? (*a)[i] : arma::datum::nan);
    }
  }
  PutU64(out, Fnv1a64(out));
  return out;
}

absl::StatusOr<StatMap> DecodeStatMap(absl::string_view bytes) {
  if (bytes.size() < 8) return Loss("truncated");
  // Structure first, for a precise message; then the checksum.
  Reader whole(bytes);
  auto map = DecodeBody(whole);
  if (!map.ok()) return map.status();
  uint64_t checksum = 0;
  Reader(bytes.substr(bytes.size() - 8)).U64(checksum);
  if (checksum != Fnv1a64(bytes.substr(0, bytes.size() - 8))) {
    return Loss("checksum mismatch");
  }
  return map;
}

}  // namespace fnprobe::analysis
