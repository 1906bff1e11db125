// `fnprobe masking ID`: a masking experiment's results (GetMaskingResults),
// one row per network x operation x evaluation set x metric: unmasked,
// masked, change, the random controls' mean, sd and range, the network's
// percentile among the controls and the permutation p-value. --json prints
// {"results": [...]} in the proto JSON mapping; --csv FILE also writes the
// rows, every control's value included, as CSV. Where the evaluation sets
// test two conditions or more, a second table gives the double
// dissociation (GetMaskingResultsResponse.dissociations; in --json as
// "dissociations"), and --csv FILE writes it beside FILE as
// FILE-without-extension_dissociation.csv. Whether the controls were drawn
// variance-matched (the spec's matchVariance, read back from the stored
// experiment) heads the table ("controls: 10 random, variance-matched") and
// is the --json object's "matchedVariance".
//
// Not thread-safe.
#ifndef FNPROBE_CLIENT_MASKING_COMMANDS_H_
#define FNPROBE_CLIENT_MASKING_COMMANDS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/command_output.h"
#include "client/experiment_client.h"

namespace fnprobe::client {

struct MaskingOptions {
  int64_t experiment_id = 0;
  std::string csv_path;  // empty: no CSV
};

// The results as CSV text: a header, then one line per result.
std::string MaskingResultsCsv(const v1::GetMaskingResultsResponse& results);

// The line above the table: "controls: N random" (N from the results,
// else the spec), ", variance-matched" when the spec asked for it.
std::string MaskingControlsLine(const v1::ExperimentSpec& spec,
                                const v1::GetMaskingResultsResponse& results);

// What --json prints: the results in the proto JSON mapping, and a
// top-level "matchedVariance" (the spec's match_variance).
absl::StatusOr<std::string> MaskingResultsJson(
    const v1::GetMaskingResultsResponse& results, bool matched_variance);

// The dissociations as CSV text: a header, then one line per row.
std::string MaskingDissociationsCsv(
    const v1::GetMaskingResultsResponse& results);

// Where `fnprobe masking --csv FILE` writes the dissociations:
// "out/m.csv" -> "out/m_dissociation.csv".
std::string DissociationCsvPath(const std::string& csv_path);

class MaskingCommands {
 public:
  // `client` must outlive the commands.
  MaskingCommands(ExperimentClient& client, const CommandOutput& output)
      : client_(client), output_(output) {}

  absl::Status Show(const MaskingOptions& options);

 private:
  ExperimentClient& client_;
  const CommandOutput output_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_MASKING_COMMANDS_H_
