// Stored activation values (F32, F16 or BF16, little-endian) to float32,
// as the activation reader hands them out: F16 through common/half_float's
// DecodeHalfs (F16C where the CPU has it, bit-identical to HalfToFloat).
//
// Thread-safety: safe to call concurrently.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_VALUE_DECODING_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_VALUE_DECODING_H_

#include <cstddef>

#include "common/dtype.h"

namespace fnprobe {

// Converts `n` values of `dtype` at `in` to float32 at `out`; other dtypes
// leave `out` untouched. Any alignment of `in`.
void DecodeActivationValues(DType dtype, const char* in, size_t n, float* out);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_VALUE_DECODING_H_
