// Reads and writes NumPy .npy files of float32 / float64 arrays
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
//
// Format: the magic "\x93NUMPY", a major and a minor version byte, the
// header length (little-endian uint16 for version 1, uint32 for 2 and 3),
// an ASCII (version 3: UTF-8) Python dict literal {'descr': '<f4',
// 'fortran_order': False, 'shape': (2, 3), } padded with spaces and ended by
// '\n', then the raw values in C (row-major) or Fortran (column-major)
// order.
//
// Reading accepts versions 1-3, little-endian or native ('<', '=', '|')
// float32 and float64, either order, any number of dimensions; it refuses
// other dtypes (integers, big-endian, objects), malformed headers, negative
// or overflowing shapes, and files whose size is not exactly header + data
// (DATA_LOSS for a truncated file) with a message naming the file. The data
// is read straight into the caller's buffer, so a large matrix is never held
// twice. Writing produces version 1.0 files, C order, data 64-byte aligned,
// as numpy.save does.
//
// client/npy_writer.h (float64 only, to a string) predates this and stays
// for the CLI's exports.
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_COMMON_NPY_IO_H_
#define FNPROBE_COMMON_NPY_IO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

enum class NpyDtype { kFloat32, kFloat64 };

// Bytes per value of `dtype`.
size_t NpyDtypeSize(NpyDtype dtype);

// A parsed .npy header: what the data is and where it starts.
struct NpyHeader {
  NpyDtype dtype = NpyDtype::kFloat64;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // bytes from the start of the file

  // Product of `shape` (1 for a 0-d array).
  int64_t num_elements() const;
  // num_elements() * NpyDtypeSize(dtype).
  size_t data_bytes() const;
};

// Parses the preamble and header at the start of `bytes` (a file's first
// bytes; more may follow). INVALID_ARGUMENT for anything malformed or
// unsupported, DATA_LOSS when `bytes` ends inside the header.
absl::StatusOr<NpyHeader> ParseNpyHeader(absl::string_view bytes);

// Reads the header of the .npy file at `path` and checks that the file holds
// exactly header + data bytes. Messages start with "<path>: ".
absl::StatusOr<NpyHeader> ReadNpyHeader(const std::string& path);

// Reads the data of the file at `path` described by `header` (from
// ReadNpyHeader) into `dest`, which must hold header.data_bytes() bytes.
absl::Status ReadNpyData(const std::string& path, const NpyHeader& header,
                         void* dest);

// The header bytes (preamble included) numpy.save writes for an array of
// `dtype` and `shape` in C order: version 1.0, padded so the data starts at
// a multiple of 64 bytes.
std::string EncodeNpyHeader(NpyDtype dtype, const std::vector<int64_t>& shape);

// Writes `data` (product of `shape` values of `dtype`, C order,
// little-endian host) to `path`, replacing it.
absl::Status WriteNpy(const std::string& path, NpyDtype dtype,
                      const std::vector<int64_t>& shape, const void* data);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_NPY_IO_H_
