#include "server/inference/serving/request_queue.h"

#include <memory>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::SizeIs;

std::unique_ptr<RequestState> Request(int64_t sequences) {
  auto r = std::make_unique<RequestState>();
  r->open_sequences = sequences;
  return r;
}

TEST(RequestQueueTest, BoundsQueuedSequencesUntilTheLoopTakesSlots) {
  RequestQueue queue(5);
  EXPECT_THAT(queue.Push(Request(3)), IsOk());
  EXPECT_THAT(queue.Push(Request(3)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("max_queued_sequences (5)")));
  EXPECT_THAT(queue.Push(Request(2)), IsOk());
  EXPECT_EQ(queue.Stats().queued_sequences, 5);
  EXPECT_EQ(queue.Stats().active_requests, 2);  // in the inbox

  std::vector<std::unique_ptr<RequestState>> incoming;
  std::vector<const RequestStream*> cancels;
  ASSERT_TRUE(queue.Take(&incoming, &cancels));
  EXPECT_THAT(incoming, SizeIs(2));
  // Taken is not dequeued: the sequences still wait for slots.
  EXPECT_THAT(queue.Push(Request(1)),
              StatusIs(absl::StatusCode::kResourceExhausted));
  SchedulerStats loop;
  loop.active_sequences = 4;
  loop.last_batch_sequences = 3;
  queue.Publish(/*dequeued=*/4, /*stepped=*/true, loop);
  queue.Publish(/*dequeued=*/0, /*stepped=*/true, loop);
  queue.Publish(/*dequeued=*/0, /*stepped=*/false, loop);
  EXPECT_EQ(queue.Stats().batched_sequences, 6);
  EXPECT_EQ(queue.Stats().queued_sequences, 1);
  EXPECT_EQ(queue.Stats().active_sequences, 4);
  EXPECT_EQ(queue.Stats().steps, 2);
  EXPECT_THAT(queue.Push(Request(4)), IsOk());
}

TEST(RequestQueueTest, CancelWakesTheLoopAndShutdownStopsIt) {
  RequestQueue queue(10);
  RequestStream stream(1);
  std::thread loop([&] {
    queue.WaitForWork();  // returns once the cancel is posted
    std::vector<std::unique_ptr<RequestState>> incoming;
    std::vector<const RequestStream*> cancels;
    ASSERT_TRUE(queue.Take(&incoming, &cancels));
    EXPECT_THAT(cancels, ::testing::ElementsAre(&stream));
  });
  queue.Cancel(&stream);
  loop.join();

  queue.Shutdown();
  std::vector<std::unique_ptr<RequestState>> incoming;
  std::vector<const RequestStream*> cancels;
  EXPECT_FALSE(queue.Take(&incoming, &cancels));
  EXPECT_THAT(queue.Push(Request(1)), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(queue.TakeInbox(), SizeIs(0));
}

}  // namespace
}  // namespace fnprobe
