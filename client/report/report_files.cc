#include "client/report/report_files.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/atomic_file.h"
#include "client/child_process.h"
#include "client/report/html_report.h"
#include "client/report/report_assets.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

namespace fnprobe::client::report {
namespace {

namespace fs = std::filesystem;

// Renders <dir>/<id>.vl.json to <dir>/<id>.svg for every id listed in the
// file argv[3]; vega and vega-lite come from node_modules beside it.
constexpr char kRenderScript[] = R"js(
'use strict';
const fs = require('fs');
const path = require('path');
const vega = require('vega');
const vl = require('vega-lite');
const dir = process.argv[2];
const ids = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
(async () => {
  for (const id of ids) {
    const spec = JSON.parse(
        fs.readFileSync(path.join(dir, id + '.vl.json'), 'utf8'));
    const view = new vega.View(vega.parse(vl.compile(spec).spec),
                               {renderer: 'none'});
    fs.writeFileSync(path.join(dir, id + '.svg'), await view.toSVG());
    view.finalize();
  }
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
)js";

// A directory removed when it goes out of scope.
class TempDir {
 public:
  static absl::StatusOr<TempDir> Make() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern =
        (fs::path(base && *base ? base : "/tmp") / "fnprobe-plots-XXXXXX")
            .string();
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(
          absl::StrCat("cannot create a temporary directory ", pattern));
    }
    return TempDir(pattern);
  }
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

absl::Status RenderSvgs(const std::string& dir,
                        const std::vector<std::string>& ids) {
  const std::string node = FindOnPath("node");
  if (node.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the charts' Vega-Lite JSON is in ", dir,
        ", but their SVGs need node (Node.js) on PATH, which has none; "
        "install nodejs, or open the JSON in the Vega editor"));
  }
  FNPROBE_ASSIGN_OR_RETURN(TempDir tmp, TempDir::Make());
  const fs::path root(tmp.path());
  FNPROBE_RETURN_IF_ERROR(
      CreateDirectories((root / "node_modules" / "vega").string()));
  FNPROBE_RETURN_IF_ERROR(
      CreateDirectories((root / "node_modules" / "vega-lite").string()));
  FNPROBE_RETURN_IF_ERROR(WriteFileAtomically(
      (root / "node_modules" / "vega" / "index.js").string(), VegaJs()));
  FNPROBE_RETURN_IF_ERROR(WriteFileAtomically(
      (root / "node_modules" / "vega-lite" / "index.js").string(),
      VegaLiteJs()));
  FNPROBE_RETURN_IF_ERROR(
      WriteFileAtomically((root / "render.js").string(), kRenderScript));
  FNPROBE_RETURN_IF_ERROR(WriteFileAtomically((root / "ids.json").string(),
                                              nlohmann::json(ids).dump()));
  const std::string log = (root / "render.log").string();
  FNPROBE_ASSIGN_OR_RETURN(auto child,
                           ChildProcess::Spawn(node,
                                               {(root / "render.js").string(),
                                                fs::absolute(dir).string(),
                                                (root / "ids.json").string()},
                                               log));
  const std::optional<int> code = child->Wait(absl::Minutes(5));
  if (code == 0) return absl::OkStatus();
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return absl::InternalError(absl::StrCat(
      "node failed to render the SVGs (",
      code ? absl::StrCat("exit ", *code) : std::string("timed out"),
      "): ", text.str()));
}

}  // namespace

std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    const std::string candidate = (fs::path(std::string(dir)) / name).string();
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

absl::StatusOr<int> WriteHtmlReport(const ReportData& data,
                                    const std::string& path) {
  const std::vector<ReportSection> sections = BuildSections(data);
  const fs::path parent = fs::absolute(path).parent_path();
  FNPROBE_RETURN_IF_ERROR(CreateDirectories(parent.string()));
  FNPROBE_RETURN_IF_ERROR(
      WriteFileAtomically(path, RenderHtml(data, sections)));
  return static_cast<int>(AllCharts(sections).size());
}

absl::StatusOr<std::vector<std::string>> WritePlots(const ReportData& data,
                                                    const std::string& dir) {
  FNPROBE_RETURN_IF_ERROR(CreateDirectories(dir));
  const std::vector<ReportSection> sections = BuildSections(data);
  std::vector<std::string> files;
  std::vector<std::string> ids;
  for (const Chart* c : AllCharts(sections)) {
    nlohmann::json spec = c->spec;
    spec["$schema"] = "https://vega.github.io/schema/vega-lite/v5.json";
    spec["usermeta"] = {{"caption", c->caption}};
    const std::string path = (fs::path(dir) / (c->id + ".vl.json")).string();
    FNPROBE_RETURN_IF_ERROR(WriteFileAtomically(path, spec.dump(1) + "\n"));
    files.push_back(path);
    ids.push_back(c->id);
  }
  FNPROBE_RETURN_IF_ERROR(RenderSvgs(dir, ids));
  for (const std::string& id : ids) {
    files.push_back((fs::path(dir) / (id + ".svg")).string());
  }
  return files;
}

absl::Status OpenInBrowser(const std::string& path) {
  std::string opener = FindOnPath("xdg-open");
  if (opener.empty()) opener = FindOnPath("open");
  if (opener.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("wrote ", path,
                     " but found no xdg-open or open to show it; open it "
                     "in a browser"));
  }
  FNPROBE_ASSIGN_OR_RETURN(
      auto child,
      ChildProcess::Spawn(opener, {fs::absolute(path).string()}, "/dev/null"));
  // xdg-open hands the file to the browser and returns; do not wait on the
  // browser itself.
  child->Wait(absl::Seconds(10));
  return absl::OkStatus();
}

}  // namespace fnprobe::client::report
