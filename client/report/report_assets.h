// The vendored chart libraries (third_party/vega: vega, vega-lite,
// vega-embed, minified), embedded in the binary at build time so that the
// CLI writes self-contained reports without looking for files at run time.
//
// Thread-safe: views of constant data.
#ifndef FNPROBE_CLIENT_REPORT_REPORT_ASSETS_H_
#define FNPROBE_CLIENT_REPORT_REPORT_ASSETS_H_

#include "absl/strings/string_view.h"

namespace fnprobe::client::report {

absl::string_view VegaJs();
absl::string_view VegaLiteJs();
absl::string_view VegaEmbedJs();
// "vega 5.33.1, vega-lite 5.23.0, vega-embed 6.29.0".
absl::string_view VegaVersions();
// "fnprobe <git describe of the source tree at configure time>".
absl::string_view SoftwareVersion();

}  // namespace fnprobe::client::report

#endif  // FNPROBE_CLIENT_REPORT_REPORT_ASSETS_H_
