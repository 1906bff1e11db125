// The HTML report in a real browser (issue 16): headless Chromium opens the
// report from a file with every network request blocked, waits for the
// charts, and the test reads the DOM it dumps: every section is there, each
// with as many rendered charts (vega's <svg class="marks">, non-empty) as
// it announces, the page recorded no console error, exception or blocked
// request, and a 1280x800 screenshot is kept under
// <build>/test-artifacts/. Two pages: `fnprobe demo`'s own report.html (the
// real pipeline: servers, RPCs, fetch) and a synthetic report that has every
// chart kind (ICA, masking, time courses), which the demo cannot have yet.
//
// Skips, saying why, when Chromium is not installed (scripts/install-deps.sh
// installs it for the tests).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/report/html_report.h"
#include "client/report/report_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/report_fixture.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"

namespace fnprobe {
namespace {

namespace fs = std::filesystem;
using ::fnprobe::testing::CommandResult;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::ReadAll;
using ::fnprobe::testing::RunCommand;
using ::testing::HasSubstr;

std::string Chromium() {
  for (const char* path : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return client::report::FindOnPath("chromium");
}

std::map<std::string, std::string> BrowserEnv(const std::string& home) {
  const char* path = std::getenv("PATH");
  return {{"HOME", home},
          {"PATH", path ? path : "/usr/bin:/bin"},
          {"LANG", "C.UTF-8"}};
}

// Flags for a quiet, offline headless Chromium with a fresh profile: name
// resolution fails for every host and every proxied request goes to a port
// where nothing listens, so only file: and data: URLs can load.
std::vector<std::string> BrowserFlags(const std::string& profile) {
  return {"--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--disable-extensions",
          "--host-resolver-rules=MAP * ~NOTFOUND",
          "--proxy-server=http://127.0.0.1:9",
          "--proxy-bypass-list=<-loopback>",
          "--user-data-dir=" + profile,
          "--virtual-time-budget=60000"};
}

struct RenderedSection {
  int expected = -1;  // data-expected-charts
  int figures = 0;    // <figure class="chart">
  int rendered = 0;   // non-empty vega <svg class="marks">
};

// The sections of a dumped DOM by id, with their chart counts.
std::map<std::string, RenderedSection> Sections(const std::string& dom) {
  std::map<std::string, RenderedSection> sections;
  const std::regex open(
      R"re(<section id="([a-z0-9-]+)" data-expected-charts="(\d+)">)re");
  const std::regex svg(R"re(<svg[^>]*class="marks"[^>]*>)re");
  const std::regex size(
      R"re(width="(\d+(?:\.\d+)?)"[^>]*height="(\d+(?:\.\d+)?)")re");
  for (auto it = std::sregex_iterator(dom.begin(), dom.end(), open);
       it != std::sregex_iterator(); ++it) {
    RenderedSection s;
    s.expected = std::stoi((*it)[2]);
    const size_t begin = static_cast<size_t>(it->position());
    const size_t end = dom.find("</section>", begin);
    const std::string body = dom.substr(begin, end - begin);
    for (size_t at = 0;
         (at = body.find("<figure class=\"chart\"", at)) != std::string::npos;
         ++at) {
      ++s.figures;
    }
    for (auto m = std::sregex_iterator(body.begin(), body.end(), svg);
         m != std::sregex_iterator(); ++m) {
      std::smatch wh;
      const std::string tag = m->str();
      const size_t close =
          body.find("</svg>", static_cast<size_t>(m->position()));
      const std::string content =
          body.substr(static_cast<size_t>(m->position()),
                      close - static_cast<size_t>(m->position()));
      double w = 0, h = 0;
      if (std::regex_search(tag, wh, size) &&
          absl::SimpleAtod(wh[1].str(), &w) &&
          absl::SimpleAtod(wh[2].str(), &h) && w > 0 && h > 0 &&
          content.find("role-mark") != std::string::npos) {
        ++s.rendered;
      }
    }
    sections[(*it)[1]] = s;
  }
  return sections;
}

class ReportBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = Chromium();
    if (chromium_.empty()) {
      GTEST_SKIP() << "Chromium is not installed (Debian package chromium; "
                      "scripts/install-deps.sh installs it): the HTML "
                      "report is not checked in a browser";
    }
    dir_ = MakeTempDir("report-browser");
  }

  // Dumps the DOM of `html` after its scripts ran.
  std::string DumpDom(const std::string& html) {
    const std::string home = MakeTempDir("report-browser-home");
    std::vector<std::string> args = BrowserFlags(home + "/profile");
    args.push_back("--dump-dom");
    args.push_back("file://" + fs::absolute(html).string());
    CommandResult r = RunCommand(chromium_, args, BrowserEnv(home), home);
    EXPECT_EQ(r.exit_code, 0) << r;
    return r.out;
  }

  // Keeps a 1280x800 screenshot of `html` as <build>/test-artifacts/<name>.
  void Screenshot(const std::string& html, const std::string& name) {
    const std::string artifacts = FNPROBE_TEST_ARTIFACTS_DIR;
    fs::create_directories(artifacts);
    const std::string png = artifacts + "/" + name;
    fs::remove(png);
    const std::string home = MakeTempDir("report-browser-home");
    std::vector<std::string> args = BrowserFlags(home + "/profile");
    args.push_back("--hide-scrollbars");
    args.push_back("--window-size=1280,800");
    args.push_back("--screenshot=" + png);
    args.push_back("file://" + fs::absolute(html).string());
    CommandResult r = RunCommand(chromium_, args, BrowserEnv(home), home);
    EXPECT_EQ(r.exit_code, 0) << r;
    const std::string bytes = ReadAll(png);
    ASSERT_GT(bytes.size(), 24u) << "no screenshot at " << png;
    ASSERT_EQ(bytes.substr(1, 3), "PNG");
    auto be32 = [&](size_t at) {
      return (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at]))
              << 24) |
             (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 1]))
              << 16) |
             (static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 2]))
              << 8) |
             static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 3]));
    };
    EXPECT_EQ(be32(16), 1280u);
    EXPECT_EQ(be32(20), 800u);
    std::printf("screenshot: %s\n", png.c_str());
  }

  // The page names nothing outside itself.
  static void ExpectNoExternalReferences(const std::string& html) {
    const std::regex external(
        R"re((<(script|img|link|iframe)[^>]*\s(src|href)\s*=\s*["']?(https?:|//))|(url\(\s*["']?(https?:|//))|@import)re",
        std::regex::icase);
    EXPECT_FALSE(std::regex_search(html, external));
    EXPECT_THAT(html, HasSubstr("default-src 'none'"));
  }

  // Asserts the dumped DOM of a report: rendered, no errors, and every
  // section of `ids` with all its charts drawn. Returns the charts drawn.
  int ExpectRendered(const std::string& dom,
                     const std::vector<std::string>& ids) {
    EXPECT_THAT(dom, HasSubstr("data-report-state=\"rendered\""))
        << "charts did not finish rendering";
    EXPECT_THAT(dom, HasSubstr("<pre id=\"report-errors\"></pre>"))
        << "the page recorded errors";
    const std::map<std::string, RenderedSection> sections = Sections(dom);
    int total = 0;
    for (const std::string& id : ids) {
      auto it = sections.find(id);
      if (it == sections.end()) {
        ADD_FAILURE() << "no section " << id;
        continue;
      }
      EXPECT_EQ(it->second.figures, it->second.expected) << id;
      EXPECT_EQ(it->second.rendered, it->second.expected) << id;
      total += it->second.rendered;
    }
    return total;
  }

  std::string chromium_;
  std::string dir_;
};

TEST_F(ReportBrowserTest, SyntheticReportDrawsEveryChartKind) {
  testing::ReportShape shape;
  shape.conditions = 3;
  shape.repeats = 2;
  shape.prompts_per_block = 3;
  shape.tokens_per_prompt = 4;
  shape.layers = 4;
  shape.hidden = 64;
  shape.mlp = 256;
  shape.everything = true;
  const client::report::ReportData data = testing::MakeReportData(shape);
  const std::string html = dir_ + "/synthetic.html";
  absl::StatusOr<int> charts = client::report::WriteHtmlReport(data, html);
  ASSERT_TRUE(charts.ok()) << charts.status();
  ExpectNoExternalReferences(ReadAll(html));
  std::vector<std::string> ids = client::report::FixedSectionIds();
  ids.insert(ids.end(),
             {"network-topic-0", "network-topic-1", "network-topic-2"});
  const std::string dom = DumpDom(html);
  EXPECT_EQ(ExpectRendered(dom, ids), *charts);
  EXPECT_EQ(*charts, 1 + 2 + 3 * 3 + 1 + 1 + 2 + 3 * 2 + 1 + 1);
  Screenshot(html, "report-synthetic-1280x800.png");
}

TEST_F(ReportBrowserTest, DemoReportRendersOffline) {
  const std::string work = dir_ + "/demo";
  CommandResult demo = RunCommand(
      FNPROBE_CLI_BINARY, {"demo", "--work-dir", work}, BrowserEnv(dir_), dir_);
  ASSERT_EQ(demo.exit_code, 0) << demo;
  const std::string html = work + "/report.html";
  EXPECT_THAT(demo.out, HasSubstr(html));
  ASSERT_TRUE(fs::exists(html));
  ExpectNoExternalReferences(ReadAll(html));
  const std::string dom = DumpDom(html);
  std::vector<std::string> ids = client::report::FixedSectionIds();
  // One network section per condition of the demo spec, or "networks"
  // saying there are none.
  for (const auto& [id, s] : Sections(dom)) {
    if (id.rfind("network", 0) == 0) ids.push_back(id);
  }
  EXPECT_GT(ids.size(), client::report::FixedSectionIds().size());
  const int drawn = ExpectRendered(dom, ids);
  // experiment 1, design 2, overlap 1, repeatability 1, classification 2 at
  // least, whatever the random demo model's networks are.
  EXPECT_GE(drawn, 7);
  std::printf("demo report: %d charts drawn\n", drawn);
  Screenshot(html, "report-demo-1280x800.png");
}

}  // namespace
}  // namespace fnprobe
