// fnprobe-capture's output, compared tensor by tensor with the reference
// recording (reference.safetensors): every reference tensor is present with
// the same shape; floats within 1e-4, ids exact. Through the library and
// through the binary.
#include "server/inference/tools/offline_capture.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/safetensors_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/reference_data.h"
#include "tests/support/reference_tensors.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::MaxAbsDiff;
using ::fnprobe::testing::ReferenceTensors;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// Prompts as the reference recorded them; prompt 1 given as token ids to
// exercise both input forms.
std::string PromptsJson(const ReferenceTensors& ref) {
  nlohmann::json prompts = nlohmann::json::array();
  for (int k = 0; k < ref.NumPrompts(); ++k) {
    if (k == 1) {
      prompts.push_back(ref.Ints("p1.input_ids"));
    } else {
      prompts.push_back(ref.index()["prompts"][k]["text"]);
    }
  }
  return prompts.dump();
}

void ExpectMatchesReference(const std::string& out_path,
                            const ReferenceTensors& ref) {
  auto out = SafetensorsReader::Open(out_path);
  ASSERT_OK(out);
  int floats = 0;
  for (const std::string& name : ref.Names()) {
    const TensorView* t = (*out)->Find(name);
    ASSERT_NE(t, nullptr) << name << " missing from the capture";
    EXPECT_EQ(t->shape, ref.Shape(name)) << name;
    if (t->dtype == DType::kI64) {
      EXPECT_EQ(*(*out)->ReadInt64(name), ref.Ints(name)) << name;
    } else {
      EXPECT_LE(MaxAbsDiff(*(*out)->ReadFloat32(name), ref.Floats(name)), 1e-4)
          << name;
      ++floats;
    }
  }
  EXPECT_GT(floats, 100);
  // Nothing beyond the reference but decode-step copies of other hooks.
  for (const std::string& name : (*out)->names()) {
    if (ref.Has(name)) continue;
    EXPECT_TRUE(name[0] == 'p' && absl::StrContains(name, ".gen."))
        << name << " is neither in the reference nor a decode-step tensor";
  }
}

class OfflineCaptureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OfflineCaptureTest, LibraryOutputMatchesReferenceFile) {
  ReferenceTensors ref(GetParam());
  std::string dir = MakeTempDir("capture");
  WriteFile(dir + "/prompts.json", PromptsJson(ref));
  OfflineCaptureOptions options;
  options.model_dir = ref.model_dir();
  options.prompts_path = dir + "/prompts.json";
  options.out_path = dir + "/out.safetensors";
  options.generate = 12;
  options.model.device = "cpu";
  options.batch_size = 2;  // two batches: [p0 p1] [p2]
  ASSERT_OK(RunOfflineCapture(options, nullptr));
  ExpectMatchesReference(options.out_path, ref);
}

INSTANTIATE_TEST_SUITE_P(Families, OfflineCaptureTest,
                         ::testing::Values("opt", "gpt2", "gpt_neox", "llama"),
                         [](const auto& info) { return info.param; });

int RunBinary(const std::string& args, const std::string& log) {
  std::string cmd =
      absl::StrCat(FNPROBE_CAPTURE_BINARY, " ", args, " > ", log, " 2>&1");
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The fnprobe-capture binary, with the flags a researcher types.
TEST(OfflineCaptureBinaryTest, OutputMatchesReferenceFile) {
  for (const std::string family : {"gpt_neox", "llama"}) {
    ReferenceTensors ref(family);
    std::string dir = MakeTempDir("capture_bin");
    WriteFile(dir + "/prompts.json", PromptsJson(ref));
    ASSERT_EQ(
        RunBinary(absl::StrCat("--model-dir ", ref.model_dir(), " --prompts ",
                               dir, "/prompts.json",
                               " --generate 12 --hooks all --dtype f32",
                               " --device cpu --out ", dir, "/out.safetensors"),
                  dir + "/log"),
        0)
        << testing::ReadFileOrDie(dir + "/log");
    ExpectMatchesReference(dir + "/out.safetensors", ref);
  }
}

// Bad input: a clear message, non-zero exit, and no output file.
TEST(OfflineCaptureBinaryTest, BadPromptsFileFailsCleanly) {
  ReferenceTensors ref("gpt2");
  std::string dir = MakeTempDir("capture_bad");
  WriteFile(dir + "/prompts.json", R"(["fine", 42])");
  EXPECT_EQ(RunBinary(absl::StrCat("--model-dir ", ref.model_dir(),
                                   " --prompts ", dir, "/prompts.json --out ",
                                   dir, "/out.safetensors"),
                      dir + "/log"),
            1);
  EXPECT_THAT(testing::ReadFileOrDie(dir + "/log"),
              HasSubstr("prompt 1: expected a string or an array of token "
                        "ids"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.safetensors"));
  EXPECT_NE(RunBinary("--prompts x --out y", dir + "/log2"), 0);
  EXPECT_THAT(testing::ReadFileOrDie(dir + "/log2"), HasSubstr("--model-dir"));
}

TEST(OfflineCaptureTest, ErrorsNameTheProblem) {
  ReferenceTensors ref("gpt2");
  std::string dir = MakeTempDir("capture_err");
  OfflineCaptureOptions options;
  options.model_dir = ref.model_dir();
  options.prompts_path = dir + "/prompts.json";
  options.out_path = dir + "/out.safetensors";
  options.model.device = "cpu";
  EXPECT_THAT(RunOfflineCapture(options, nullptr),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("prompts.json")));
  WriteFile(options.prompts_path, R"([[1, 2, 99999]])");
  EXPECT_THAT(RunOfflineCapture(options, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("99999 is not a token id in [0, 1257)")));
  WriteFile(options.prompts_path, R"([[]])");
  EXPECT_THAT(RunOfflineCapture(options, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prompt 0: has no tokens")));
  WriteFile(options.prompts_path, R"(["hi"])");
  options.hooks = {"blocks.*.nothing"};
  EXPECT_THAT(RunOfflineCapture(options, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("blocks.*.nothing")));
  options.hooks = {"all"};
  options.generate = 200;  // context is 128
  EXPECT_THAT(RunOfflineCapture(options, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exceed the model's context of 128")));
  options.generate = 1;
  options.model_dir = dir + "/no-such-model";
  EXPECT_THAT(
      RunOfflineCapture(options, nullptr),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("no-such-model")));
  EXPECT_FALSE(std::filesystem::exists(options.out_path));
}

}  // namespace
}  // namespace fnprobe
