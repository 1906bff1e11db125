// `fnprobe demo` end to end, as scripts/demo.sh runs it: the real binaries
// make the planted-response model, serve it, run
// client/examples/planted-demo.json and end with the planted truth beside
// what was found. The demo itself fails (exit 1) unless every condition
// has precision >= 0.95 and recall >= 0.9 and held-out accuracy is >= 0.9;
// this test also reads the printed table and the chance level.
#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::CommandResult;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::RunCommand;
using ::testing::HasSubstr;

TEST(DemoE2eTest, EndsWithThePlantedTruthRecovered) {
  const std::string dir = MakeTempDir("demo_e2e");
  const std::map<std::string, std::string> env = {{"PATH", "/usr/bin:/bin"},
                                                  {"HOME", dir}};
  const CommandResult r = RunCommand(
      FNPROBE_CLI_BINARY, {"demo", "--work-dir", dir + "/work"}, env, dir);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("planted truth beside what was found"));
  EXPECT_THAT(r.out, HasSubstr("(chance 33.3%"));
  EXPECT_THAT(r.out, HasSubstr("null: on a random model"));
  EXPECT_THAT(r.out, HasSubstr("recovered: every condition"));
  // The table's rows: condition planted found true precision recall.
  int rows = 0;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    std::vector<absl::string_view> cells =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (cells.size() != 6) continue;
    if (cells[0] != "alpha" && cells[0] != "beta" && cells[0] != "gamma") {
      continue;
    }
    double precision = 0, recall = 0;
    ASSERT_TRUE(absl::SimpleAtod(cells[4], &precision)) << line;
    ASSERT_TRUE(absl::SimpleAtod(cells[5], &recall)) << line;
    EXPECT_GE(precision, 0.95) << line;
    EXPECT_GE(recall, 0.9) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 3) << r.out;
}

}  // namespace
}  // namespace fnprobe
