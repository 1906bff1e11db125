// Synthetic report data (client/report/report_data.h) of any experiment
// shape, for the report's unit tests, its browser test and its size and
// speed check: the paper's shape is 6 conditions x 3 repeats of
// baseline/task/baseline with 10 prompts per block of 24 tokens, captured
// at the "standard" hooks of a galactica-125m-shaped model (12 layers of
// attn_out 768, mlp_post 3072, mlp_out 768, resid_post 768: 64,512 units).
//
// Thread-safe: pure function (a fixed seed per call).
#ifndef FNPROBE_TESTS_CLIENT_REPORT_FIXTURE_H_
#define FNPROBE_TESTS_CLIENT_REPORT_FIXTURE_H_

#include "client/report/report_data.h"

namespace fnprobe::testing {

struct ReportShape {
  int conditions = 6;
  int repeats = 3;
  int prompts_per_block = 10;
  int tokens_per_prompt = 24;
  int layers = 12;
  int hidden = 768;
  int mlp = 3072;
  // Also time courses, generated text, ICA and masking results (which the
  // worker does not serve yet), so that every chart kind is drawn.
  bool everything = false;
};

client::report::ReportData MakeReportData(const ReportShape& shape);

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_CLIENT_REPORT_FIXTURE_H_
