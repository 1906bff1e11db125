#include "server/analysis/storage/activation_store.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/half_float.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/storage/crc32c.h"
#include "tests/analysis/storage/activation_test_util.h"
#include "tests/support/fault_injection_env.h"
#include "tests/support/reference_data.h"

namespace fnprobe {
namespace {

namespace fs = std::filesystem;
using ::fnprobe::testing::FaultInjectionEnv;
using ::fnprobe::testing::Frames;
using ::fnprobe::testing::ReadAll;
using ::fnprobe::testing::WriteAll;
using ::fnprobe::testing::WriteFrames;
using TempDir = ::fnprobe::testing::ActivationTempDir;
using ::testing::HasSubstr;

Frames MakeFrames(int64_t rows, int64_t width, uint32_t seed) {
  Frames f;
  f.width = width;
  f.time_points.resize(rows);
  std::iota(f.time_points.begin(), f.time_points.end(), 0);
  std::mt19937 rng(seed);
  // Batched prompts deliver frames out of time order.
  std::shuffle(f.time_points.begin(), f.time_points.end(), rng);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  f.values.resize(rows * width);
  for (float& v : f.values) v = normal(rng);
  return f;
}

class ActivationStoreRoundTripTest : public ::testing::TestWithParam<DType> {};

TEST_P(ActivationStoreRoundTripTest, ReadsBackWhatWasWritten) {
  const DType dtype = GetParam();
  TempDir dir;
  const std::string path = dir.path() + "/run1.fnpact";
  const Frames frames = MakeFrames(/*rows=*/150, /*width=*/37, /*seed=*/1);
  ActivationWriterOptions options;
  options.dtype = dtype;
  options.rows_per_chunk = 16;  // 9 full chunks and a partial one.
  auto info = WriteFrames(path, frames, options);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->path, path);
  EXPECT_EQ(info->rows, 150);
  EXPECT_EQ(info->overflow_count, 0);
  EXPECT_EQ(info->bytes, fs::file_size(path));
  EXPECT_EQ(info->checksum, crc32c::Format(info->file_crc));
  EXPECT_FALSE(fs::exists(ActivationTempPath(path)));

  auto reader = ActivationReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->rows(), 150);
  EXPECT_EQ((*reader)->width(), 37);
  EXPECT_EQ((*reader)->dtype(), dtype);
  EXPECT_EQ((*reader)->num_chunks(), 10);
  EXPECT_EQ((*reader)->checksum(), info->checksum);
  EXPECT_TRUE((*reader)->VerifyFileChecksum().ok());

  // Relative precision: f32 exact; f16 has an 11-bit significand, bf16 8.
  const double tolerance = dtype == DType::kF32   ? 0.0
                           : dtype == DType::kF16 ? 1.0 / 2048
                                                  : 1.0 / 256;
  std::vector<float> out(150 * 37);
  std::vector<int64_t> time_points(150);
  ASSERT_TRUE((*reader)->ReadRows(0, 150, out.data(), time_points.data()).ok());
  EXPECT_EQ(time_points, frames.time_points);
  for (size_t i = 0; i < out.size(); ++i) {
    const float want = frames.values[i];
    if (dtype == DType::kF32) {
      ASSERT_EQ(out[i], want) << i;
    } else {
      ASSERT_LE(std::fabs(out[i] - want), tolerance * std::fabs(want) + 1e-7)
          << i;
    }
  }

  // A window across chunk boundaries.
  std::vector<float> window(40 * 37);
  std::vector<int64_t> window_tp(40);
  ASSERT_TRUE(
      (*reader)->ReadRows(13, 40, window.data(), window_tp.data()).ok());
  EXPECT_TRUE(std::equal(window.begin(), window.end(), out.begin() + 13 * 37));
  EXPECT_TRUE(std::equal(window_tp.begin(), window_tp.end(),
                         frames.time_points.begin() + 13));
  EXPECT_EQ((*reader)->ReadRows(140, 11, window.data()).code(),
            absl::StatusCode::kOutOfRange);

  // The chunk visitor sees the same rows.
  int64_t seen = 0;
  ASSERT_TRUE(
      (*reader)
          ->VisitChunks([&](const ActivationReader::Chunk& chunk) {
            EXPECT_EQ(chunk.first_row, seen);
            for (int64_t r = 0; r < chunk.rows; ++r) {
              EXPECT_EQ(chunk.time_points[r], frames.time_points[seen + r]);
            }
            EXPECT_TRUE(std::equal(chunk.values, chunk.values + chunk.rows * 37,
                                   out.begin() + seen * 37));
            seen += chunk.rows;
            return absl::OkStatus();
          })
          .ok());
  EXPECT_EQ(seen, 150);
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, ActivationStoreRoundTripTest,
                         ::testing::Values(DType::kF32, DType::kF16,
                                           DType::kBF16),
                         [](const auto& info) {
                           return std::string(DTypeName(info.param));
                         });

// The file checksum the writer reports and the footer holds is the
// CRC-32C of every byte before the footer (the format's definition).
TEST(ActivationStoreTest, FileChecksumIsCrc32cOfTheBytes) {
  TempDir dir;
  const std::string path = dir.path() + "/sum.fnpact";
  ActivationWriterOptions options;
  options.dtype = DType::kF32;
  options.rows_per_chunk = 7;
  auto info = WriteFrames(path, MakeFrames(30, 101, 5), options);
  ASSERT_TRUE(info.ok()) << info.status();
  const std::string data = ReadAll(path);
  ASSERT_GT(data.size(), 40u);
  EXPECT_EQ(info->file_crc, crc32c::Value(data.data(), data.size() - 40));
}

// Chunks larger than one read piece (512 KiB) are read and checksummed
// piece by piece; the rows come back exactly and a flipped byte in a late
// piece is still caught.
TEST(ActivationStoreTest, LargeChunksRoundTripAndDetectCorruption) {
  TempDir dir;
  const std::string path = dir.path() + "/large.fnpact";
  const int64_t width = 150001;  // Odd: F16 rows end mid-word.
  const Frames frames = MakeFrames(/*rows=*/9, width, /*seed=*/6);
  ActivationWriterOptions options;
  options.dtype = DType::kF32;
  options.rows_per_chunk = 4;     // 2.4 MB payloads: 5 pieces each.
  options.compression_level = 0;  // The offsets below are raw chunks'.
  ASSERT_TRUE(WriteFrames(path, frames, options).ok());
  auto reader = ActivationReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  int64_t seen = 0;
  ASSERT_TRUE((*reader)
                  ->VisitChunks([&](const ActivationReader::Chunk& chunk) {
                    EXPECT_TRUE(std::equal(
                        chunk.values, chunk.values + chunk.rows * width,
                        frames.values.begin() + seen * width));
                    EXPECT_TRUE(std::equal(chunk.time_points,
                                           chunk.time_points + chunk.rows,
                                           frames.time_points.begin() + seen));
                    seen += chunk.rows;
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_EQ(seen, 9);
  EXPECT_TRUE((*reader)->VerifyFileChecksum().ok());

  // Flip a byte near the end of chunk 1's payload.
  std::string data = ReadAll(path);
  const size_t chunk_bytes = 40 + 4 * (8 + width * 4);
  data[32 + 2 * chunk_bytes - 3] ^= 0x40;
  WriteAll(path, data);
  reader = ActivationReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::Status status = (*reader)->VisitChunks(
      [](const ActivationReader::Chunk&) { return absl::OkStatus(); });
  EXPECT_THAT(status.message(), HasSubstr("chunk 1: checksum mismatch"));
  EXPECT_EQ((*reader)->VerifyFileChecksum().code(),
            absl::StatusCode::kDataLoss);
}

// Every F16 bit pattern the writer can produce (all but signaling NaNs,
// which it writes as quiet ones) reads back exactly as HalfToFloat gives
// it, through the vectorized conversion and its scalar edges.
TEST(ActivationStoreTest, F16DecodingIsExactForEveryHalf) {
  TempDir dir;
  const std::string path = dir.path() + "/halfs.fnpact";
  const int64_t width = 65536 + 5;  // Not a multiple of the vector width.
  std::vector<float> row(width);
  for (int64_t i = 0; i < width; ++i) {
    row[i] = HalfToFloat(static_cast<uint16_t>(i & 0xffff));
  }
  ActivationWriterOptions options;
  options.dtype = DType::kF16;
  auto writer = ActivationWriter::Create(path, width, options);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(0, row.data()).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  auto reader = ActivationReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<float> out(width);
  ASSERT_TRUE((*reader)->ReadRows(0, 1, out.data()).ok());
  for (int64_t i = 0; i < width; ++i) {
    const float want = HalfToFloat(FloatToHalf(row[i]));
    uint32_t got_bits, want_bits;
    std::memcpy(&got_bits, &out[i], 4);
    std::memcpy(&want_bits, &want, 4);
    ASSERT_EQ(got_bits, want_bits) << "half 0x" << std::hex << i;
  }
}

TEST(ActivationStoreTest, EmptyFileRoundTrips) {
  TempDir dir;
  const std::string path = dir.path() + "/empty.fnpact";
  auto writer = ActivationWriter::Create(path, 4);
  ASSERT_TRUE(writer.ok());
  auto info = (*writer)->Finish();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->rows, 0);
  auto reader = ActivationReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->rows(), 0);
  EXPECT_EQ((*reader)->num_chunks(), 0);
}

TEST(ActivationStoreTest, F16OverflowIsCounted) {
  TempDir dir;
  const std::string path = dir.path() + "/big.fnpact";
  auto writer = ActivationWriter::Create(path, 2);
  ASSERT_TRUE(writer.ok());
  const float values[2] = {1e6f, 1.0f};
  ASSERT_TRUE((*writer)->Append(0, values).ok());
  auto info = (*writer)->Finish();
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->overflow_count, 1);
}

TEST(ActivationStoreTest, RefusesBadArgumentsAndRepeatedTimePoints) {
  TempDir dir;
  const std::string path = dir.path() + "/r.fnpact";
  EXPECT_EQ(ActivationWriter::Create(path, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  ActivationWriterOptions options;
  options.dtype = DType::kI32;
  EXPECT_EQ(ActivationWriter::Create(path, 4, options).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto writer = ActivationWriter::Create(path, 2);
  ASSERT_TRUE(writer.ok());
  const float values[2] = {1, 2};
  ASSERT_TRUE((*writer)->Append(5, values).ok());
  EXPECT_EQ((*writer)->Append(5, values).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*writer)->Append(-1, values).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*writer)->Append(6, values).ok());  // Still usable.
  ASSERT_TRUE((*writer)->Finish().ok());

  // The final file exists now: a second writer is refused.
  EXPECT_EQ(ActivationWriter::Create(path, 2).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(ActivationStoreTest, DestroyingAnUnfinishedWriterLeavesNoFiles) {
  TempDir dir;
  const std::string path = dir.path() + "/r.fnpact";
  {
    auto writer = ActivationWriter::Create(path, 2);
    ASSERT_TRUE(writer.ok());
    const float values[2] = {1, 2};
    ASSERT_TRUE((*writer)->Append(0, values).ok());
    EXPECT_TRUE(fs::exists(ActivationTempPath(path)));
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(ActivationTempPath(path)));
}

// A small file with several chunks, for the corruption tests.
std::string WriteSmallFile(const std::string& dir, ActivationFileInfo* info) {
  const std::string path = dir + "/small.fnpact";
  const Frames frames = MakeFrames(/*rows=*/10, /*width=*/3, /*seed=*/2);
  ActivationWriterOptions options;
  options.dtype = DType::kF32;
  options.rows_per_chunk = 4;     // Chunks of 4, 4, 2 rows.
  options.compression_level = 0;  // The tests' offsets are raw chunks'.
  auto written = WriteFrames(path, frames, options);
  EXPECT_TRUE(written.ok()) << written.status();
  if (info != nullptr && written.ok()) *info = *written;
  return path;
}

TEST(ActivationStoreTest, TornWriteAtAnyOffsetIsIncomplete) {
  TempDir dir;
  const std::string path = WriteSmallFile(dir.path(), nullptr);
  const std::string data = ReadAll(path);
  ASSERT_GT(data.size(), 100u);
  const std::string torn = dir.path() + "/torn.fnpact";
  for (size_t size = 0; size < data.size(); ++size) {
    WriteAll(torn, data.substr(0, size));
    auto reader = ActivationReader::Open(torn);
    ASSERT_EQ(reader.status().code(), absl::StatusCode::kDataLoss)
        << "truncated at " << size;
    EXPECT_THAT(reader.status().message(), HasSubstr("incomplete"))
        << "truncated at " << size;
    EXPECT_THAT(reader.status().message(), HasSubstr(torn));
  }
}

TEST(ActivationStoreTest, FlippedPayloadByteNamesTheChunk) {
  TempDir dir;
  const std::string path = WriteSmallFile(dir.path(), nullptr);
  std::string data = ReadAll(path);
  // Chunk 1 starts after the 32-byte file header and chunk 0 (40-byte header
  // plus 4 rows of 8-byte time point and 3 floats). Flip a value byte.
  const size_t chunk0 = 40 + 4 * (8 + 3 * 4);
  const size_t offset = 32 + chunk0 + 40 + 4 * 8 + 5;
  data[offset] ^= 0x10;
  WriteAll(path, data);

  auto reader = ActivationReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();  // Headers are intact.
  std::vector<float> out(10 * 3);
  EXPECT_TRUE((*reader)->ReadRows(0, 4, out.data()).ok());  // Chunk 0.
  absl::Status status = (*reader)->ReadRows(0, 10, out.data());
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_THAT(status.message(), HasSubstr("chunk 1: checksum mismatch"));
  status = (*reader)->VisitChunks(
      [](const ActivationReader::Chunk&) { return absl::OkStatus(); });
  EXPECT_THAT(status.message(), HasSubstr("chunk 1"));
  EXPECT_EQ((*reader)->VerifyFileChecksum().code(),
            absl::StatusCode::kDataLoss);
}

TEST(ActivationStoreTest, EveryFlippedByteIsDetected) {
  TempDir dir;
  const std::string path = WriteSmallFile(dir.path(), nullptr);
  const std::string data = ReadAll(path);
  const std::string bad = dir.path() + "/bad.fnpact";
  for (size_t i = 0; i < data.size(); ++i) {
    std::string copy = data;
    copy[i] ^= 0x01;
    WriteAll(bad, copy);
    auto reader = ActivationReader::Open(bad);
    if (!reader.ok()) {
      EXPECT_TRUE(reader.status().code() == absl::StatusCode::kDataLoss ||
                  reader.status().code() ==
                      absl::StatusCode::kFailedPrecondition)
          << i << ": " << reader.status();
      continue;
    }
    absl::Status visit = (*reader)->VisitChunks(
        [](const ActivationReader::Chunk&) { return absl::OkStatus(); });
    absl::Status whole = (*reader)->VerifyFileChecksum();
    EXPECT_FALSE(visit.ok() && whole.ok()) << "flip at " << i << " undetected";
  }
}

TEST(ActivationStoreTest, InjectedWriteFailureLeavesNoFile) {
  for (bool short_write : {false, true}) {
    for (int fail_at : {1, 2, 3, 4}) {  // Header, chunk 0, chunk 1, footer.
      SCOPED_TRACE(::testing::Message()
                   << "fail_at " << fail_at << " short " << short_write);
      TempDir dir;
      const std::string path = dir.path() + "/run.fnpact";
      FaultInjectionEnv faulty;
      faulty.fail_append_at = fail_at;
      faulty.short_write = short_write;
      ActivationWriterOptions options;
      options.dtype = DType::kBF16;
      options.rows_per_chunk = 4;
      options.fs = &faulty;
      const Frames frames = MakeFrames(8, 5, 3);  // Two full chunks.
      auto info = WriteFrames(path, frames, options);
      ASSERT_FALSE(info.ok());
      EXPECT_EQ(info.status().code(), absl::StatusCode::kResourceExhausted);
      EXPECT_THAT(info.status().message(), HasSubstr(path));
      EXPECT_FALSE(fs::exists(path));
      EXPECT_FALSE(fs::exists(ActivationTempPath(path)));
    }
  }
}

TEST(ActivationStoreTest, FailedSyncOrRenameLeavesNoFile) {
  for (int which = 0; which < 3; ++which) {
    TempDir dir;
    const std::string path = dir.path() + "/run.fnpact";
    FaultInjectionEnv faulty;
    faulty.fail_sync = which == 0;
    faulty.fail_rename = which == 1;
    faulty.fail_sync_directory = which == 2;
    ActivationWriterOptions options;
    options.fs = &faulty;
    auto writer = ActivationWriter::Create(path, 3, options);
    ASSERT_TRUE(writer.ok());
    const float values[3] = {1, 2, 3};
    ASSERT_TRUE((*writer)->Append(0, values).ok());
    EXPECT_FALSE((*writer)->Finish().ok());
    EXPECT_FALSE((*writer)->Append(1, values).ok());  // Stays failed.
    EXPECT_FALSE(fs::exists(path));
    EXPECT_FALSE(fs::exists(ActivationTempPath(path)));
  }
}

TEST(ActivationStoreTest, SigkillMidWriteLeavesOnlyATemporary) {
  TempDir dir;
  ActivationFileInfo done_info;
  const std::string done = WriteSmallFile(dir.path(), &done_info);
  const std::string path = dir.path() + "/killed.fnpact";
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    ActivationWriterOptions options;
    options.rows_per_chunk = 4;
    auto writer = ActivationWriter::Create(path, 16, options);
    if (!writer.ok()) ::_exit(1);
    std::vector<float> values(16, 0.5f);
    for (int64_t t = 0;; ++t) {
      if (!(*writer)->Append(t, values.data()).ok()) ::_exit(2);
      if (t == 100) {
        const char byte = 1;
        if (::write(ready[1], &byte, 1) != 1) ::_exit(3);
      }
      if (t > 100) ::usleep(1000);  // Keep writing until killed.
    }
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFSIGNALED(wstatus));
  EXPECT_EQ(WTERMSIG(wstatus), SIGKILL);

  EXPECT_FALSE(fs::exists(path));
  const std::string temp = ActivationTempPath(path);
  ASSERT_TRUE(fs::exists(temp));
  auto reader = ActivationReader::Open(temp);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(reader.status().message(), HasSubstr("incomplete"));

  auto cleaned = CleanupTemporaries(dir.path());
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  EXPECT_EQ(*cleaned, 1);
  EXPECT_FALSE(fs::exists(temp));
  // The finished file beside it is untouched and a fresh write succeeds.
  auto done_reader = ActivationReader::Open(done);
  ASSERT_TRUE(done_reader.ok()) << done_reader.status();
  EXPECT_EQ((*done_reader)->checksum(), done_info.checksum);
  auto again = WriteFrames(path, MakeFrames(5, 16, 4), {});
  EXPECT_TRUE(again.ok()) << again.status();
}

}  // namespace
}  // namespace fnprobe
