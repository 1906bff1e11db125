// The engine's CPU threading (cpu_threads.h): libtorch's pool gets the
// threads and the BLAS one thread inside it; and the products that now run
// on several threads (the small-rows kernel's columns, a prefill's row
// blocks) give what one thread gives.
#include "server/inference/model/cpu_threads.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <thread>

#include "gtest/gtest.h"
#include "server/inference/model/model_weights.h"
#include "server/inference/model/small_rows_linear.h"

namespace fnprobe {
namespace {

// Restores libtorch's and the BLAS's thread counts after a test.
class CpuThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = at::get_num_threads();
    saved_blas_ = BlasThreads();
  }
  void TearDown() override {
    at::set_num_threads(saved_);
    if (saved_blas_ > 0) SetBlasThreads(saved_blas_);
  }

 private:
  int saved_ = 1;
  int saved_blas_ = 0;
};

TEST_F(CpuThreadsTest, AvailableCpusIsWithinTheMachine) {
  const int n = AvailableCpus();
  EXPECT_GE(n, 1);
  const unsigned hardware = std::thread::hardware_concurrency();
  if (hardware > 0) EXPECT_LE(n, static_cast<int>(hardware));
}

TEST_F(CpuThreadsTest, GivesTheThreadsToLibtorchAndOneToTheBlas) {
  EXPECT_EQ(UseCpuThreads(3), 3);
  EXPECT_EQ(at::get_num_threads(), 3);
  // Debian's libtorch uses OpenBLAS, whose count is controllable; an MKL
  // build reports 0 (no control) and is covered by set_num_threads.
  const int blas = BlasThreads();
  if (blas != 0) EXPECT_EQ(blas, 1);

  EXPECT_EQ(UseCpuThreads(0), AvailableCpus());
  EXPECT_EQ(at::get_num_threads(), AvailableCpus());
}

TEST_F(CpuThreadsTest, SetBlasThreadsRoundTripsAndRefusesZero) {
  if (BlasThreads() == 0) GTEST_SKIP() << "the BLAS offers no thread control";
  ASSERT_TRUE(SetBlasThreads(2));
  EXPECT_EQ(BlasThreads(), 2);
  EXPECT_FALSE(SetBlasThreads(0));
  EXPECT_EQ(BlasThreads(), 2);
}

// A prefill's product split over threads in row blocks equals the single
// BLAS call on one thread (same kernel per row block; compared to float
// rounding since the BLAS may block rows differently).
TEST_F(CpuThreadsTest, PrefillProductOnTwoThreadsMatchesOne) {
  c10::InferenceMode inference;
  at::manual_seed(3);
  LinearWeights linear;
  linear.weight = at::randn({96, 80});
  linear.bias = at::randn({96});
  const at::Tensor x = at::randn({150, 80});
  UseCpuThreads(1);
  const at::Tensor one = linear.Apply(x);
  UseCpuThreads(2);
  const at::Tensor two = linear.Apply(x);
  ASSERT_EQ(two.sizes(), one.sizes());
  EXPECT_TRUE(at::allclose(two, one, /*rtol=*/1e-5, /*atol=*/1e-5));
  EXPECT_TRUE(
      at::allclose(two, at::linear(x, linear.weight, linear.bias), 1e-5, 1e-5));
}

// The small-rows kernel splits output columns: each output is one thread's
// dot product in a fixed order, so any thread count gives the same bits.
TEST_F(CpuThreadsTest, SmallRowsKernelIsBitIdenticalOnAnyThreadCount) {
  const at::Tensor x = at::randn({16, 768});
  const at::Tensor w = at::randn({3072, 768});
  if (!SmallRowsLinearApplies(x, w, at::Tensor())) {
    GTEST_SKIP() << "no AVX-512F on this CPU";
  }
  UseCpuThreads(1);
  const at::Tensor one = SmallRowsLinear(x, w, at::Tensor());
  UseCpuThreads(2);
  const at::Tensor two = SmallRowsLinear(x, w, at::Tensor());
  EXPECT_TRUE(at::equal(one, two));
}

}  // namespace
}  // namespace fnprobe
