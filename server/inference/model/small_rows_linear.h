// A dense layer's product for the few rows of a decode step, y = x W^T + b,
// on the CPU in float32, without the BLAS.
//
// Why: a GEMM packs its operands before multiplying. With 1 to 64 rows the
// weight is the large operand, and OpenBLAS copies all of it into its
// packing buffer on every call (sgemm_incopy took 46% of batch-1 decode and
// 26% of batch-16 decode in perf, more than the multiply). Decode reads each
// weight once per step, so the copy doubles the memory traffic at batch 1
// and costs as much as the arithmetic at batch 16. This kernel reads each
// weight row once, straight from the [out, in] row-major tensor loaded at
// startup, and multiplies it with every row of x while it is in L1/L2.
//
// Each output element is one dot product, accumulated in a fixed order
// (16-lane partial sums over `in`, then one horizontal add) whatever the
// number of rows and wherever the row sits: a row's values do not depend on
// the rest of the batch.
//
// Needs AVX-512F at run time; SmallRowsLinearApplies says when it is used
// (else callers keep at::linear). Thread-safe; splits the output columns
// over at::parallel_for.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_SMALL_ROWS_LINEAR_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_SMALL_ROWS_LINEAR_H_

#include <ATen/ATen.h>

#include <cstdint>

namespace fnprobe {

// Most rows sent to the kernel (in passes of 32 over the weight); more go
// to the BLAS, whose packing then pays off (measured: the kernel on one
// thread is ~2x OpenBLAS on two at 16-64 rows, even at 128, behind at 256).
inline constexpr int64_t kSmallRowsMax = 64;

// Whether SmallRowsLinear handles x [rows, in] (rows <= kSmallRowsMax) with
// `weight` [out, in]: both float32 on the CPU, weight contiguous, bias
// undefined or [out] float32, and the CPU has AVX-512F.
bool SmallRowsLinearApplies(const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias);

// x W^T + b as [rows, out]. REQUIRES: SmallRowsLinearApplies(x, weight, bias).
at::Tensor SmallRowsLinear(const at::Tensor& x, const at::Tensor& weight,
                           const at::Tensor& bias);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_SMALL_ROWS_LINEAR_H_
