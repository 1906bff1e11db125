// Element types of stored tensors (safetensors dtypes) and wire encodings.
#ifndef FNPROBE_COMMON_DTYPE_H_
#define FNPROBE_COMMON_DTYPE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

enum class DType {
  kF64,
  kF32,
  kF16,
  kBF16,
  kI64,
  kI32,
  kI16,
  kI8,
  kU8,
  kBool,
};

// Size of one element in bytes.
size_t DTypeSize(DType dtype);

// The safetensors name: "F32", "BF16", "I64", ...
absl::string_view DTypeName(DType dtype);

// Parses a safetensors dtype name. INVALID_ARGUMENT naming the unknown dtype.
absl::StatusOr<DType> ParseDType(absl::string_view name);

// True for F64/F32/F16/BF16.
bool IsFloatingDType(DType dtype);

// Parses the float dtypes a command-line flag names: "f32", "f16" or
// "bf16" (case-insensitive). INVALID_ARGUMENT naming the value otherwise.
absl::StatusOr<DType> ParseFloatDTypeFlag(absl::string_view name);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_DTYPE_H_
