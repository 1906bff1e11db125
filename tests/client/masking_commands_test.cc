// `fnprobe masking`'s CSV files (client/masking_commands.h): the results'
// and the dissociation's columns and values, and where --csv FILE puts the
// dissociation beside FILE; the controls line and --json's
// "matchedVariance".
#include "client/masking_commands.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace fnprobe::client {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(MaskingCommandsTest, ResultsCsvCarriesEveryControlAndTheCondition) {
  v1::GetMaskingResultsResponse r;
  v1::MaskingResult* m = r.add_results();
  m->set_network("alpha");
  m->set_operation("ZERO");
  m->set_evaluation("alpha-1");
  m->set_condition("alpha");
  m->set_metric("nll");
  m->set_unmasked(2);
  m->set_masked(5.5);
  m->set_change(3.5);
  m->add_controls(2.25);
  m->add_controls(2.5);
  m->set_percentile(1);
  m->set_p(1.0 / 3);
  m->set_network_units(12);
  const std::vector<std::string> lines = Lines(MaskingResultsCsv(r));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "network,operation,evaluation,metric,unmasked,masked,change,"
            "control_mean,control_sd,control_min,control_max,percentile,p,"
            "network_units,controls,condition");
  EXPECT_EQ(lines[1],
            "alpha,ZERO,alpha-1,nll,2,5.5,3.5,0,0,0,0,1,0.333333,12,"
            "\"2.25;2.5\",alpha");
}

TEST(MaskingCommandsTest, DissociationCsv) {
  v1::GetMaskingResultsResponse r;
  EXPECT_EQ(Lines(MaskingDissociationsCsv(r)).size(), 1u);  // header only
  v1::MaskingDissociation* d = r.add_dissociations();
  d->set_network("beta");
  d->set_operation("KEEP_ONLY");
  d->set_metric("top1");
  d->set_condition("beta");
  d->set_other("alpha");
  d->set_change(-0.25);
  d->set_other_change(-0.5);
  d->set_control_change(-0.125);
  d->set_other_control_change(-0.0625);
  d->set_contrast(-0.25);
  d->add_control_contrasts(0.5);
  d->add_control_contrasts(-1);
  d->set_percentile(0.5);
  d->set_p(2.0 / 3);
  const std::vector<std::string> lines = Lines(MaskingDissociationsCsv(r));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "network,operation,metric,condition,other,change,other_change,"
            "control_change,other_control_change,contrast,percentile,p,"
            "control_contrasts");
  EXPECT_EQ(lines[1],
            "beta,KEEP_ONLY,top1,beta,alpha,-0.25,-0.5,-0.125,-0.0625,-0.25,"
            "0.5,0.666667,\"0.5;-1\"");
}

// Whether the controls were variance-matched comes from the stored spec;
// their number from the results (what ran), else the spec.
TEST(MaskingCommandsTest, ControlsLineSaysWhetherMatched) {
  v1::ExperimentSpec spec;
  spec.mutable_masking()->set_controls(10);
  v1::GetMaskingResultsResponse r;
  EXPECT_EQ(MaskingControlsLine(spec, r), "controls: 10 random");
  spec.mutable_masking()->set_match_variance(true);
  EXPECT_EQ(MaskingControlsLine(spec, r),
            "controls: 10 random, variance-matched");
  v1::MaskingResult* m = r.add_results();
  for (int k = 0; k < 12; ++k) m->add_controls(k);
  EXPECT_EQ(MaskingControlsLine(spec, r),
            "controls: 12 random, variance-matched");
}

TEST(MaskingCommandsTest, JsonCarriesMatchedVarianceAtTheTop) {
  v1::GetMaskingResultsResponse r;
  r.add_results()->set_network("alpha");
  r.set_complete(true);
  for (bool matched : {true, false}) {
    absl::StatusOr<std::string> json = MaskingResultsJson(r, matched);
    ASSERT_TRUE(json.ok()) << json.status();
    const std::string key =
        absl::StrCat("\"matchedVariance\": ", matched ? "true" : "false");
    EXPECT_EQ(json->find("{\n  " + key + ",\n"), 0u) << *json;
    EXPECT_NE(json->find("\"network\": \"alpha\""), std::string::npos) << *json;
    EXPECT_NE(json->find("\"complete\": true"), std::string::npos) << *json;
  }
}

TEST(MaskingCommandsTest, DissociationCsvPathSitsBesideTheResults) {
  EXPECT_EQ(DissociationCsvPath("out/m.csv"), "out/m_dissociation.csv");
  EXPECT_EQ(DissociationCsvPath("m"), "m_dissociation.csv");
  EXPECT_EQ(DissociationCsvPath("a.b/m"), "a.b/m_dissociation.csv");
}

}  // namespace
}  // namespace fnprobe::client
