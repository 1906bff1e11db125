// SmallRowsLinear against a long-double reference product (planted truth),
// its row independence (a row alone gives the same bits as inside a batch),
// and the cases it must refuse (the callers then keep at::linear).
#include "server/inference/model/small_rows_linear.h"

#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace fnprobe {
namespace {

// x W^T + b in long double from the tensors' own float values.
std::vector<long double> Reference(const at::Tensor& x, const at::Tensor& w,
                                   const at::Tensor& b) {
  const int64_t rows = x.size(0), in = x.size(1), out = w.size(0);
  auto xa = x.accessor<float, 2>();
  auto wa = w.accessor<float, 2>();
  std::vector<long double> y(static_cast<size_t>(rows * out));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      long double sum = b.defined() ? b.data_ptr<float>()[o] : 0.0L;
      for (int64_t k = 0; k < in; ++k) {
        sum += static_cast<long double>(xa[r][k]) * wa[o][k];
      }
      y[r * out + o] = sum;
    }
  }
  return y;
}

bool Supported() {
  at::Tensor x = at::ones({1, 16}), w = at::ones({8, 16});
  return SmallRowsLinearApplies(x, w, at::Tensor());
}

TEST(SmallRowsLinearTest, MatchesTheExactProductForEveryTileShape) {
  if (!Supported()) GTEST_SKIP() << "no AVX-512F on this CPU";
  at::manual_seed(7);
  // in: whole 16s and a masked tail; out: whole tiles of 8/4 and leftovers;
  // rows: 1 (its own tile) and every 4-row remainder.
  for (int64_t in : {16, 37, 768}) {
    for (int64_t out : {8, 13, 67}) {
      for (int64_t rows : {1, 2, 3, 4, 7, 16, 32, 45, 64}) {
        for (bool with_bias : {false, true}) {
          at::Tensor x = at::randn({rows, in});
          at::Tensor w = at::randn({out, in});
          at::Tensor b = with_bias ? at::randn({out}) : at::Tensor();
          ASSERT_TRUE(SmallRowsLinearApplies(x, w, b));
          at::Tensor y = SmallRowsLinear(x, w, b);
          ASSERT_EQ(y.sizes(), (at::IntArrayRef{rows, out}));
          const std::vector<long double> want = Reference(x, w, b);
          const float* got = y.data_ptr<float>();
          double worst = 0;
          for (size_t i = 0; i < want.size(); ++i) {
            worst = std::max<double>(worst, std::fabs(got[i] - want[i]));
          }
          // float32 accumulation over `in` terms of size ~1.
          EXPECT_LE(worst, 2e-6 * in) << in << "x" << out << " rows " << rows;
        }
      }
    }
  }
}

TEST(SmallRowsLinearTest, NullInputGivesTheBias) {
  if (!Supported()) GTEST_SKIP() << "no AVX-512F on this CPU";
  at::Tensor w = at::randn({24, 40});
  at::Tensor b = at::randn({24});
  at::Tensor y = SmallRowsLinear(at::zeros({3, 40}), w, b);
  for (int64_t r = 0; r < 3; ++r) EXPECT_TRUE(at::equal(y[r], b)) << r;
}

TEST(SmallRowsLinearTest, RowAloneEqualsRowInBatchBitForBit) {
  if (!Supported()) GTEST_SKIP() << "no AVX-512F on this CPU";
  at::manual_seed(11);
  at::Tensor x = at::randn({53, 300});  // two row passes
  at::Tensor w = at::randn({131, 300});
  at::Tensor b = at::randn({131});
  at::Tensor all = SmallRowsLinear(x, w, b);
  for (int64_t r = 0; r < x.size(0); ++r) {
    at::Tensor alone = SmallRowsLinear(x.narrow(0, r, 1), w, b);
    EXPECT_TRUE(at::equal(alone[0], all[r])) << "row " << r;
  }
}

TEST(SmallRowsLinearTest, NonContiguousInputIsReadCorrectly) {
  if (!Supported()) GTEST_SKIP() << "no AVX-512F on this CPU";
  at::Tensor wide = at::randn({4, 96});
  at::Tensor x = wide.narrow(1, 32, 48);  // rows strided by 96
  at::Tensor w = at::randn({10, 48});
  EXPECT_TRUE(at::allclose(SmallRowsLinear(x, w, at::Tensor()),
                           at::linear(x, w), 1e-5, 1e-5));
}

TEST(SmallRowsLinearTest, RefusesWhatItDoesNotHandle) {
  at::Tensor w = at::randn({8, 16});
  EXPECT_FALSE(SmallRowsLinearApplies(at::randn({kSmallRowsMax + 1, 16}), w,
                                      at::Tensor()));
  EXPECT_FALSE(SmallRowsLinearApplies(at::randn({0, 16}), w, at::Tensor()));
  EXPECT_FALSE(SmallRowsLinearApplies(at::randn({2, 8}), w, at::Tensor()));
  EXPECT_FALSE(SmallRowsLinearApplies(at::randn({2, 16}).to(at::kDouble),
                                      w.to(at::kDouble), at::Tensor()));
  EXPECT_FALSE(SmallRowsLinearApplies(at::randn({2, 16}),
                                      at::randn({16, 8}).t(), at::Tensor()));
  EXPECT_FALSE(SmallRowsLinearApplies(at::randn({2, 16}), w, at::randn({7})));
  EXPECT_FALSE(SmallRowsLinearApplies(at::randn({16}), w, at::Tensor()));
}

}  // namespace
}  // namespace fnprobe
