// Compressed activation chunks (format 2, issue 18): exact round trips,
// incompressible data left raw, version 1 files still read, and corrupt
// compressed chunks reported as DATA_LOSS.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/storage/activation_store.h"
#include "server/analysis/storage/crc32c.h"
#include "tests/analysis/storage/activation_test_util.h"
#include "tests/support/reference_data.h"

namespace fnprobe {
namespace {

namespace fs = std::filesystem;
using ::fnprobe::testing::Frames;
using ::fnprobe::testing::GetAt;
using ::fnprobe::testing::PutAt;
using ::fnprobe::testing::ReadAll;
using ::fnprobe::testing::WriteAll;
using ::fnprobe::testing::WriteFrames;
using TempDir = ::fnprobe::testing::ActivationTempDir;
using ::testing::AnyOf;
using ::testing::HasSubstr;

// Activation-like rows: per-unit scales, values on a grid of 1/steps (4
// makes every dtype compress well below kMaxCompressedFraction; finer grids
// compress less), time points in reverse order.
Frames CompressibleFrames(int64_t rows, int64_t width, uint32_t seed,
                          float steps = 4) {
  Frames f;
  f.width = width;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> scale(width);
  for (float& s : scale) s = std::exp2(std::round(normal(rng)));
  for (int64_t r = 0; r < rows; ++r) {
    f.time_points.push_back(rows - 1 - r);
    for (int64_t u = 0; u < width; ++u) {
      f.values.push_back(scale[u] * std::round(steps * normal(rng)) / steps);
    }
  }
  return f;
}

// Finite floats with uniformly random bits: nothing for zstd to find.
Frames RandomBitFrames(int64_t rows, int64_t width, uint32_t seed) {
  Frames f;
  f.width = width;
  std::mt19937 rng(seed);
  for (int64_t r = 0; r < rows; ++r) {
    f.time_points.push_back(r);
    for (int64_t u = 0; u < width; ++u) {
      uint32_t bits = rng();
      if ((bits & 0x7f800000u) == 0x7f800000u) bits ^= 0x00800000u;
      float v;
      std::memcpy(&v, &bits, sizeof(v));
      f.values.push_back(v);
    }
  }
  return f;
}

// Every row and time point of `path`, read both ways (ReadRows and
// VisitChunks must agree); the status of the first failure otherwise.
absl::Status ReadEverything(const std::string& path, std::vector<float>* values,
                            std::vector<int64_t>* time_points) {
  auto reader = ActivationReader::Open(path);
  if (!reader.ok()) return reader.status();
  const int64_t rows = (*reader)->rows();
  const int64_t width = (*reader)->width();
  values->assign(rows * width, 0.0f);
  time_points->assign(rows, -1);
  absl::Status status =
      (*reader)->ReadRows(0, rows, values->data(), time_points->data());
  if (!status.ok()) return status;
  std::vector<float> visited;
  status = (*reader)->VisitChunks([&](const ActivationReader::Chunk& c) {
    visited.insert(visited.end(), c.values, c.values + c.rows * width);
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  if (std::memcmp(visited.data(), values->data(),
                  values->size() * sizeof(float)) != 0) {
    return absl::InternalError("VisitChunks and ReadRows disagree");
  }
  return (*reader)->VerifyFileChecksum();
}

class CompressedRoundTripTest
    : public ::testing::TestWithParam<std::tuple<DType, int>> {};

// A compressed file reads back bit for bit what the same rows written
// without compression read back, and the writer's raw_bytes is that
// uncompressed file's size.
TEST_P(CompressedRoundTripTest, ReadsBackExactlyWhatRawChunksHold) {
  const auto [dtype, level] = GetParam();
  TempDir dir;
  const Frames frames = CompressibleFrames(/*rows=*/70, /*width=*/301, 7);
  ActivationWriterOptions options;
  options.dtype = dtype;
  options.rows_per_chunk = 16;  // 4 full chunks and a partial one.
  options.compression_level = 0;
  const std::string raw_path = dir.path() + "/raw.fnpact";
  auto raw_info = WriteFrames(raw_path, frames, options);
  ASSERT_TRUE(raw_info.ok()) << raw_info.status();
  EXPECT_EQ(raw_info->compressed_chunks, 0);
  EXPECT_EQ(raw_info->raw_bytes, raw_info->bytes);

  options.compression_level = level;
  const std::string path = dir.path() + "/zstd.fnpact";
  auto info = WriteFrames(path, frames, options);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->chunks, 5);
  EXPECT_EQ(info->compressed_chunks, 5);
  EXPECT_EQ(info->bytes, fs::file_size(path));
  EXPECT_EQ(info->raw_bytes, raw_info->bytes);
  EXPECT_LT(info->bytes, kMaxCompressedFraction * raw_info->bytes);
  EXPECT_EQ(info->file_crc,
            crc32c::Value(ReadAll(path).data(), info->bytes - 40));

  std::vector<float> want, got;
  std::vector<int64_t> want_tp, got_tp;
  ASSERT_TRUE(ReadEverything(raw_path, &want, &want_tp).ok());
  absl::Status status = ReadEverything(path, &got, &got_tp);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(got_tp, frames.time_points);
  EXPECT_EQ(got_tp, want_tp);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)),
            0);

  // A window across chunk boundaries, from a fresh reader on one thread.
  auto reader = ActivationReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  (*reader)->set_num_threads(1);
  std::vector<float> window(30 * 301);
  ASSERT_TRUE((*reader)->ReadRows(10, 30, window.data()).ok());
  EXPECT_TRUE(
      std::equal(window.begin(), window.end(), want.begin() + 10 * 301));
}

INSTANTIATE_TEST_SUITE_P(
    DTypesAndLevels, CompressedRoundTripTest,
    ::testing::Combine(::testing::Values(DType::kF32, DType::kF16,
                                         DType::kBF16),
                       ::testing::Values(1, 3)),
    [](const auto& info) {
      return std::string(DTypeName(std::get<0>(info.param))) + "_level" +
             std::to_string(std::get<1>(info.param));
    });

// Compressed chunks of 2 MiB and more are read by two threads; they
// round-trip too.
TEST(ActivationCompressionTest, LargeCompressedChunksRoundTrip) {
  TempDir dir;
  const Frames frames =
      CompressibleFrames(/*rows=*/6, /*width=*/400001, 8, /*steps=*/4096);
  ActivationWriterOptions options;
  options.dtype = DType::kF32;
  options.rows_per_chunk = 4;  // 6.4 MB raw chunks.
  const std::string path = dir.path() + "/large.fnpact";
  auto info = WriteFrames(path, frames, options);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(info->compressed_chunks, 2);
  const uint64_t stored0 = GetAt<uint64_t>(ReadAll(path), 32 + 40);
  ASSERT_GE(stored0, uint64_t{2} << 20);
  std::vector<float> got;
  std::vector<int64_t> tp;
  absl::Status status = ReadEverything(path, &got, &tp);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(got, frames.values);
  EXPECT_EQ(tp, frames.time_points);
}

// Data zstd cannot shrink by 10% is written raw: the file is the
// uncompressed size and reads back.
TEST(ActivationCompressionTest, IncompressibleChunksStayRaw) {
  TempDir dir;
  const Frames frames = RandomBitFrames(/*rows=*/40, /*width=*/257, 9);
  ActivationWriterOptions options;
  options.dtype = DType::kF32;
  options.rows_per_chunk = 16;
  options.compression_level = 3;
  const std::string path = dir.path() + "/noise.fnpact";
  auto info = WriteFrames(path, frames, options);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->chunks, 3);
  EXPECT_EQ(info->compressed_chunks, 0);
  EXPECT_EQ(info->bytes, info->raw_bytes);
  EXPECT_EQ(info->bytes, 32 + 40 * 3 + 40 * (8 + 257 * 4) + 40);
  std::vector<float> got;
  std::vector<int64_t> tp;
  absl::Status status = ReadEverything(path, &got, &tp);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(
      std::memcmp(got.data(), frames.values.data(), got.size() * sizeof(float)),
      0);
  EXPECT_EQ(tp, frames.time_points);
}

// With compression off the writer produces exactly the version 1 layout,
// which older readers read.
TEST(ActivationCompressionTest, CompressionOffWritesVersion1Files) {
  TempDir dir;
  const Frames frames = CompressibleFrames(/*rows=*/10, /*width=*/5, 10);
  ActivationWriterOptions options;
  options.dtype = DType::kF16;
  options.rows_per_chunk = 4;  // Chunks of 4, 4, 2 rows.
  options.compression_level = 0;
  const std::string path = dir.path() + "/v1.fnpact";
  auto info = WriteFrames(path, frames, options);
  ASSERT_TRUE(info.ok()) << info.status();
  const std::string data = ReadAll(path);
  ASSERT_EQ(data.size(), 32 + 3 * 40 + 10 * (8 + 5 * 2) + 40);
  EXPECT_EQ(GetAt<uint32_t>(data, 8), 1u);  // File format version.
  size_t offset = 32;
  for (uint32_t rows : {4, 4, 2}) {
    EXPECT_EQ(GetAt<uint16_t>(data, offset + 4), 1u);  // Chunk version.
    EXPECT_EQ(GetAt<uint32_t>(data, offset + 12), rows);
    offset += 40 + rows * (8 + 5 * 2);
  }
  std::vector<float> got;
  std::vector<int64_t> tp;
  ASSERT_TRUE(ReadEverything(path, &got, &tp).ok());
  EXPECT_EQ(got, frames.values);  // The grid values are exact in F16.

  options.compression_level = 1;
  auto compressed = WriteFrames(dir.path() + "/v2.fnpact", frames, options);
  ASSERT_TRUE(compressed.ok());
  EXPECT_EQ(GetAt<uint32_t>(ReadAll(dir.path() + "/v2.fnpact"), 8), 2u);
}

// A version 1 file assembled here by hand, as writers before compression
// made them, reads back.
TEST(ActivationCompressionTest, ReadsAHandMadeVersion1File) {
  TempDir dir;
  std::string file("FNPACTV1", 8);
  auto put32 = [](std::string* s, uint32_t v) {
    s->append(reinterpret_cast<const char*>(&v), 4);
  };
  auto put64 = [](std::string* s, uint64_t v) {
    s->append(reinterpret_cast<const char*>(&v), 8);
  };
  put32(&file, 1);   // Version.
  put32(&file, 1);   // F32.
  put64(&file, 2);   // Width.
  put32(&file, 64);  // Rows per chunk.
  put32(&file, crc32c::Value(file));
  std::string payload;
  put64(&payload, 7);  // The one row's time point.
  const float row[2] = {1.5f, -2.25f};
  payload.append(reinterpret_cast<const char*>(row), sizeof(row));
  std::string chunk;
  put32(&chunk, 0x4B4E4843);            // "CHNK".
  chunk.append("\x01\x00\x01\x00", 4);  // Chunk version 1, F32.
  put32(&chunk, 0);                     // Index.
  put32(&chunk, 1);                     // Rows.
  put64(&chunk, 2);                     // Width.
  put64(&chunk, 0);                     // First row.
  put32(&chunk, crc32c::Value(payload));
  put32(&chunk, crc32c::Value(chunk));
  file += chunk + payload;
  std::string footer("FNPEND01", 8);
  put64(&footer, 1);            // Rows.
  put64(&footer, 1);            // Chunks.
  put64(&footer, file.size());  // Footer offset.
  put32(&footer, crc32c::Value(file));
  put32(&footer, crc32c::Value(footer));
  const std::string path = dir.path() + "/old.fnpact";
  WriteAll(path, file + footer);

  std::vector<float> got;
  std::vector<int64_t> tp;
  absl::Status status = ReadEverything(path, &got, &tp);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(got, std::vector<float>({1.5f, -2.25f}));
  EXPECT_EQ(tp, std::vector<int64_t>({7}));
}

// A small compressed file: chunks of 8, 8 and 4 rows, all compressed.
std::string WriteCompressedFile(const std::string& dir) {
  const std::string path = dir + "/small.fnpact";
  ActivationWriterOptions options;
  options.dtype = DType::kF16;
  options.rows_per_chunk = 8;
  auto info = WriteFrames(path, CompressibleFrames(20, 64, 11), options);
  EXPECT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->compressed_chunks, 3);
  return path;
}

// Offset of chunk `index`'s header in a file of compressed chunks.
size_t CompressedChunkOffset(const std::string& data, int index) {
  size_t offset = 32;
  for (int i = 0; i < index; ++i)
    offset += 56 + GetAt<uint64_t>(data, offset + 40);
  return offset;
}

TEST(ActivationCompressionTest, FlippedStoredByteIsAChecksumMismatch) {
  TempDir dir;
  const std::string path = WriteCompressedFile(dir.path());
  std::string data = ReadAll(path);
  const size_t chunk1 = CompressedChunkOffset(data, 1);
  data[chunk1 + 56 + 3] ^= 0x08;
  WriteAll(path, data);
  auto reader = ActivationReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<float> out(20 * 64);
  EXPECT_TRUE((*reader)->ReadRows(0, 8, out.data()).ok());  // Chunk 0.
  absl::Status status = (*reader)->ReadRows(0, 20, out.data());
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              HasSubstr(path + ": chunk 1: checksum mismatch"));
}

// Garbage that passes the CRC (as a writer bug or a crafted file would
// make) reaches zstd, which reports it: the reader says DATA_LOSS naming the
// chunk, never crashes, and never hands out rows other than those written
// (a flip zstd does not notice, e.g. in an unused header bit, must leave the
// rows intact; the frame's content checksum catches the rest).
TEST(ActivationCompressionTest, BadCompressedBytesWithAGoodCrcAreDataLoss) {
  TempDir dir;
  const std::string path = WriteCompressedFile(dir.path());
  const std::string data = ReadAll(path);
  std::vector<float> want(20 * 64);
  {
    auto reader = ActivationReader::Open(path);
    ASSERT_TRUE(reader.ok());
    ASSERT_TRUE((*reader)->ReadRows(0, 20, want.data()).ok());
  }
  const size_t chunk1 = CompressedChunkOffset(data, 1);
  const size_t stored = GetAt<uint64_t>(data, chunk1 + 40);
  size_t errors = 0;
  for (size_t i = 0; i < stored; ++i) {
    std::string bad = data;
    bad[chunk1 + 56 + i] ^= 0x20;
    PutAt<uint32_t>(&bad, chunk1 + 48,
                    crc32c::Value(&bad[chunk1 + 56], stored));
    PutAt<uint32_t>(&bad, chunk1 + 52, crc32c::Value(&bad[chunk1], 52));
    WriteAll(path, bad);
    auto reader = ActivationReader::Open(path);
    ASSERT_TRUE(reader.ok()) << i << ": " << reader.status();
    std::vector<float> out(8 * 64);
    absl::Status status = (*reader)->ReadRows(8, 8, out.data());
    if (status.ok()) {
      EXPECT_TRUE(std::equal(out.begin(), out.end(), want.begin() + 8 * 64))
          << "flip at " << i << " read back wrong rows";
      continue;
    }
    ++errors;
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << "flip at " << i;
    EXPECT_THAT(status.message(), HasSubstr(path + ": chunk 1: "));
  }
  EXPECT_GT(errors, stored * 9 / 10);
}

// Every single-bit flip anywhere in a compressed file is caught at Open or
// when the rows or the whole file are read.
TEST(ActivationCompressionTest, EveryFlippedByteIsDetected) {
  TempDir dir;
  const std::string path = WriteCompressedFile(dir.path());
  const std::string data = ReadAll(path);
  const std::string bad = dir.path() + "/bad.fnpact";
  for (size_t i = 0; i < data.size(); ++i) {
    std::string copy = data;
    copy[i] ^= 0x01;
    WriteAll(bad, copy);
    auto reader = ActivationReader::Open(bad);
    if (!reader.ok()) {
      EXPECT_THAT(reader.status().code(),
                  AnyOf(absl::StatusCode::kDataLoss,
                        absl::StatusCode::kFailedPrecondition))
          << i << ": " << reader.status();
      continue;
    }
    absl::Status visit = (*reader)->VisitChunks(
        [](const ActivationReader::Chunk&) { return absl::OkStatus(); });
    absl::Status whole = (*reader)->VerifyFileChecksum();
    EXPECT_FALSE(visit.ok() && whole.ok()) << "flip at " << i << " undetected";
  }
}

// A compressed chunk in a file that claims version 1 (which cannot hold
// one) is refused at Open.
TEST(ActivationCompressionTest, CompressedChunkInAVersion1FileIsDataLoss) {
  TempDir dir;
  const std::string path = WriteCompressedFile(dir.path());
  std::string data = ReadAll(path);
  PutAt<uint32_t>(&data, 8, 1);
  PutAt<uint32_t>(&data, 28, crc32c::Value(data.data(), 28));
  WriteAll(path, data);
  auto reader = ActivationReader::Open(path);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(reader.status().message(), HasSubstr("chunk 0"));
}

TEST(ActivationCompressionTest, TornCompressedFileIsIncomplete) {
  TempDir dir;
  const std::string path = WriteCompressedFile(dir.path());
  const std::string data = ReadAll(path);
  const std::string torn = dir.path() + "/torn.fnpact";
  for (size_t size = 0; size < data.size(); size += 7) {
    WriteAll(torn, data.substr(0, size));
    auto reader = ActivationReader::Open(torn);
    ASSERT_EQ(reader.status().code(), absl::StatusCode::kDataLoss) << size;
    EXPECT_THAT(reader.status().message(), HasSubstr("incomplete")) << size;
  }
}

TEST(ActivationCompressionTest, RefusesLevelsOutsideZeroToNineteen) {
  TempDir dir;
  for (int level : {-1, 20}) {
    ActivationWriterOptions options;
    options.compression_level = level;
    EXPECT_EQ(ActivationWriter::Create(dir.path() + "/x.fnpact", 4, options)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument)
        << level;
  }
}

}  // namespace
}  // namespace fnprobe
