// The engine's CPU threading (cpu_threads.h): libtorch's pool gets the
// threads and the BLAS one thread inside it; and the products that now run
// on several threads (the small-rows kernel's columns, a prefill's row
// blocks) give what one thread gives.
#include "server/inference/model/cpu_threads.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

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

// Every index runs exactly once, in chunks of whole grains (but the last),
// and the chunk boundaries are the same on every call: they depend on the
// range, grain and thread count, not on which thread claims a chunk.
TEST_F(CpuThreadsTest, ParallelForRunsEachIndexOnceInWholeGrains) {
  UseCpuThreads(2);
  auto chunks_of = [](int64_t begin, int64_t end, int64_t grain) {
    std::mutex mu;
    std::vector<std::pair<int64_t, int64_t>> chunks;
    std::vector<int> runs(end, 0);
    ParallelFor(begin, end, grain, [&](int64_t first, int64_t last) {
      std::lock_guard<std::mutex> lock(mu);
      chunks.emplace_back(first, last);
      for (int64_t i = first; i < last; ++i) ++runs[i];
    });
    for (int64_t i = 0; i < end; ++i) EXPECT_EQ(runs[i], i >= begin ? 1 : 0);
    std::sort(chunks.begin(), chunks.end());
    return chunks;
  };
  const auto chunks = chunks_of(5, 1005, 8);
  // 2 threads x kChunksPerThread chunks of whole grains: 125 grains in 8
  // chunks of 16 grains (128), the last the remainder.
  ASSERT_EQ(chunks.size(), 8u);
  for (size_t c = 0; c < chunks.size(); ++c) {
    EXPECT_EQ(chunks[c].first, 5 + 128 * static_cast<int64_t>(c));
    EXPECT_EQ(chunks[c].second, std::min<int64_t>(1005, chunks[c].first + 128));
  }
  for (int call = 0; call < 20; ++call) {
    EXPECT_EQ(chunks_of(5, 1005, 8), chunks);
  }
  // Fewer grains than chunks: one chunk per grain; one grain: one call.
  EXPECT_EQ(chunks_of(0, 24, 8).size(), 3u);
  EXPECT_EQ(chunks_of(0, 7, 8).size(), 1u);
  EXPECT_TRUE(chunks_of(3, 3, 8).empty());
}

// A chunk's exception reaches the caller (after the region, which an
// exception must not leave), and the pool stays usable.
TEST_F(CpuThreadsTest, ParallelForRethrowsTheFirstError) {
  UseCpuThreads(2);
  EXPECT_THROW(ParallelFor(0, 1000, 1,
                           [](int64_t first, int64_t) {
                             if (first >= 500) throw std::runtime_error("x");
                           }),
               std::runtime_error);
  std::atomic<int64_t> sum{0};
  ParallelFor(0, 1000, 1, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) sum += i;
  });
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

// Each chunk runs in the caller's InferenceMode (per thread), and a
// ParallelFor inside a chunk runs on that chunk's thread.
TEST_F(CpuThreadsTest, ParallelForCarriesInferenceModeAndNestsInline) {
  UseCpuThreads(2);
  for (bool mode : {true, false}) {
    c10::InferenceMode guard(mode);
    std::atomic<int> wrong{0};
    std::atomic<int> nested_chunks{0};
    ParallelFor(0, 64, 1, [&](int64_t, int64_t) {
      if (c10::InferenceMode::is_enabled() != mode) ++wrong;
      ParallelFor(0, 64, 1, [&](int64_t first, int64_t last) {
        if (first != 0 || last != 64) ++wrong;
        ++nested_chunks;
      });
    });
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(nested_chunks.load(), 8);  // one inline call per outer chunk
  }
}

}  // namespace
}  // namespace fnprobe
