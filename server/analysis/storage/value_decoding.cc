#include "server/analysis/storage/value_decoding.h"

#include <cstdint>
#include <cstring>

#include "common/half_float.h"

namespace fnprobe {

void DecodeActivationValues(DType dtype, const char* in, size_t n, float* out) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out, in, n * sizeof(float));
      break;
    case DType::kF16:
      DecodeHalfs(in, n, out);
      break;
    case DType::kBF16:
      // A bfloat16 is the top half of a float32; the loop vectorizes.
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, in + 2 * i, sizeof(bits));
        const uint32_t wide = static_cast<uint32_t>(bits) << 16;
        std::memcpy(out + i, &wide, sizeof(wide));
      }
      break;
    default:
      break;
  }
}

}  // namespace fnprobe
