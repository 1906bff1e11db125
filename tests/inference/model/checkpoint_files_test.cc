#include "server/inference/model/checkpoint_files.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "common/safetensors_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::ReferencePath;
using ::fnprobe::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::EndsWith;
using ::testing::HasSubstr;

constexpr char kIndex[] = "model.safetensors.index.json";
constexpr char kShard1[] = "model-00001-of-00002.safetensors";
constexpr char kShard2[] = "model-00002-of-00002.safetensors";

// A checkpoint directory built in a fresh temp dir.
class CheckpointFilesTest : public ::testing::Test {
 protected:
  // Writes a shard holding one F32 tensor [2] per name.
  void WriteShard(const std::string& file,
                  const std::vector<std::string>& names) {
    SafetensorsWriter writer;
    writer.SetMetadata("format", "pt");
    for (const std::string& name : names) {
      ASSERT_OK(writer.AddFloat32(name, {2}, {1.0f, 2.0f}));
    }
    ASSERT_OK(writer.WriteFile(dir_ + "/" + file));
  }

  void WriteText(const std::string& file, const std::string& text) {
    std::ofstream out(dir_ + "/" + file, std::ios::binary);
    out << text;
    ASSERT_TRUE(out.good());
  }

  // Two shards and an index mapping each tensor to its shard.
  void WriteTwoShards() {
    WriteShard(kShard1, {"embed.weight", "layers.0.weight"});
    WriteShard(kShard2, {"layers.1.weight", "lm_head.weight"});
    WriteText(kIndex, std::string(R"({"metadata":{"total_size":32},)") +
                          R"("weight_map":{"embed.weight":")" + kShard1 +
                          R"(","layers.0.weight":")" + kShard1 +
                          R"(","layers.1.weight":")" + kShard2 +
                          R"(","lm_head.weight":")" + kShard2 + R"("}})");
  }

  // An index mapping `tensor` to `shard` only.
  void WriteIndex(const std::string& tensor, const std::string& shard) {
    WriteText(kIndex,
              R"({"weight_map":{")" + tensor + R"(":")" + shard + R"("}})");
  }

  const std::string dir_ = MakeTempDir("checkpoint_files_test");
};

// A single-file reference checkpoint opens and lists its tensors.
TEST_F(CheckpointFilesTest, OpensSingleFileCheckpoint) {
  const std::string model_dir = ReferencePath("models/llama");
  auto files = CheckpointFiles::Open(model_dir);
  ASSERT_OK(files);
  const TensorView* head = (*files)->Find("lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_THAT(head->shape, ElementsAre(1257, 64));
  EXPECT_THAT((*files)->FileOf("lm_head.weight"),
              EndsWith("llama/model.safetensors"));
  const std::vector<std::string> names = (*files)->Names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(names.front(), "lm_head.weight");
  EXPECT_EQ((*files)->Find("absent"), nullptr);
  EXPECT_EQ((*files)->FileOf("absent"), "");
}

// Each tensor of a sharded checkpoint is found in the shard the index names.
TEST_F(CheckpointFilesTest, OpensShardedCheckpoint) {
  WriteTwoShards();
  auto files = CheckpointFiles::Open(dir_);
  ASSERT_OK(files);
  EXPECT_THAT((*files)->Names(),
              ElementsAre("embed.weight", "layers.0.weight", "layers.1.weight",
                          "lm_head.weight"));
  EXPECT_EQ((*files)->FileOf("layers.0.weight"), dir_ + "/" + kShard1);
  EXPECT_EQ((*files)->FileOf("lm_head.weight"), dir_ + "/" + kShard2);
  const TensorView* view = (*files)->Find("layers.1.weight");
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->dtype, DType::kF32);
  EXPECT_THAT(view->shape, ElementsAre(2));
  EXPECT_EQ((*files)->Find("nope"), nullptr);
}

TEST_F(CheckpointFilesTest, MissingDirectoryIsNotFound) {
  const std::string missing = dir_ + "/no_such_model";
  EXPECT_THAT(CheckpointFiles::Open(missing),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(missing)));
}

TEST_F(CheckpointFilesTest, DirectoryWithoutWeightsIsNotFound) {
  WriteText("config.json", "{}");
  EXPECT_THAT(CheckpointFiles::Open(dir_),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(dir_), HasSubstr(kIndex))));
}

TEST_F(CheckpointFilesTest, IndexNamingMissingShardIsNotFound) {
  WriteIndex("w", "model-00003-of-00003.safetensors");
  EXPECT_THAT(CheckpointFiles::Open(dir_),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr(kIndex),
                             HasSubstr("model-00003-of-00003.safetensors"))));
}

TEST_F(CheckpointFilesTest, IndexMappingTensorNotInItsShardIsRefused) {
  WriteShard(kShard1, {"a"});
  WriteShard(kShard2, {"b"});
  WriteText(kIndex, std::string(R"({"weight_map":{"a":")") + kShard2 +
                        R"(","b":")" + kShard2 + R"("}})");
  EXPECT_THAT(CheckpointFiles::Open(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(kIndex), HasSubstr("tensor 'a'"),
                             HasSubstr(kShard2))));
  // A tensor in no shard at all.
  WriteIndex("ghost", kShard1);
  EXPECT_THAT(CheckpointFiles::Open(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tensor 'ghost'")));
}

TEST_F(CheckpointFilesTest, TensorInTwoShardsIsRefused) {
  WriteShard(kShard1, {"a", "shared"});
  WriteShard(kShard2, {"b", "shared"});
  WriteText(kIndex, std::string(R"({"weight_map":{"a":")") + kShard1 +
                        R"(","b":")" + kShard2 + R"(","shared":")" + kShard1 +
                        R"("}})");
  EXPECT_THAT(CheckpointFiles::Open(dir_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tensor 'shared' appears in both"),
                             HasSubstr(kShard1), HasSubstr(kShard2))));
}

// Shard names that could leave the directory are refused before any open.
TEST_F(CheckpointFilesTest, ShardNameOutsideDirectoryIsRefused) {
  for (const char* shard : {"../model.safetensors", "sub/model.safetensors",
                            "..", ".", "/etc/passwd", ""}) {
    WriteIndex("w", shard);
    EXPECT_THAT(
        CheckpointFiles::Open(dir_),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 AllOf(HasSubstr(kIndex), HasSubstr("not a plain file name"))))
        << shard;
  }
}

TEST_F(CheckpointFilesTest, MalformedIndexIsRefused) {
  for (const char* text :
       {"", "not json", "[]", R"({"metadata":{}})", R"({"weight_map":{}})",
        R"({"weight_map":[]})", R"({"weight_map":{"w":1}})",
        R"({"metadata":3,"weight_map":{"w":"x.safetensors"}})"}) {
    WriteText(kIndex, text);
    EXPECT_THAT(CheckpointFiles::Open(dir_),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(kIndex)))
        << text;
  }
}

// A damaged shard fails with the reader's error, prefixed by the index.
TEST_F(CheckpointFilesTest, CorruptShardNamesIndexAndShard) {
  WriteText(kShard1, "abc");
  WriteIndex("w", kShard1);
  EXPECT_THAT(CheckpointFiles::Open(dir_),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(kIndex), HasSubstr(kShard1),
                             HasSubstr("truncated"))));
}

// With both layouts present, model.safetensors wins, as in transformers.
TEST_F(CheckpointFilesTest, SingleFileWinsOverIndex) {
  WriteTwoShards();
  WriteShard("model.safetensors", {"only"});
  auto files = CheckpointFiles::Open(dir_);
  ASSERT_OK(files);
  EXPECT_THAT((*files)->Names(), ElementsAre("only"));
}

}  // namespace
}  // namespace fnprobe
