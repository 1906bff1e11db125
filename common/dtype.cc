#include "common/dtype.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace fnprobe {
namespace {

struct DTypeInfo {
  DType dtype;
  absl::string_view name;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kF64, "F64", 8},   {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};

const DTypeInfo& Info(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  return kDTypes[0];  // Unreachable for valid enum values.
}

}  // namespace

size_t DTypeSize(DType dtype) { return Info(dtype).size; }

absl::string_view DTypeName(DType dtype) { return Info(dtype).name; }

absl::StatusOr<DType> ParseDType(absl::string_view name) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  // The name may come from a hostile file: bound and escape it.
  constexpr size_t kMaxShown = 32;
  std::string shown = absl::CEscape(name.substr(0, kMaxShown));
  if (name.size() > kMaxShown) shown += "...";
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", shown,
      "' (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)"));
}

bool IsFloatingDType(DType dtype) {
  return dtype == DType::kF64 || dtype == DType::kF32 || dtype == DType::kF16 ||
         dtype == DType::kBF16;
}

absl::StatusOr<DType> ParseFloatDTypeFlag(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "f32") return DType::kF32;
  if (lower == "f16") return DType::kF16;
  if (lower == "bf16") return DType::kBF16;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dtype '", name, "' (supported: f32, f16, bf16)"));
}

}  // namespace fnprobe
