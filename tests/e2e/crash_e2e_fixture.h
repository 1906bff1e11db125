// CrashE2eTest: the crash-test driver's fixture (issue 13), shared by the
// scenario files crash_worker_kill_e2e_test.cc, crash_inference_e2e_test.cc
// and crash_cancel_e2e_test.cc, which build into one crash_e2e_test binary
// so that the undisturbed reference run is made once.
//
// Real fnprobe-inference and fnprobe-worker processes on loopback serve a
// tiny random model; scenarios kill (SIGKILL) and restart them, or cancel,
// at random moments (crash_e2e_checks.h), then check that every experiment
// ends in the expected terminal phase, that done ones export exactly what
// the undisturbed reference run exports, that the phase stays across a
// worker restart, and that the database and the activation store hold
// nothing twice and nothing of a run that is not done. Every worker streams
// one run at a time (--max-concurrent-runs 1): generation is deterministic
// only for identical batches.
//
// Not thread-safe: for the test thread.
#ifndef FNPROBE_TESTS_E2E_CRASH_E2E_FIXTURE_H_
#define FNPROBE_TESTS_E2E_CRASH_E2E_FIXTURE_H_

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/status_util.h"
#include "fnprobe/v1/experiments.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/tools/model_maker.h"
#include "tests/e2e/crash_e2e_checks.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::crash_e2e {

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
    model_root_ =
        new std::string(::fnprobe::testing::MakeTempDir("crash_e2e_model"));
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

  static std::unique_ptr<::fnprobe::testing::WorkerCluster> StartCluster(
      std::vector<std::string> worker_flags = {}, int inference_servers = 1) {
    ::fnprobe::testing::WorkerClusterOptions o;
    o.dir = ::fnprobe::testing::MakeTempDir("crash_e2e");
    o.model_dir = *model_root_ + "/tiny";
    o.tokens = {absl::StrCat(kAlice, " alice")};
    o.worker_flags = {"--max-concurrent-runs", "1"};
    o.worker_flags.insert(o.worker_flags.end(), worker_flags.begin(),
                          worker_flags.end());
    o.inference_servers = inference_servers;
    auto cluster = ::fnprobe::testing::WorkerCluster::Start(o);
    EXPECT_OK(cluster);
    return cluster.ok() ? std::move(*cluster) : nullptr;
  }

  static absl::StatusOr<v1::Experiment> Submit(
      v1::ExperimentService::Stub* stub) {
    v1::SubmitExperimentRequest request;
    *request.mutable_spec() = CrashSpec();
    v1::Experiment e;
    grpc::Status s = stub->SubmitExperiment(
        ::fnprobe::testing::CallContext(kAlice).get(), request, &e);
    if (!s.ok()) return ToAbslStatus(s);
    return e;
  }

  // A stub on its own connection: gRPC shares connections between channels
  // by default, and one to a worker killed a moment ago fails calls
  // (UNAVAILABLE) until it notices.
  static std::unique_ptr<v1::ExperimentService::Stub> Stub(
      ::fnprobe::testing::WorkerCluster* cluster) {
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
      grpc::Status s = stub->GetExperiment(
          ::fnprobe::testing::CallContext(kAlice).get(), request, &e);
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
  static void ExpectFinished(::fnprobe::testing::WorkerCluster* cluster,
                             int64_t id, v1::ExperimentPhase want) {
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
      grpc::Status s = stub->ListNetworks(
          ::fnprobe::testing::CallContext(kAlice).get(), list, &networks);
      EXPECT_TRUE(!s.ok() || networks.networks_size() == 0)
          << networks.DebugString();
    }
    ExpectConsistentRows(cluster, id, want);
  }

  // The rows of a finished experiment. The activation store is given a few
  // seconds: a cancelled stream's partial file goes when its thread unwinds.
  static void ExpectConsistentRows(::fnprobe::testing::WorkerCluster* cluster,
                                   int64_t id, v1::ExperimentPhase want) {
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
      ::fnprobe::testing::WorkerCluster* cluster,
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

// Kill after a random delay from submission, spread over the undisturbed
// run's length (stratified: kill k of n lands in the k-th slice of 1.1x the
// reference's wall time, so that every stage gets its share).
absl::Duration KillDelay(Moments& m, int k, int n, absl::Duration wall);

// Waits on the watch stream (which reports every change, unlike polling)
// until the experiment is analyzing or finished; returns the phase seen.
v1::ExperimentPhase WaitForAnalysis(v1::ExperimentService::Stub* stub,
                                    int64_t id);

}  // namespace fnprobe::crash_e2e

#endif  // FNPROBE_TESTS_E2E_CRASH_E2E_FIXTURE_H_
