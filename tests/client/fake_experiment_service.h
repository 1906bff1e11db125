// Test helper: an in-process ExperimentService with canned but consistent
// answers, served on 127.0.0.1:0, for driving the `fnprobe` CLI without a
// worker. Every RPC requires the bearer token kToken (user "alice").
//
// Experiments:
//   7  "nencka2023-small", done: 3 conditions x 2 repeats = 6 runs on a
//      96-unit layout (embed 16, blocks.0.mlp_post 32, blocks.1.mlp_post 32,
//      final_norm 16), with networks, overlaps, repeatability,
//      classification, events and stat maps.
//   8  generating; its watch stream ends FAILED.
//   9  generating; its watch stream ends CANCELLED.
//   10 what SubmitExperiment answers; watches like 7.
// Any other id is NOT_FOUND. A submitted spec whose first condition has no
// name is refused with INVALID_ARGUMENT listing two fields.
//
// GetNetwork returns at most kMaxPageSize units per page, so that clients
// must follow page tokens.
//
// Thread-safe: RPCs run concurrently; recorded requests are guarded.
#ifndef FNPROBE_TESTS_CLIENT_FAKE_EXPERIMENT_SERVICE_H_
#define FNPROBE_TESTS_CLIENT_FAKE_EXPERIMENT_SERVICE_H_

#include <grpcpp/server.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/auth.h"
#include "common/layout.h"
#include "fnprobe/v1/experiments.grpc.pb.h"

namespace fnprobe::testing {

class FakeExperimentService final : public v1::ExperimentService::Service {
 public:
  static constexpr char kToken[] = "fake-token-0123456789";
  static constexpr int kMaxPageSize = 8;
  static constexpr int64_t kDoneId = 7;
  static constexpr int64_t kFailingId = 8;
  static constexpr int64_t kCancelledId = 9;
  static constexpr int64_t kSubmittedId = 10;

  FakeExperimentService();

  // The fake's layout, and the units of condition `c`'s network (sorted by
  // |t|, largest first) and its t-map, as the RPCs answer them.
  const Layout& layout() const { return layout_; }
  static std::vector<std::string> Conditions();
  std::vector<v1::NetworkUnit> NetworkUnits(int condition) const;
  v1::StatMap ConditionMap(int condition) const;

  // Requests received, for assertions.
  int submit_count() const;
  std::optional<v1::ExperimentSpec> last_spec() const;
  std::optional<v1::ReanalyzeExperimentRequest> last_reanalyze() const;

  grpc::Status SubmitExperiment(grpc::ServerContext* context,
                                const v1::SubmitExperimentRequest* request,
                                v1::Experiment* reply) override;
  grpc::Status GetExperiment(grpc::ServerContext* context,
                             const v1::GetExperimentRequest* request,
                             v1::Experiment* reply) override;
  grpc::Status ListExperiments(grpc::ServerContext* context,
                               const v1::ListExperimentsRequest* request,
                               v1::ListExperimentsResponse* reply) override;
  grpc::Status WatchExperiment(
      grpc::ServerContext* context, const v1::WatchExperimentRequest* request,
      grpc::ServerWriter<v1::ExperimentProgress>* writer) override;
  grpc::Status CancelExperiment(grpc::ServerContext* context,
                                const v1::CancelExperimentRequest* request,
                                v1::Experiment* reply) override;
  grpc::Status ReanalyzeExperiment(
      grpc::ServerContext* context,
      const v1::ReanalyzeExperimentRequest* request,
      v1::Experiment* reply) override;
  grpc::Status ListNetworks(grpc::ServerContext* context,
                            const v1::ListNetworksRequest* request,
                            v1::ListNetworksResponse* reply) override;
  grpc::Status GetNetwork(grpc::ServerContext* context,
                          const v1::GetNetworkRequest* request,
                          v1::GetNetworkResponse* reply) override;
  grpc::Status CompareNetworks(grpc::ServerContext* context,
                               const v1::CompareNetworksRequest* request,
                               v1::CompareNetworksResponse* reply) override;
  grpc::Status GetRepeatability(grpc::ServerContext* context,
                                const v1::GetRepeatabilityRequest* request,
                                v1::GetRepeatabilityResponse* reply) override;
  grpc::Status GetClassification(grpc::ServerContext* context,
                                 const v1::GetClassificationRequest* request,
                                 v1::GetClassificationResponse* reply) override;
  grpc::Status GetRunEvents(grpc::ServerContext* context,
                            const v1::GetRunEventsRequest* request,
                            v1::GetRunEventsResponse* reply) override;
  grpc::Status FindUnit(grpc::ServerContext* context,
                        const v1::FindUnitRequest* request,
                        v1::FindUnitResponse* reply) override;
  grpc::Status GetStatMap(grpc::ServerContext* context,
                          const v1::GetStatMapRequest* request,
                          v1::StatMap* reply) override;
  grpc::Status ListModels(grpc::ServerContext* context,
                          const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* reply) override;

 private:
  grpc::Status Authenticate(const grpc::ServerContext& context) const;
  // OK for the done experiment; NOT_FOUND or FAILED_PRECONDITION otherwise.
  grpc::Status RequireDone(int64_t id) const;
  v1::Experiment MakeExperiment(int64_t id) const;
  v1::NetworkSummary Summary(int condition) const;
  std::vector<v1::ExperimentProgress> Script(int64_t id) const;

  Layout layout_;
  Authenticator authenticator_;

  mutable absl::Mutex mu_;
  int submit_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<v1::ExperimentSpec> last_spec_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::ReanalyzeExperimentRequest> last_reanalyze_
      ABSL_GUARDED_BY(mu_);
};

// A FakeExperimentService served on 127.0.0.1 (a free port).
class FakeWorker {
 public:
  FakeWorker();
  ~FakeWorker();
  std::string address() const;
  FakeExperimentService& service() { return service_; }

 private:
  FakeExperimentService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_CLIENT_FAKE_EXPERIMENT_SERVICE_H_
