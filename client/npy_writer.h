// Encodes arrays of float64 in the NumPy .npy format, version 1.0: the magic
// "\x93NUMPY", the version bytes 1 0, a little-endian uint16 header length,
// an ASCII header dict {'descr': '<f8', 'fortran_order': False, 'shape':
// (...), } padded with spaces and ended by '\n' so that the data starts at a
// multiple of 64 bytes, then the values in C order, little-endian.
//
// Thread-safe: free function without state.
#ifndef FNPROBE_CLIENT_NPY_WRITER_H_
#define FNPROBE_CLIENT_NPY_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace fnprobe::client {

// The .npy bytes of `values` with `shape` (C order).
// REQUIRES: the product of `shape` equals values.size().
std::string EncodeNpy(absl::Span<const double> values,
                      const std::vector<int64_t>& shape);

// A one-dimensional array.
inline std::string EncodeNpy(absl::Span<const double> values) {
  return EncodeNpy(values, {static_cast<int64_t>(values.size())});
}

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_NPY_WRITER_H_
