// Exports an experiment's results to a directory, for analysis elsewhere
// (numpy, pandas, R, BIDS tools):
//
//   <condition>.t.{csv,json,npy}   each condition's t-map (GetStatMap); csv
//                                  columns unit,name,t,beta,p; json the
//                                  StatMap proto; npy the t values (float64)
//   run-<index>.t.{csv,json,npy}   each run's t-map, with `runs`
//   networks.{csv,json}            every condition network's units (csv
//                                  for --format npy): network, condition,
//                                  unit, name, beta, t, p, q
//   run-<index>_events.tsv         each run's BIDS events (onset, duration,
//                                  trial_type)
//   layout.json                    the layout the unit indices refer to
//
// A masking experiment has no maps, networks or events of its own; its
// export is its results (GetMaskingResults):
//   masking.csv                    one row per network x operation x
//                                  evaluation set x metric, as `fnprobe
//                                  masking --csv` writes it
//   masking.json                   the GetMaskingResultsResponse (results
//                                  and dissociations), whatever the format
//   masking_dissociation.csv       the double dissociation, when the
//                                  evaluation sets test two conditions
//
// The directory is created if needed; each file is written atomically
// (temporary file, then rename), so a reader never sees half a file.
//
// Not thread-safe.
#ifndef FNPROBE_CLIENT_EXPERIMENT_EXPORTER_H_
#define FNPROBE_CLIENT_EXPERIMENT_EXPORTER_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/experiment_client.h"
#include "fnprobe/v1/experiments.pb.h"

namespace fnprobe::client {

enum class ExportFormat { kCsv, kJson, kNpy };

// "csv", "json", "npy"; nullopt otherwise.
std::optional<ExportFormat> ParseExportFormat(absl::string_view name);

struct ExportOptions {
  int64_t experiment_id = 0;
  ExportFormat format = ExportFormat::kCsv;
  std::string out_dir;
  bool runs = false;  // also each run's t-map
};

class ExperimentExporter {
 public:
  // `client` must outlive the exporter; each written file is reported on
  // `log`.
  ExperimentExporter(ExperimentClient& client, std::ostream& log);

  // Writes the files; returns their paths. The first call's or write's
  // error otherwise (files written before it stay).
  absl::StatusOr<std::vector<std::string>> Export(const ExportOptions& options);

  // A file name made of `name`: characters other than letters, digits, '.',
  // '-' and '_' become '_'.
  static std::string SafeFileName(absl::string_view name);

  // The CSV text of a stat map: header unit,name,t,beta,p and one row per
  // unit. INVALID_ARGUMENT for a map whose layout is malformed.
  static absl::StatusOr<std::string> StatMapCsv(const v1::StatMap& map);

  // The CSV text of networks: header network,condition,unit,name,beta,t,p,q.
  static std::string IcaNetworksCsv(
      const std::vector<v1::GetNetworkResponse>& networks);
  static std::string NetworksCsv(
      const std::vector<v1::GetNetworkResponse>& networks);

 private:
  absl::Status ExportStatMap(const v1::GetStatMapRequest& request,
                             const std::string& stem);
  // The condition networks (networks.csv/json) and, when the experiment
  // has any, its ICA networks (ica_networks.csv/json: group, hook,
  // component, unit, z).
  absl::Status ExportNetworks(int64_t id);
  absl::StatusOr<std::vector<v1::GetNetworkResponse>> FetchNetworks(
      int64_t id, v1::NetworkKind kind, size_t* units);
  absl::Status ExportEvents(const v1::Experiment& experiment);
  absl::Status ExportMasking(int64_t id);
  absl::Status ExportLayout(const v1::Experiment& experiment);
  absl::Status Write(const std::string& name, absl::string_view contents,
                     const std::string& what);

  ExperimentClient& client_;
  std::ostream& log_;
  ExportOptions options_;
  std::vector<std::string> written_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_EXPERIMENT_EXPORTER_H_
