#include "tests/e2e/crash_e2e_checks.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "common/status_util.h"
#include "gtest/gtest.h"
#include "tests/e2e/worker_cluster.h"

namespace fnprobe::crash_e2e {
namespace {

using ::fnprobe::testing::CallContext;

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

std::string RunKey(const v1::Run& run) {
  return absl::StrCat(run.condition(), "#", run.repeat());
}

}  // namespace

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

Moments::Moments(const std::string& scenario) : scenario_(scenario) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a of the name
  for (char c : scenario) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  state_ = SplitMix64(BaseSeed() ^ h);
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

}  // namespace fnprobe::crash_e2e
