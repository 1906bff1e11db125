// Loads the golden GLM fixture (reference/glm, see reference/README.md):
// Y.csv, events.tsv and each config's X.csv and expected.json, for the
// analysis tests. Aborts (via ReadFileOrDie) when a file is missing.
#ifndef FNPROBE_TESTS_ANALYSIS_GLM_FIXTURE_H_
#define FNPROBE_TESTS_ANALYSIS_GLM_FIXTURE_H_

#include <armadillo>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/analysis/design_matrix.h"

namespace fnprobe::analysis::testing {

// The fixture's configs: boxcar_cosine128, spm_cosine128, glover_poly3.
const std::vector<std::string>& GlmConfigs();

// A comma-separated numeric text file as a matrix (rows x columns).
arma::mat ReadCsvMatrix(const std::string& path);

// reference/glm/Y.csv (T x V).
arma::mat LoadY();
// reference/glm/events.tsv, parsed.
std::vector<Event> LoadEvents();
// reference/glm/<config>/X.csv.
arma::mat LoadX(const std::string& config);
// reference/glm/<config>/expected.json.
nlohmann::json LoadExpected(const std::string& config);

// DesignOptions equivalent to the config's nipy make_dmtx arguments.
DesignOptions OptionsFor(const nlohmann::json& expected, int num_frames);

// A JSON array as a vector, a JSON array of arrays (rows) as a matrix.
arma::vec JsonVec(const nlohmann::json& j);
arma::mat JsonMat(const nlohmann::json& j);

// max_i |a_i - b_i| / |b_i| (entries with b_i == 0 use |a_i - b_i|).
double MaxRelativeDiff(const arma::mat& a, const arma::mat& b);

}  // namespace fnprobe::analysis::testing

#endif  // FNPROBE_TESTS_ANALYSIS_GLM_FIXTURE_H_
