#include "tests/analysis/glm_fixture.h"

#include <cstdlib>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "tests/support/reference_data.h"

namespace fnprobe::analysis::testing {

using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::ReferencePath;

const std::vector<std::string>& GlmConfigs() {
  static const auto* configs = new std::vector<std::string>{
      "boxcar_cosine128", "spm_cosine128", "glover_poly3"};
  return *configs;
}

arma::mat ReadCsvMatrix(const std::string& path) {
  const std::string text = ReadFileOrDie(path);
  std::vector<std::vector<double>> rows;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::vector<double> row;
    for (absl::string_view field : absl::StrSplit(line, ',')) {
      double v = 0;
      if (!absl::SimpleAtod(field, &v)) {
        std::cerr << path << ": bad number \"" << field << "\"\n";
        std::abort();
      }
      row.push_back(v);
    }
    rows.push_back(std::move(row));
  }
  arma::mat m(rows.size(), rows.empty() ? 0 : rows[0].size());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) m(i, j) = rows[i][j];
  }
  return m;
}

arma::mat LoadY() { return ReadCsvMatrix(ReferencePath("glm/Y.csv")); }

std::vector<Event> LoadEvents() {
  auto events = ParseEventsTsv(ReadFileOrDie(ReferencePath("glm/events.tsv")));
  if (!events.ok()) {
    std::cerr << events.status() << "\n";
    std::abort();
  }
  return *events;
}

arma::mat LoadX(const std::string& config) {
  return ReadCsvMatrix(ReferencePath("glm/" + config + "/X.csv"));
}

nlohmann::json LoadExpected(const std::string& config) {
  return nlohmann::json::parse(
      ReadFileOrDie(ReferencePath("glm/" + config + "/expected.json")));
}

DesignOptions OptionsFor(const nlohmann::json& expected, int num_frames) {
  DesignOptions options;
  options.num_frames = num_frames;
  options.tr = 1.0;
  options.hrf = *ParseHrfModel(expected["hrf_model_nipy"].get<std::string>());
  const std::string drift = expected["drift_model"].get<std::string>();
  options.drift = drift == "cosine"       ? DriftModel::kCosine
                  : drift == "polynomial" ? DriftModel::kPolynomial
                                          : DriftModel::kNone;
  options.cosine_cutoff_s = expected["hfcut_s"].get<double>();
  options.polynomial_order = expected["drift_order"].get<int>();
  return options;
}

arma::vec JsonVec(const nlohmann::json& j) {
  return arma::vec(j.get<std::vector<double>>());
}

arma::mat JsonMat(const nlohmann::json& j) {
  arma::mat m(j.size(), j.empty() ? 0 : j[0].size());
  for (size_t i = 0; i < j.size(); ++i) {
    for (size_t k = 0; k < j[i].size(); ++k) m(i, k) = j[i][k].get<double>();
  }
  return m;
}

double MaxRelativeDiff(const arma::mat& a, const arma::mat& b) {
  double worst = 0;
  for (arma::uword i = 0; i < a.n_elem; ++i) {
    const double diff = std::fabs(a[i] - b[i]);
    worst = std::max(worst, b[i] == 0 ? diff : diff / std::fabs(b[i]));
  }
  return worst;
}

}  // namespace fnprobe::analysis::testing
