#include "common/safetensors_writer.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/safetensors_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::ReferencePath;
using ::fnprobe::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

// Entries of `dir`, to check that no temporary file is left behind.
std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

uint64_t HeaderLength(const std::string& file) {
  uint64_t length;
  std::memcpy(&length, file.data(), sizeof(length));
  return length;
}

// Re-writing every tensor and the metadata of each reference file gives the
// file back byte for byte: same order, same JSON, same padding.
TEST(SafetensorsWriterTest, ReproducesReferenceFilesByteForByte) {
  const std::string dir = MakeTempDir("safetensors_writer_test");
  for (const char* family : {"gpt2", "gpt_neox", "llama", "opt"}) {
    for (const char* file : {"model.safetensors", "reference.safetensors"}) {
      const std::string path =
          ReferencePath(std::string("models/") + family + "/" + file);
      auto reader = SafetensorsReader::Open(path);
      ASSERT_OK(reader);
      SafetensorsWriter writer;
      for (const std::string& name : (*reader)->names()) {
        const TensorView* view = (*reader)->Find(name);
        ASSERT_OK(writer.Add(
            name, view->dtype, view->shape,
            std::vector<uint8_t>(view->data, view->data + view->nbytes)));
      }
      for (const auto& [key, value] : (*reader)->metadata()) {
        writer.SetMetadata(key, value);
      }
      const std::string original = ReadFileOrDie(path);
      EXPECT_TRUE(writer.Serialize() == original) << path;
      const std::string copy = dir + "/" + family + "_" + file;
      ASSERT_OK(writer.WriteFile(copy));
      EXPECT_TRUE(ReadFileOrDie(copy) == original) << path;
    }
  }
}

// Written tensors read back with their dtype, shape and values, laid out by
// (dtype size descending, name), with the header padded to 8 bytes.
TEST(SafetensorsWriterTest, RoundTripsThroughReader) {
  SafetensorsWriter writer;
  ASSERT_OK(writer.AddFloat32("w", {2, 2}, {1.0f, -2.0f, 3.5f, 0.0f}));
  ASSERT_OK(writer.AddInt64("ids", {3}, {7, -1, 1LL << 40}));
  ASSERT_OK(writer.Add("mask", DType::kU8, {2}, {1, 0}));
  ASSERT_OK(writer.Add("h", DType::kF16, {1}, {0x00, 0x3c}));
  ASSERT_OK(writer.Add("a", DType::kF32, {0}, {}));
  writer.SetMetadata("zeta", "last");
  writer.SetMetadata("format", "pt");
  writer.SetMetadata("alpha", "quote\" and\nnewline");

  const std::string path = MakeTempDir("safetensors_writer_test") + "/t.st";
  ASSERT_OK(writer.WriteFile(path));
  const std::string bytes = ReadFileOrDie(path);
  EXPECT_EQ(HeaderLength(bytes) % 8, 0u);
  EXPECT_THAT(bytes.substr(8),
              StartsWith(R"({"__metadata__":{"format":"pt","alpha":)"
                         R"("quote\" and\nnewline","zeta":"last"},)"
                         R"("ids":{"dtype":"I64","shape":[3],)"
                         R"("data_offsets":[0,24]},)"));

  auto reader = SafetensorsReader::Open(path);
  ASSERT_OK(reader);
  EXPECT_THAT((*reader)->names(), ElementsAre("ids", "a", "w", "h", "mask"));
  EXPECT_THAT((*reader)->metadata(),
              ElementsAre(Pair("alpha", "quote\" and\nnewline"),
                          Pair("format", "pt"), Pair("zeta", "last")));
  auto w = (*reader)->ReadFloat32("w");
  ASSERT_OK(w);
  EXPECT_THAT(*w, ElementsAre(1.0f, -2.0f, 3.5f, 0.0f));
  EXPECT_THAT((*reader)->Find("w")->shape, ElementsAre(2, 2));
  auto ids = (*reader)->ReadInt64("ids");
  ASSERT_OK(ids);
  EXPECT_THAT(*ids, ElementsAre(7, -1, 1LL << 40));
  auto h = (*reader)->ReadFloat32("h");
  ASSERT_OK(h);
  EXPECT_THAT(*h, ElementsAre(1.0f));
  EXPECT_EQ((*reader)->Find("a")->nbytes, 0u);
}

// An empty writer gives a valid file with an empty, padded header.
TEST(SafetensorsWriterTest, EmptyFile) {
  const std::string bytes = SafetensorsWriter().Serialize();
  EXPECT_EQ(bytes, std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
}

// Bad tensors are refused with INVALID_ARGUMENT naming the tensor.
TEST(SafetensorsWriterTest, AddValidates) {
  SafetensorsWriter writer;
  ASSERT_OK(writer.AddFloat32("x", {1}, {1.0f}));
  EXPECT_THAT(writer.AddFloat32("", {1}, {1.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(writer.AddFloat32("__metadata__", {1}, {1.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'__metadata__'")));
  EXPECT_THAT(writer.AddFloat32("x", {1}, {2.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'x'"), HasSubstr("already added"))));
  EXPECT_THAT(writer.Add("n", DType::kU8, {-1}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'n'"), HasSubstr("negative"))));
  EXPECT_THAT(writer.AddFloat32("m", {2, 2}, {1.0f, 2.0f}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'m'"),
                             HasSubstr("shape/byte-count mismatch"))));
  EXPECT_THAT(
      writer.Add("o", DType::kF64, {1LL << 40, 1LL << 40}, {}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overflows")));
  EXPECT_THAT(writer.Add("bad\xff", DType::kU8, {0}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not valid UTF-8")));
}

// A second write replaces the file whole; no temporary file remains.
TEST(SafetensorsWriterTest, WriteFileReplacesExistingFile) {
  const std::string dir = MakeTempDir("safetensors_writer_test");
  const std::string path = dir + "/model.safetensors";
  SafetensorsWriter first;
  ASSERT_OK(first.AddFloat32("a", {1}, {1.0f}));
  ASSERT_OK(first.WriteFile(path));
  SafetensorsWriter second;
  ASSERT_OK(second.AddFloat32("b", {2}, {2.0f, 3.0f}));
  ASSERT_OK(second.WriteFile(path));
  EXPECT_EQ(ReadFileOrDie(path), second.Serialize());
  EXPECT_THAT(DirEntries(dir), ElementsAre("model.safetensors"));
}

// A failed write names the path, leaves what was there untouched and
// removes its temporary file.
TEST(SafetensorsWriterTest, FailedWriteLeavesNothingBehind) {
  const std::string dir = MakeTempDir("safetensors_writer_test");
  SafetensorsWriter writer;
  ASSERT_OK(writer.AddFloat32("a", {1}, {1.0f}));

  const std::string missing = dir + "/no_such_dir/model.safetensors";
  EXPECT_THAT(writer.WriteFile(missing),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(missing)));

  // Renaming a file over a non-empty directory fails after the data was
  // written: the temporary file must go.
  const std::string occupied = dir + "/occupied";
  std::filesystem::create_directory(occupied);
  std::ofstream(occupied + "/keep") << "x";
  EXPECT_THAT(writer.WriteFile(occupied),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(occupied), HasSubstr("rename"))));
  EXPECT_THAT(DirEntries(dir), ElementsAre("occupied"));
  EXPECT_EQ(ReadFileOrDie(occupied + "/keep"), "x");
}

}  // namespace
}  // namespace fnprobe
