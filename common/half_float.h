// Conversions between float32 and the 16-bit float formats (IEEE binary16
// "f16" and bfloat16 "bf16"), round-to-nearest-even, as torch does.
//
// Float32 values beyond the f16 range become +-inf; callers that must report
// overflow (frame encoding) check IsFinite on the result or use the counting
// array helpers below. NaN stays NaN.
//
// These hold the one 16-bit encoding and f16 decoding path: the frame codec
// and the activation store both convert through EncodeHalfs,
// EncodeBFloat16s and DecodeHalfs, which use AVX2 + F16C where the CPU has
// them and are bit-identical to the scalar conversions either way.
//
// Thread-safe: pure functions (the CPU probe is computed once).
#ifndef FNPROBE_COMMON_HALF_FLOAT_H_
#define FNPROBE_COMMON_HALF_FLOAT_H_

#include <cstddef>
#include <cstdint>

namespace fnprobe {

uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t bits);
uint16_t FloatToBFloat16(float value);
float BFloat16ToFloat(uint16_t bits);

// Array forms. The *ToHalf/*ToBFloat16 forms return how many finite inputs
// became infinite (overflow), so that encoders can report it.
size_t FloatsToHalf(const float* in, size_t n, uint16_t* out);
size_t FloatsToBFloat16(const float* in, size_t n, uint16_t* out);
void HalfsToFloat(const uint16_t* in, size_t n, float* out);
void BFloat16sToFloat(const uint16_t* in, size_t n, float* out);

// Whether this CPU (and OS) runs the AVX2 + F16C conversion paths: here and
// in the frame codec's encoder. Probed once.
bool CpuHasAvx2F16c();

// Converts `n` floats to little-endian f16 (or bf16) bytes at `dst` (2n
// bytes, any alignment): with AVX2 + F16C where CpuHasAvx2F16c(), bit for
// bit as FloatsToHalf (FloatsToBFloat16) either way, NaNs included. Returns
// how many finite inputs became infinite. The one encoding path: the frame
// codec and the activation store both use it.
size_t EncodeHalfs(const float* in, size_t n, char* dst);
size_t EncodeBFloat16s(const float* in, size_t n, char* dst);

// Converts `n` little-endian f16 values at `src` (any alignment) to float32
// at `out`: with F16C where CpuHasAvx2F16c(), bit for bit as HalfToFloat
// (signaling NaNs keep their bits, which the hardware would quiet).
void DecodeHalfs(const char* src, size_t n, float* out);

namespace half_float_internal {
// DecodeHalfs' two paths, for tests that compare them.
void DecodeHalfsScalar(const char* src, size_t n, float* out);
// REQUIRES: CpuHasAvx2F16c(). Scalar on hosts without x86 intrinsics.
void DecodeHalfsF16c(const char* src, size_t n, float* out);
}  // namespace half_float_internal

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_HALF_FLOAT_H_
