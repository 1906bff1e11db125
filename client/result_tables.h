// The tables that both the result commands and the report print: network
// sizes by layer, the overlap matrix, repeatability per condition, and the
// held-out classification (accuracy lines and confusion matrix).
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_CLIENT_RESULT_TABLES_H_
#define FNPROBE_CLIENT_RESULT_TABLES_H_

#include <cstdint>
#include <ostream>

#include "client/table_printer.h"
#include "fnprobe/v1/experiments.pb.h"

namespace fnprobe::client {

// One row per network: label, total units (and share of `layout_width` when
// it is positive), then the units in each layer group (embed, L0, L1, ...,
// final_norm) in layout order.
TablePrinter NetworkSizeTable(const v1::ListNetworksResponse& networks,
                              int64_t layout_width);

// The n x n Dice (or Jaccard) matrix, labelled with the networks' labels,
// with each network's size in the first column.
TablePrinter OverlapTable(const v1::CompareNetworksResponse& compare,
                          bool jaccard);

// "most overlap: A / B (Dice 0.62, 80 shared units)", or "" with fewer than
// two networks.
std::string MostOverlapLine(const v1::CompareNetworksResponse& compare);

// condition, pairs, mean / min / max Dice between repeats.
TablePrinter RepeatabilityTable(const v1::GetRepeatabilityResponse& r);

// Writes the accuracy lines: by mean t (with correct/total), by
// correlation, and chance; each line starts with `indent`.
void PrintAccuracy(const v1::GetClassificationResponse& c,
                   const std::string& indent, std::ostream& out);

// Rows: true condition; columns: predicted condition; cells: counts.
TablePrinter ConfusionTable(const v1::GetClassificationResponse& c);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_RESULT_TABLES_H_
