// Crash-test driver for fnprobe-worker (issue 13): real fnprobe-inference
// and fnprobe-worker processes on loopback, started, killed (SIGKILL) and
// restarted by the test at random moments of small experiments on a tiny
// random model:
//   - the worker killed at 10 moments (8 at random delays over the
//     generation, 2 within 3 ms of the analysis starting) and the inference
//     server at 5, each restarted: every experiment ends done, its exports
//     (condition and run stat maps, every network with its units) and its
//     generated tokens identical to an undisturbed run of the same spec;
//   - 10 cancellations: 4 before any run (queued behind another
//     experiment), 3 mid-run (at a random fraction of the tokens), 3 within
//     1 ms of the analysis starting (cancelled, or refused and done);
//   - the inference server gone for good (--max-attempts 4): failed, never
//     done with a run missing;
//   - two inference servers, the one streaming killed for good: done on the
//     other, identical.
// After each, the worker answers, the experiment's phase is the expected
// terminal one (and stays so across a worker restart), and the database
// (read-only, SQLiteCpp) and the activation store hold nothing twice and
// nothing of a run that is not done.
//
// The moments come from one base seed, printed at the start; set
// FNPROBE_CRASH_SEED to it to draw the same moments again (the processes'
// timing still varies, so a moment is a delay or a progress fraction, not an
// instruction count). Generation is deterministic only for identical
// batches, so every worker streams one run at a time
// (--max-concurrent-runs 1).
#include <SQLiteCpp/SQLiteCpp.h>
#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/auth.h"
#include "common/grpc_status.h"
#include "common/status_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/tools/model_maker.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::CallContext;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::WorkerCluster;
using ::fnprobe::testing::WorkerClusterOptions;
using ::testing::HasSubstr;

constexpr char kAlice[] = "alice-token-0123456789abcdef";

// ---------------------------------------------------------------------------
// Seeds. One base seed for the whole driver; each scenario draws from its
// own generator (the base mixed with the scenario's name), so that running
// one scenario alone (--gtest_filter) draws the moments it draws in a full
// run.

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t BaseSeed() {
  static const uint64_t seed = [] {
    uint64_t s = 0;
    const char* env = std::getenv("FNPROBE_CRASH_SEED");
    if (env != nullptr && *env != '\0') {
      if (!absl::SimpleAtoi(env, &s)) {
        std::cerr << "FNPROBE_CRASH_SEED='" << env
                  << "' is not an unsigned decimal integer\n";
        std::abort();
      }
    } else {
      std::random_device device;
      s = (static_cast<uint64_t>(device()) << 32) ^ device();
    }
    std::cout << "[crash] base seed " << s
              << " (repeat with FNPROBE_CRASH_SEED=" << s << ")" << std::endl;
    return s;
  }();
  return seed;
}

// A scenario's random moments. Draws by modulo, not by std distributions,
// so that a seed means the same moments with any standard library.
class Moments {
 public:
  explicit Moments(const std::string& scenario) : scenario_(scenario) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a of the name
    for (char c : scenario)
      h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
    state_ = SplitMix64(BaseSeed() ^ h);
  }
  uint64_t Next() { return state_ = SplitMix64(state_); }
  // Uniform in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi) {
    return lo +
           static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  void Say(const std::string& line) const {
    std::cout << "[crash] " << scenario_ << ": " << line << std::endl;
  }

 private:
  std::string scenario_;
  uint64_t state_;
};

// ---------------------------------------------------------------------------
// The spec: 2 conditions x 2 repeats = 4 runs of 12 prompts x 48 tokens.
// Enough tokens that a run's progress is reported mid-stream (every 256
// frames) and a run lasts long enough on the tiny model to be hit.

const char* const kWords[] = {"river",  "stone",  "garden", "window",
                              "candle", "market", "forest", "bridge",
                              "letter", "castle", "meadow", "harbor"};

std::vector<std::string> Prompts(int n, int salt) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string p = "Tell me about";
    for (int w = 0; w < 3; ++w) {
      p += " ";
      p += kWords[(i * 5 + w * 3 + salt * 7) % 12];
    }
    out.push_back(absl::StrCat(p, " number ", salt, "-", i, "."));
  }
  return out;
}

v1::ExperimentSpec CrashSpec() {
  v1::ExperimentSpec spec;
  spec.set_name("crash");
  spec.set_model("tiny");
  spec.mutable_generation()->set_tokens_per_prompt(48);
  spec.mutable_generation()->set_temperature(0.8f);
  spec.mutable_generation()->set_seed(13);
  spec.mutable_capture()->add_hooks("standard");
  spec.mutable_baseline()->set_name("rest");
  for (const std::string& p : Prompts(24, 0)) {
    spec.mutable_baseline()->add_prompts(p);
  }
  for (int c = 0; c < 2; ++c) {
    v1::PromptPool* pool = spec.add_conditions();
    pool->set_name(absl::StrCat("topic", c));
    for (const std::string& p : Prompts(8, c + 1)) pool->add_prompts(p);
  }
  v1::BlockDesign* d = spec.mutable_design();
  d->add_pattern("baseline");
  d->add_pattern("task");
  d->add_pattern("baseline");
  d->set_prompts_per_block(4);
  d->set_repeats(2);
  spec.mutable_analysis()->set_classify(true);
  return spec;
}

// ---------------------------------------------------------------------------
// Exports: what a client can read of a finished experiment, keyed without
// ids (which differ between experiments) and serialized, so that equality
// is byte equality.

struct Exports {
  std::map<std::string, std::string> maps;      // "condition/topic0", "run/.."
  std::map<std::string, std::string> networks;  // summary + every unit
};

std::string RunKey(const v1::Run& run) {
  return absl::StrCat(run.condition(), "#", run.repeat());
}

absl::StatusOr<Exports> ReadExports(v1::ExperimentService::Stub* stub,
                                    const v1::Experiment& e) {
  Exports out;
  std::map<int64_t, std::string> run_keys;
  for (const v1::Run& run : e.runs()) run_keys[run.id()] = RunKey(run);
  auto stat_map = [&](const std::string& condition, int64_t run_id,
                      const std::string& key) -> absl::Status {
    v1::GetStatMapRequest request;
    request.set_experiment_id(e.id());
    request.set_condition(condition);
    request.set_run_id(run_id);
    v1::StatMap map;
    grpc::Status s = stub->GetStatMap(CallContext(kAlice).get(), request, &map);
    if (!s.ok()) return ToAbslStatus(s);
    map.clear_run_id();
    if (map.t_size() == 0) return absl::InternalError(key + ": empty map");
    out.maps[key] = map.SerializeAsString();
    return absl::OkStatus();
  };
  for (const v1::PromptPool& c : e.spec().conditions()) {
    FNPROBE_RETURN_IF_ERROR(
        stat_map(c.name(), 0, absl::StrCat("condition/", c.name())));
  }
  for (const v1::Run& run : e.runs()) {
    FNPROBE_RETURN_IF_ERROR(
        stat_map("", run.id(), absl::StrCat("run/", RunKey(run))));
  }
  for (v1::NetworkKind kind :
       {v1::NETWORK_CONDITION, v1::NETWORK_RUN, v1::NETWORK_LEAVE_ONE_OUT}) {
    v1::ListNetworksRequest list;
    list.set_experiment_id(e.id());
    list.set_kind(kind);
    v1::ListNetworksResponse networks;
    grpc::Status s =
        stub->ListNetworks(CallContext(kAlice).get(), list, &networks);
    if (!s.ok()) return ToAbslStatus(s);
    for (v1::NetworkSummary n : networks.networks()) {
      std::string serialized;
      std::string token;
      do {
        v1::GetNetworkRequest get;
        get.set_network_id(n.id());
        get.set_page_size(10000);
        get.set_page_token(token);
        v1::GetNetworkResponse page;
        s = stub->GetNetwork(CallContext(kAlice).get(), get, &page);
        if (!s.ok()) return ToAbslStatus(s);
        for (const v1::NetworkUnit& u : page.units()) {
          serialized += u.SerializeAsString();
        }
        token = page.next_page_token();
      } while (!token.empty());
      const std::string key = absl::StrCat(
          v1::NetworkKind_Name(kind), "/", n.condition(), "/",
          run_keys[n.run_id()], "/", run_keys[n.excluded_run_id()]);
      n.clear_id();
      n.clear_experiment_id();
      n.clear_run_id();
      n.clear_excluded_run_id();
      out.networks[key] = n.SerializeAsString() + serialized;
    }
  }
  return out;
}

// Names what differs (the values themselves are long).
void ExpectSameExports(const Exports& got, const Exports& want) {
  auto keys = [](const std::map<std::string, std::string>& m) {
    std::vector<std::string> k;
    for (const auto& [key, value] : m) k.push_back(key);
    return k;
  };
  ASSERT_EQ(keys(got.maps), keys(want.maps));
  ASSERT_EQ(keys(got.networks), keys(want.networks));
  for (const auto& [key, value] : want.maps) {
    if (got.maps.at(key) == value) continue;
    v1::StatMap a, b;
    a.ParseFromString(got.maps.at(key));
    b.ParseFromString(value);
    int differing = 0;
    for (int i = 0; i < std::min(a.t_size(), b.t_size()); ++i) {
      differing +=
          a.t(i) != b.t(i) || a.beta(i) != b.beta(i) || a.p(i) != b.p(i);
    }
    ADD_FAILURE() << "stat map " << key << " differs from the undisturbed "
                  << "run's: " << differing << " of " << b.t_size()
                  << " units (dof " << a.dof() << " vs " << b.dof() << ")";
  }
  for (const auto& [key, value] : want.networks) {
    EXPECT_TRUE(got.networks.at(key) == value)
        << "network " << key << " differs from the undisturbed run's";
  }
}

// ---------------------------------------------------------------------------
// The database and the activation store of one experiment.

struct RunRow {
  int64_t id = 0;
  std::string key;
  std::string status;
  std::string activation_path;
  int64_t time_points = 0;
  int64_t generations = 0;
  int64_t run_maps = 0;
  int64_t prompt_values = 0;
};

struct DbFacts {
  std::string status;
  std::vector<RunRow> runs;
  // Experiment-level rows: condition maps, networks, network_units,
  // overlaps, classifications, events.
  std::map<std::string, int64_t> counts;
  // "condition#repeat prompt step token" of every generated token.
  std::vector<std::string> generations;
};

absl::StatusOr<DbFacts> ReadDb(const std::string& data_dir, int64_t id) {
  try {
    SQLite::Database db(data_dir + "/fnprobe.db", SQLite::OPEN_READONLY);
    db.setBusyTimeout(10000);
    DbFacts f;
    {
      SQLite::Statement q(db, "SELECT status FROM experiments WHERE id = ?");
      q.bind(1, id);
      if (!q.executeStep()) return absl::NotFoundError("no experiment row");
      f.status = q.getColumn(0).getString();
    }
    SQLite::Statement runs(
        db,
        "SELECT r.id, r.condition || '#' || r.repeat_index, r.status, "
        "  coalesce(r.activation_path, ''), coalesce(r.num_time_points, 0), "
        "  (SELECT count(*) FROM generations g WHERE g.run_id = r.id), "
        "  (SELECT count(*) FROM glm_maps m WHERE m.run_id = r.id), "
        "  (SELECT count(*) FROM prompt_values v WHERE v.run_id = r.id) "
        "FROM runs r WHERE r.experiment_id = ? ORDER BY r.id");
    runs.bind(1, id);
    while (runs.executeStep()) {
      RunRow r;
      r.id = runs.getColumn(0).getInt64();
      r.key = runs.getColumn(1).getString();
      r.status = runs.getColumn(2).getString();
      r.activation_path = runs.getColumn(3).getString();
      r.time_points = runs.getColumn(4).getInt64();
      r.generations = runs.getColumn(5).getInt64();
      r.run_maps = runs.getColumn(6).getInt64();
      r.prompt_values = runs.getColumn(7).getInt64();
      f.runs.push_back(r);
    }
    const std::map<std::string, std::string> counts = {
        {"condition_maps",
         "SELECT count(*) FROM glm_maps WHERE experiment_id = ?1 AND run_id "
         "IS NULL"},
        {"networks", "SELECT count(*) FROM networks WHERE experiment_id = ?1"},
        {"network_units",
         "SELECT count(*) FROM network_units u JOIN networks n ON "
         "u.network_id = n.id WHERE n.experiment_id = ?1"},
        {"overlaps",
         "SELECT count(*) FROM overlaps o JOIN networks n ON o.network_a_id = "
         "n.id WHERE n.experiment_id = ?1"},
        {"classifications",
         "SELECT count(*) FROM classifications WHERE experiment_id = ?1"},
        {"events",
         "SELECT count(*) FROM events e JOIN runs r ON e.run_id = r.id WHERE "
         "r.experiment_id = ?1"},
    };
    for (const auto& [name, sql] : counts) {
      SQLite::Statement q(db, sql);
      q.bind(1, id);
      q.executeStep();
      f.counts[name] = q.getColumn(0).getInt64();
    }
    SQLite::Statement gen(
        db,
        "SELECT r.condition || '#' || r.repeat_index, g.prompt_index, g.step, "
        "  g.token_id FROM generations g JOIN runs r ON g.run_id = r.id "
        "WHERE r.experiment_id = ? ORDER BY 1, 2, 3");
    gen.bind(1, id);
    while (gen.executeStep()) {
      f.generations.push_back(absl::StrCat(
          gen.getColumn(0).getString(), " ", gen.getColumn(1).getInt64(), " ",
          gen.getColumn(2).getInt64(), " ", gen.getColumn(3).getInt64()));
    }
    return f;
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("reading the database: ", e.what()));
  }
}

// What the activation store holds that it should not: a file for a run
// that is not done, no file for a done one, a leftover partial file.
std::vector<std::string> ActivationProblems(const std::string& data_dir,
                                            int64_t id, const DbFacts& f) {
  std::set<std::string> want;
  for (const RunRow& r : f.runs) {
    if (r.status == "done") {
      want.insert(std::filesystem::path(r.activation_path).filename().string());
    }
  }
  std::set<std::string> have;
  std::vector<std::string> problems;
  std::error_code ec;
  const std::string dir =
      absl::StrCat(data_dir, "/activations/experiment-", id);
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".fnpact") {
      have.insert(name);
    } else {
      problems.push_back(absl::StrCat("stray file ", name));
    }
  }
  for (const std::string& name : have) {
    if (want.count(name) == 0) {
      problems.push_back(
          absl::StrCat("activation file ", name, " of a run that is not done"));
    }
  }
  for (const std::string& name : want) {
    if (have.count(name) == 0) {
      problems.push_back(absl::StrCat("done run without its file ", name));
    }
  }
  return problems;
}

// Invariants of a finished experiment's rows; empty when all hold.
std::vector<std::string> DbProblems(const DbFacts& f, const DbFacts& ref) {
  std::vector<std::string> p;
  if (f.runs.size() != ref.runs.size()) {
    p.push_back(
        absl::StrCat(f.runs.size(), " runs, the plan has ", ref.runs.size()));
  }
  std::set<std::string> keys;
  for (const RunRow& r : f.runs) {
    const std::string what = absl::StrCat("run ", r.key, " (", r.status, ")");
    if (!keys.insert(r.key).second) p.push_back(what + " twice");
    if (r.status == "pending" || r.status == "running") {
      p.push_back(what + " left unfinished by a finished experiment");
    }
    if (r.status == "done") {
      if (r.generations != r.time_points || r.time_points == 0) {
        p.push_back(
            absl::StrCat(what, ": ", r.generations,
                         " generated tokens stored, T = ", r.time_points));
      }
      if (r.run_maps != 1) {
        p.push_back(absl::StrCat(what, ": ", r.run_maps, " run maps"));
      }
      if (r.prompt_values != 1) {
        p.push_back(
            absl::StrCat(what, ": ", r.prompt_values, " prompt value rows"));
      }
    } else if (r.generations + r.run_maps + r.prompt_values != 0) {
      p.push_back(absl::StrCat(what, " has results: ", r.generations,
                               " tokens, ", r.run_maps, " maps, ",
                               r.prompt_values, " prompt value rows"));
    }
  }
  if (f.status == "done") {
    for (const RunRow& r : f.runs) {
      if (r.status != "done")
        p.push_back("done with run " + r.key + " " + r.status);
    }
    for (const auto& [name, n] : ref.counts) {
      if (f.counts.at(name) != n) {
        p.push_back(absl::StrCat(name, ": ", f.counts.at(name),
                                 " rows, the undisturbed run has ", n));
      }
    }
    if (f.generations != ref.generations) {
      size_t i = 0;
      while (i < f.generations.size() && i < ref.generations.size() &&
             f.generations[i] == ref.generations[i]) {
        ++i;
      }
      p.push_back(absl::StrCat(
          "generated tokens differ from the undisturbed run's at row ", i,
          " of ", f.generations.size(), " (", ref.generations.size(), ")"));
    }
  } else {
    for (const char* name : {"condition_maps", "networks", "network_units",
                             "overlaps", "classifications"}) {
      if (f.counts.at(name) != 0) {
        p.push_back(absl::StrCat(f.status, " experiment has ",
                                 f.counts.at(name), " ", name, " rows"));
      }
    }
  }
  return p;
}

// ---------------------------------------------------------------------------

bool IsTerminal(v1::ExperimentPhase phase) {
  return phase == v1::PHASE_DONE || phase == v1::PHASE_FAILED ||
         phase == v1::PHASE_CANCELLED;
}

std::string Describe(const v1::Experiment& e) {
  std::string running;
  for (const v1::Run& r : e.runs()) {
    if (r.state() == v1::RUN_RUNNING) {
      running = absl::StrCat(", run ", r.index(), " at ", r.tokens_generated(),
                             "/", r.time_points(), " tokens");
    }
  }
  return absl::StrCat(v1::ExperimentPhase_Name(e.phase()), ", ",
                      e.progress().runs_done(), "/", e.progress().runs_total(),
                      " runs done", running);
}

// The reference: the spec's undisturbed run, and how long it took.
struct Reference {
  Exports exports;
  DbFacts db;
  absl::Duration wall;
};

class CrashE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    BaseSeed();
    model_root_ = new std::string(MakeTempDir("crash_e2e_model"));
    MakeModelOptions make;
    make.shape = "tiny";
    make.out_dir = *model_root_ + "/tiny";
    ASSERT_OK(MakeModel(make));
  }

  void SetUp() override {
    trace_ = std::make_unique<::testing::ScopedTrace>(
        __FILE__, __LINE__, absl::StrCat("FNPROBE_CRASH_SEED=", BaseSeed()));
    if (reference_ == nullptr) MakeReference();
  }

  static std::unique_ptr<WorkerCluster> StartCluster(
      std::vector<std::string> worker_flags = {}, int inference_servers = 1) {
    WorkerClusterOptions o;
    o.dir = MakeTempDir("crash_e2e");
    o.model_dir = *model_root_ + "/tiny";
    o.tokens = {absl::StrCat(kAlice, " alice")};
    o.worker_flags = {"--max-concurrent-runs", "1"};
    o.worker_flags.insert(o.worker_flags.end(), worker_flags.begin(),
                          worker_flags.end());
    o.inference_servers = inference_servers;
    auto cluster = WorkerCluster::Start(o);
    EXPECT_OK(cluster);
    return cluster.ok() ? std::move(*cluster) : nullptr;
  }

  static absl::StatusOr<v1::Experiment> Submit(
      v1::ExperimentService::Stub* stub) {
    v1::SubmitExperimentRequest request;
    *request.mutable_spec() = CrashSpec();
    v1::Experiment e;
    grpc::Status s =
        stub->SubmitExperiment(CallContext(kAlice).get(), request, &e);
    if (!s.ok()) return ToAbslStatus(s);
    return e;
  }

  // A stub on its own connection: gRPC shares connections between channels
  // by default, and one to a worker killed a moment ago fails calls
  // (UNAVAILABLE) until it notices.
  static std::unique_ptr<v1::ExperimentService::Stub> Stub(
      WorkerCluster* cluster) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return v1::ExperimentService::NewStub(grpc::CreateCustomChannel(
        cluster->worker_address(), grpc::InsecureChannelCredentials(), args));
  }

  // GetExperiment, retried for a while on UNAVAILABLE (a worker restarting).
  static absl::StatusOr<v1::Experiment> Get(v1::ExperimentService::Stub* stub,
                                            int64_t id) {
    v1::GetExperimentRequest request;
    request.set_experiment_id(id);
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    for (;;) {
      v1::Experiment e;
      grpc::Status s =
          stub->GetExperiment(CallContext(kAlice).get(), request, &e);
      if (s.ok()) return e;
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE ||
          absl::Now() > deadline) {
        return ToAbslStatus(s);
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  // Polls until the experiment is finished.
  static absl::StatusOr<v1::Experiment> WaitFinished(
      v1::ExperimentService::Stub* stub, int64_t id) {
    return PollUntil(stub, id, [](const v1::Experiment&) { return false; });
  }

  // Polls (every 5 ms) until `until` holds or the experiment is finished.
  static absl::StatusOr<v1::Experiment> PollUntil(
      v1::ExperimentService::Stub* stub, int64_t id,
      const std::function<bool(const v1::Experiment&)>& until) {
    const absl::Time deadline = absl::Now() + absl::Minutes(3);
    while (absl::Now() < deadline) {
      FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e, Get(stub, id));
      if (e.progress().runs_done() > e.progress().runs_total()) {
        return absl::InternalError("runs_done above runs_total: " +
                                   Describe(e));
      }
      if (until(e) || IsTerminal(e.phase())) return e;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return absl::DeadlineExceededError("experiment did not get there");
  }

  // Waits for experiment `id` to finish and checks it ended `want` with
  // consistent rows; for done, exports identical to the reference's.
  static void ExpectFinished(WorkerCluster* cluster, int64_t id,
                             v1::ExperimentPhase want) {
    auto stub = Stub(cluster);
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, WaitFinished(stub.get(), id));
    ASSERT_EQ(e.phase(), want) << "experiment " << id << ": " << e.error();
    EXPECT_LE(e.progress().runs_done(), e.progress().runs_total());
    EXPECT_EQ(e.progress().runs_total(), e.runs_size());
    if (want == v1::PHASE_DONE) {
      EXPECT_EQ(e.progress().runs_done(), e.runs_size());
      EXPECT_EQ(e.progress().tokens_done(), e.progress().tokens_total());
      ASSERT_OK_AND_ASSIGN(Exports exports, ReadExports(stub.get(), e));
      ExpectSameExports(exports, reference_->exports);
    } else {
      // No exports of an unfinished analysis.
      v1::ListNetworksRequest list;
      list.set_experiment_id(id);
      v1::ListNetworksResponse networks;
      grpc::Status s =
          stub->ListNetworks(CallContext(kAlice).get(), list, &networks);
      EXPECT_TRUE(!s.ok() || networks.networks_size() == 0)
          << networks.DebugString();
    }
    ExpectConsistentRows(cluster, id, want);
  }

  // The rows of a finished experiment. The activation store is given a few
  // seconds: a cancelled stream's partial file goes when its thread unwinds.
  static void ExpectConsistentRows(WorkerCluster* cluster, int64_t id,
                                   v1::ExperimentPhase want) {
    ASSERT_OK_AND_ASSIGN(DbFacts f, ReadDb(cluster->data_dir(), id));
    const std::map<v1::ExperimentPhase, std::string> names = {
        {v1::PHASE_DONE, "done"},
        {v1::PHASE_FAILED, "failed"},
        {v1::PHASE_CANCELLED, "cancelled"}};
    EXPECT_EQ(f.status, names.at(want));
    EXPECT_THAT(DbProblems(f, reference_->db), ::testing::IsEmpty())
        << "experiment " << id;
    std::vector<std::string> files;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    do {
      files = ActivationProblems(cluster->data_dir(), id, f);
      if (files.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (absl::Now() < deadline);
    EXPECT_THAT(files, ::testing::IsEmpty()) << "experiment " << id;
  }

  // Terminal phases are final: a worker restart changes none of them.
  static void ExpectFinalAcrossRestart(
      WorkerCluster* cluster,
      const std::vector<std::pair<int64_t, v1::ExperimentPhase>>& finished) {
    cluster->KillWorker();
    ASSERT_OK(cluster->StartWorker());
    auto stub = Stub(cluster);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    for (const auto& [id, phase] : finished) {
      ASSERT_OK_AND_ASSIGN(v1::Experiment e, Get(stub.get(), id));
      EXPECT_EQ(e.phase(), phase) << "experiment " << id << " after restart";
      ExpectConsistentRows(cluster, id, phase);
    }
  }

  static void MakeReference() {
    auto cluster = StartCluster();
    ASSERT_NE(cluster, nullptr);
    auto stub = Stub(cluster.get());
    const absl::Time start = absl::Now();
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    ASSERT_OK_AND_ASSIGN(e, WaitFinished(stub.get(), e.id()));
    const absl::Duration wall = absl::Now() - start;
    ASSERT_EQ(e.phase(), v1::PHASE_DONE) << e.error();
    auto ref = std::make_unique<Reference>();
    ref->wall = wall;
    ASSERT_OK_AND_ASSIGN(ref->exports, ReadExports(stub.get(), e));
    ASSERT_OK_AND_ASSIGN(ref->db, ReadDb(cluster->data_dir(), e.id()));
    // The comparisons prove little against flat maps.
    v1::StatMap map;
    map.ParseFromString(ref->exports.maps.at("condition/topic0"));
    double largest = 0;
    for (double t : map.t()) largest = std::max(largest, std::abs(t));
    ASSERT_GT(largest, 1.0) << "the reference maps are flat";
    ASSERT_EQ(ref->db.runs.size(), 4u);
    std::cout << "[crash] undisturbed run: " << absl::FormatDuration(wall)
              << ", " << ref->exports.maps.size() << " maps, "
              << ref->exports.networks.size() << " networks" << std::endl;
    reference_ = ref.release();
  }

  static std::string* model_root_;
  static Reference* reference_;
  std::unique_ptr<::testing::ScopedTrace> trace_;
};

std::string* CrashE2eTest::model_root_ = nullptr;
Reference* CrashE2eTest::reference_ = nullptr;

// Kill after a random delay from submission, spread over the undisturbed
// run's length (stratified: kill k of n lands in the k-th slice of 1.1x the
// reference's wall time, so that every stage gets its share).
absl::Duration KillDelay(Moments& m, int k, int n, absl::Duration wall) {
  const int64_t slice = absl::ToInt64Milliseconds(wall) * 11 / 10 / n;
  return absl::Milliseconds(slice * k + m.Between(0, slice));
}

// Waits on the watch stream (which reports every change, unlike polling)
// until the experiment is analyzing or finished; returns the phase seen.
v1::ExperimentPhase WaitForAnalysis(v1::ExperimentService::Stub* stub,
                                    int64_t id) {
  grpc::ClientContext context;
  AddBearerToken(&context, kAlice);
  v1::WatchExperimentRequest watch;
  watch.set_experiment_id(id);
  auto reader = stub->WatchExperiment(&context, watch);
  v1::ExperimentProgress progress;
  while (reader->Read(&progress) && progress.phase() != v1::PHASE_ANALYZING &&
         !IsTerminal(progress.phase())) {
  }
  context.TryCancel();
  reader->Finish().IgnoreError();
  return progress.phase();
}

TEST_F(CrashE2eTest, WorkerKilledAtRandomMomentsEndsIdentical) {
  Moments m("worker-kill");
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  constexpr int kKills = 10;
  // The last kAnalysisKills land 0-3 ms after the analysis starts (it is
  // short: a random delay rarely finds it); the others at random delays
  // spread over the generation.
  constexpr int kAnalysisKills = 2;
  constexpr int kTimedKills = kKills - kAnalysisKills;
  std::vector<std::pair<int64_t, v1::ExperimentPhase>> finished;
  for (int k = 0; k < kKills; ++k) {
    auto stub = Stub(cluster.get());
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    const absl::Duration down = absl::Milliseconds(m.Between(0, 300));
    std::string moment;
    if (k < kTimedKills) {
      const absl::Duration delay =
          KillDelay(m, k, kTimedKills, reference_->wall * 0.9);
      absl::SleepFor(delay);
      moment = absl::FormatDuration(delay);
    } else {
      const absl::Duration delay = absl::Milliseconds(m.Between(0, 3));
      const v1::ExperimentPhase seen = WaitForAnalysis(stub.get(), e.id());
      absl::SleepFor(delay);
      moment = absl::StrCat(absl::FormatDuration(delay), " after ",
                            v1::ExperimentPhase_Name(seen));
    }
    ASSERT_OK_AND_ASSIGN(v1::Experiment now, Get(stub.get(), e.id()));
    cluster->KillWorker();
    m.Say(absl::StrCat("kill ", k + 1, "/", kKills, " at ", moment, " (",
                       Describe(now), "), restart after ",
                       absl::FormatDuration(down)));
    absl::SleepFor(down);
    ASSERT_OK(cluster->StartWorker());
    ExpectFinished(cluster.get(), e.id(), v1::PHASE_DONE);
    finished.push_back({e.id(), v1::PHASE_DONE});
    if (HasFatalFailure()) return;
  }
  ExpectFinalAcrossRestart(cluster.get(), finished);
}

TEST_F(CrashE2eTest, InferenceKilledAtRandomMomentsEndsIdentical) {
  Moments m("inference-kill");
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  constexpr int kKills = 5;
  std::vector<std::pair<int64_t, v1::ExperimentPhase>> finished;
  for (int k = 0; k < kKills; ++k) {
    auto stub = Stub(cluster.get());
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    // Within the generation: the analysis needs no inference server.
    const absl::Duration delay =
        KillDelay(m, k, kKills, reference_->wall * 0.8);
    const absl::Duration down = absl::Milliseconds(m.Between(0, 1500));
    absl::SleepFor(delay);
    ASSERT_OK_AND_ASSIGN(v1::Experiment now, Get(stub.get(), e.id()));
    cluster->KillInference();
    m.Say(absl::StrCat("kill ", k + 1, "/", kKills, " at ",
                       absl::FormatDuration(delay), " (", Describe(now),
                       "), restart after ", absl::FormatDuration(down)));
    absl::SleepFor(down);
    ASSERT_OK(cluster->StartInference());
    ExpectFinished(cluster.get(), e.id(), v1::PHASE_DONE);
    finished.push_back({e.id(), v1::PHASE_DONE});
    if (HasFatalFailure()) return;
  }
  ExpectFinalAcrossRestart(cluster.get(), finished);
}

TEST_F(CrashE2eTest, CancelledAtRandomMomentsEndsCancelled) {
  Moments m("cancel");
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  auto stub = Stub(cluster.get());
  std::vector<std::pair<int64_t, v1::ExperimentPhase>> finished;
  int cancels = 0;
  auto cancel = [&](int64_t id) -> grpc::Status {
    ++cancels;
    v1::CancelExperimentRequest request;
    request.set_experiment_id(id);
    v1::Experiment response;
    grpc::Status s =
        stub->CancelExperiment(CallContext(kAlice).get(), request, &response);
    if (s.ok()) EXPECT_EQ(response.phase(), v1::PHASE_CANCELLED);
    return s;
  };

  // Before any run: the one run slot streams a blocker's run, so a new
  // experiment waits queued; cancelled after 0-30 ms. The blocker must
  // finish undisturbed.
  ASSERT_OK_AND_ASSIGN(v1::Experiment blocker, Submit(stub.get()));
  ASSERT_OK(PollUntil(stub.get(), blocker.id(), [](const v1::Experiment& e) {
              return e.progress().tokens_done() > 0;
            }).status());
  int never_started = 0;
  for (int k = 0; k < 4; ++k) {
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    const absl::Duration delay = absl::Milliseconds(m.Between(0, 30));
    absl::SleepFor(delay);
    ASSERT_TRUE(cancel(e.id()).ok());
    ExpectFinished(cluster.get(), e.id(), v1::PHASE_CANCELLED);
    ASSERT_OK_AND_ASSIGN(e, Get(stub.get(), e.id()));
    int started = 0;
    for (const v1::Run& r : e.runs()) {
      EXPECT_EQ(r.state(), v1::RUN_CANCELLED);
      started += r.attempts();
    }
    never_started += started == 0;
    m.Say(absl::StrCat("cancel (queued) after ", absl::FormatDuration(delay),
                       ": ", started, " run attempt(s) had started"));
    finished.push_back({e.id(), v1::PHASE_CANCELLED});
  }
  EXPECT_GE(never_started, 1) << "no cancellation came before a run";
  ExpectFinished(cluster.get(), blocker.id(), v1::PHASE_DONE);
  finished.push_back({blocker.id(), v1::PHASE_DONE});

  // Mid-run: once a random fraction of the tokens is in.
  for (int k = 0; k < 3; ++k) {
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    const double fraction = m.Between(2, 85) / 100.0;
    ASSERT_OK_AND_ASSIGN(
        v1::Experiment now,
        PollUntil(stub.get(), e.id(), [&](const v1::Experiment& x) {
          return x.progress().tokens_done() >=
                 fraction * x.progress().tokens_total();
        }));
    ASSERT_TRUE(cancel(e.id()).ok()) << Describe(now);
    m.Say(absl::StrCat("cancel at ", fraction, " of the tokens (",
                       Describe(now), ")"));
    ExpectFinished(cluster.get(), e.id(), v1::PHASE_CANCELLED);
    finished.push_back({e.id(), v1::PHASE_CANCELLED});
  }

  // During the analysis: as soon as the watch stream says analyzing, after
  // 0-1 ms (the analysis of this spec lasts a few ms). A cancellation that
  // comes too late is refused and the experiment is done, identical to the
  // reference; one that is accepted leaves no analysis behind.
  int in_analysis = 0;
  for (int k = 0; k < 3; ++k) {
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    const absl::Duration delay = absl::Milliseconds(m.Between(0, 1));
    const v1::ExperimentPhase seen = WaitForAnalysis(stub.get(), e.id());
    absl::SleepFor(delay);
    const grpc::Status s = cancel(e.id());
    m.Say(absl::StrCat("cancel ", absl::FormatDuration(delay), " after ",
                       v1::ExperimentPhase_Name(seen), ": ",
                       s.ok() ? "accepted" : s.error_message()));
    if (s.ok()) {
      ++in_analysis;
      ExpectFinished(cluster.get(), e.id(), v1::PHASE_CANCELLED);
      finished.push_back({e.id(), v1::PHASE_CANCELLED});
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      ExpectFinished(cluster.get(), e.id(), v1::PHASE_DONE);
      finished.push_back({e.id(), v1::PHASE_DONE});
    }
  }
  EXPECT_GE(in_analysis, 1) << "no cancellation landed in an analysis";
  EXPECT_EQ(cancels, 10);
  ExpectFinalAcrossRestart(cluster.get(), finished);
}

TEST_F(CrashE2eTest, InferenceGoneForGoodFailsTheExperiment) {
  Moments m("inference-gone");
  auto cluster = StartCluster({"--max-attempts", "4"});
  ASSERT_NE(cluster, nullptr);
  auto stub = Stub(cluster.get());
  ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
  const double fraction = m.Between(2, 60) / 100.0;
  ASSERT_OK_AND_ASSIGN(
      v1::Experiment now,
      PollUntil(stub.get(), e.id(), [&](const v1::Experiment& x) {
        return x.progress().tokens_done() >=
               fraction * x.progress().tokens_total();
      }));
  cluster->KillInference();
  m.Say(absl::StrCat("killed for good at ", fraction, " of the tokens (",
                     Describe(now), ")"));
  ExpectFinished(cluster.get(), e.id(), v1::PHASE_FAILED);
  ASSERT_OK_AND_ASSIGN(e, Get(stub.get(), e.id()));
  EXPECT_THAT(e.error(), HasSubstr("after 4 attempt(s)"));
  EXPECT_LT(e.progress().runs_done(), e.runs_size());
  // The worker is alive and the failure is final across a restart.
  ExpectFinalAcrossRestart(cluster.get(), {{e.id(), v1::PHASE_FAILED}});
}

TEST_F(CrashE2eTest, OneOfTwoInferenceServersKilledEndsIdentical) {
  Moments m("two-servers");
  // One try: kills the server streaming run `victim_run` while that run is
  // in its first half; the experiment must complete on the other server.
  // Returns whether the kill interrupted the run's stream (a tiny model's
  // run can finish between the progress poll and the kill).
  auto try_once = [&]() -> bool {
    auto cluster = StartCluster({}, /*inference_servers=*/2);
    EXPECT_NE(cluster, nullptr);
    if (cluster == nullptr) return true;
    auto stub = Stub(cluster.get());
    absl::StatusOr<v1::Experiment> e = Submit(stub.get());
    EXPECT_OK(e);
    if (!e.ok()) return true;
    // Runs start in plan order and one at a time, and the worker picks the
    // servers in turn: run i streams from server i % 2.
    const int victim_run = static_cast<int>(m.Between(0, 2));
    const double fraction = m.Between(5, 45) / 100.0;
    absl::StatusOr<v1::Experiment> now =
        PollUntil(stub.get(), e->id(), [&](const v1::Experiment& x) {
          for (const v1::Run& r : x.runs()) {
            if (r.index() == victim_run && r.state() == v1::RUN_RUNNING &&
                r.tokens_generated() >= fraction * r.time_points() &&
                r.tokens_generated() < r.time_points()) {
              return true;
            }
          }
          return false;
        });
    EXPECT_OK(now);
    if (!now.ok()) return true;
    cluster->KillInference(victim_run % 2);
    m.Say(absl::StrCat("server ", victim_run % 2,
                       " killed for good during run ", victim_run, " (",
                       Describe(*now), ")"));
    ExpectFinished(cluster.get(), e->id(), v1::PHASE_DONE);
    absl::StatusOr<v1::Experiment> ended = Get(stub.get(), e->id());
    EXPECT_OK(ended);
    if (!ended.ok()) return true;
    for (const v1::Run& r : ended->runs()) {
      if (r.index() == victim_run) return r.attempts() >= 2;
    }
    return false;
  };
  // A kill that lands after the run's stream ended proves nothing: try
  // again with new moments, up to three times.
  for (int attempt = 1; attempt <= 3; ++attempt) {
    if (try_once()) return;
    m.Say(absl::StrCat("try ", attempt,
                       ": the run's stream had ended before the kill"));
  }
  ADD_FAILURE() << "in 3 tries the kill never interrupted a stream";
}

}  // namespace
}  // namespace fnprobe
