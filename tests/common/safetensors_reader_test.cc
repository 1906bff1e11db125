#include "common/safetensors_reader.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/half_float.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::ReferencePath;
using ::fnprobe::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Matches an OK StatusOr whose value matches `matcher`.
MATCHER_P(IsOkAndHolds, matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(matcher, *arg, result_listener);
}

// The 8-byte little-endian length field.
std::string LengthField(uint64_t length) {
  std::string field(8, '\0');
  std::memcpy(field.data(), &length, sizeof(length));
  return field;
}

// A file of `header` (unpadded) followed by `data`.
std::string FileBytes(const std::string& header, const std::string& data) {
  return LengthField(header.size()) + header + data;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(T));
}

class SafetensorsReaderTest : public ::testing::Test {
 protected:
  // Writes `contents` to a fresh file in the test's directory.
  std::string WriteTemp(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    EXPECT_TRUE(out.good()) << path;
    return path;
  }

  // Opens a file made of `header` and `data`, named `name`.
  absl::StatusOr<std::unique_ptr<SafetensorsReader>> OpenBytes(
      const std::string& name, const std::string& header,
      const std::string& data = std::string(16, '\0')) {
    return SafetensorsReader::Open(WriteTemp(name, FileBytes(header, data)));
  }

  const std::string dir_ = MakeTempDir("safetensors_reader_test");
};

// A reference checkpoint opens, with its metadata, shapes and values.
TEST_F(SafetensorsReaderTest, ReadsReferenceModel) {
  const std::string path = ReferencePath("models/gpt2/model.safetensors");
  auto reader = SafetensorsReader::Open(path);
  ASSERT_OK(reader);
  EXPECT_EQ((*reader)->path(), path);
  EXPECT_THAT((*reader)->metadata(), ElementsAre(Pair("format", "pt")));
  auto wte = (*reader)->Get("transformer.wte.weight");
  ASSERT_OK(wte);
  EXPECT_EQ((*wte)->dtype, DType::kF32);
  EXPECT_THAT((*wte)->shape, ElementsAre(1257, 64));
  EXPECT_EQ((*wte)->numel(), 1257 * 64);
  EXPECT_EQ((*wte)->nbytes, 1257u * 64 * 4);

  // The values are the raw bytes at the data offset, as float32. The first
  // tensor starts the data region, after the length field and the header.
  const std::string bytes = ReadFileOrDie(path);
  uint64_t header_length;
  std::memcpy(&header_length, bytes.data(), 8);
  const uint8_t* region = (*reader)->Find((*reader)->names()[0])->data;
  const size_t offset = 8 + header_length + ((*wte)->data - region);
  auto values = (*reader)->ReadFloat32("transformer.wte.weight");
  ASSERT_OK(values);
  ASSERT_EQ(values->size(), 1257u * 64);
  float expected;
  std::memcpy(&expected, bytes.data() + offset + 4 * 5, 4);
  EXPECT_EQ((*values)[5], expected);
}

// names() follows the data offsets, which cover the data region exactly.
TEST_F(SafetensorsReaderTest, NamesAreInDataOffsetOrder) {
  const std::string path = ReferencePath("models/llama/model.safetensors");
  auto reader = SafetensorsReader::Open(path);
  ASSERT_OK(reader);
  const auto& names = (*reader)->names();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "lm_head.weight");
  const uint8_t* next = (*reader)->Find(names.front())->data;
  for (const std::string& name : names) {
    const TensorView* view = (*reader)->Find(name);
    ASSERT_NE(view, nullptr) << name;
    EXPECT_EQ(view->name, name);
    EXPECT_EQ(view->data, next) << name;
    next = view->data + view->nbytes;
  }
  // The tensors end exactly at the end of the file.
  const std::string bytes = ReadFileOrDie(path);
  uint64_t header_length;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(next - (*reader)->Find(names.front())->data,
            static_cast<ptrdiff_t>(bytes.size() - 8 - header_length));
}

// The I64 ids recorded in the reference activations read back exactly.
TEST_F(SafetensorsReaderTest, ReadsReferenceIds) {
  auto reader = SafetensorsReader::Open(
      ReferencePath("models/gpt2/reference.safetensors"));
  ASSERT_OK(reader);
  EXPECT_EQ((*reader)->metadata().at("family"), "gpt2");
  EXPECT_THAT((*reader)->ReadInt64("p1.input_ids"),
              IsOkAndHolds(ElementsAre(39, 695, 78, 11, 995, 0)));
}

// Every floating dtype converts to float32, from unaligned data.
TEST_F(SafetensorsReaderTest, ReadFloat32ConvertsEveryFloatingDType) {
  const std::vector<uint16_t> half = {FloatToHalf(1.5f), FloatToHalf(-2.0f)};
  const std::vector<uint16_t> bf16 = {FloatToBFloat16(0.25f),
                                      FloatToBFloat16(-8.0f)};
  const std::string data =
      std::string(1, '\x07') + Bytes(std::vector<double>{0.5, -1e300}) +
      Bytes(std::vector<float>{3.25f, -0.0f}) + Bytes(half) + Bytes(bf16);
  const std::string header =
      R"({"pad":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
      R"("d":{"dtype":"F64","shape":[2],"data_offsets":[1,17]},)"
      R"("f":{"dtype":"F32","shape":[2,1],"data_offsets":[17,25]},)"
      R"("h":{"dtype":"F16","shape":[2],"data_offsets":[25,29]},)"
      R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[29,33]}})";
  auto reader = OpenBytes("floats.safetensors", header, data);
  ASSERT_OK(reader);
  EXPECT_THAT((*reader)->names(), ElementsAre("pad", "d", "f", "h", "b"));
  auto d = (*reader)->ReadFloat32("d");
  ASSERT_OK(d);
  EXPECT_EQ((*d)[0], 0.5f);
  EXPECT_TRUE(std::isinf((*d)[1]) && (*d)[1] < 0);
  EXPECT_THAT((*reader)->ReadFloat32("f"),
              IsOkAndHolds(ElementsAre(3.25f, -0.0f)));
  EXPECT_THAT((*reader)->ReadFloat32("h"),
              IsOkAndHolds(ElementsAre(1.5f, -2.0f)));
  EXPECT_THAT((*reader)->ReadFloat32("b"),
              IsOkAndHolds(ElementsAre(0.25f, -8.0f)));
}

// Every integer dtype widens to int64 with its sign.
TEST_F(SafetensorsReaderTest, ReadInt64WidensEveryIntegerDType) {
  const std::string data = Bytes(std::vector<int64_t>{-5, INT64_MAX}) +
                           Bytes(std::vector<int32_t>{-7, 70000}) +
                           Bytes(std::vector<int16_t>{-300}) +
                           Bytes(std::vector<int8_t>{-1}) +
                           Bytes(std::vector<uint8_t>{255});
  const std::string header =
      R"({"a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"I32","shape":[2],"data_offsets":[16,24]},)"
      R"("c":{"dtype":"I16","shape":[],"data_offsets":[24,26]},)"
      R"("d":{"dtype":"I8","shape":[1],"data_offsets":[26,27]},)"
      R"("e":{"dtype":"U8","shape":[1],"data_offsets":[27,28]}})";
  auto reader = OpenBytes("ints.safetensors", header, data);
  ASSERT_OK(reader);
  EXPECT_THAT((*reader)->ReadInt64("a"),
              IsOkAndHolds(ElementsAre(-5, INT64_MAX)));
  EXPECT_THAT((*reader)->ReadInt64("b"), IsOkAndHolds(ElementsAre(-7, 70000)));
  EXPECT_THAT((*reader)->ReadInt64("c"), IsOkAndHolds(ElementsAre(-300)));
  EXPECT_THAT((*reader)->ReadInt64("d"), IsOkAndHolds(ElementsAre(-1)));
  EXPECT_THAT((*reader)->ReadInt64("e"), IsOkAndHolds(ElementsAre(255)));
  EXPECT_EQ((*reader)->Find("c")->numel(), 1);
}

// Reading a tensor as the wrong kind of dtype names the tensor and dtype.
TEST_F(SafetensorsReaderTest, ReadWithWrongDTypeFails) {
  const std::string header =
      R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},)"
      R"("w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("m":{"dtype":"BOOL","shape":[0],"data_offsets":[16,16]}})";
  auto reader = OpenBytes("kinds.safetensors", header);
  ASSERT_OK(reader);
  EXPECT_THAT((*reader)->ReadFloat32("ids"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'ids'"), HasSubstr("I64"))));
  EXPECT_THAT((*reader)->ReadInt64("w"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'w'"), HasSubstr("F32"))));
  EXPECT_THAT((*reader)->ReadInt64("m"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("BOOL")));
}

// Get names the file and the missing tensor; Find returns nullptr.
TEST_F(SafetensorsReaderTest, MissingTensorIsNotFound) {
  auto reader =
      OpenBytes("one.safetensors",
                R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})");
  ASSERT_OK(reader);
  EXPECT_EQ((*reader)->Find("nope"), nullptr);
  EXPECT_THAT((*reader)->Get("nope"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("one.safetensors"),
                             HasSubstr("no tensor 'nope'"))));
  EXPECT_THAT((*reader)->ReadFloat32("nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nope'")));
}

// A header with no tensors, empty tensors and a padded header are valid.
TEST_F(SafetensorsReaderTest, AcceptsEmptyTensorsAndPadding) {
  EXPECT_OK(OpenBytes("empty.safetensors", "{}      ", ""));
  auto reader =
      OpenBytes("zero.safetensors",
                R"({"__metadata__":{},"z":{"dtype":"F32","shape":[0,3],)"
                R"("data_offsets":[4,4]},"w":{"dtype":"F32","shape":[2],)"
                R"("data_offsets":[0,8]}}   )",
                std::string(8, '\0'));
  ASSERT_OK(reader);
  EXPECT_THAT((*reader)->names(), ElementsAre("w", "z"));
  EXPECT_EQ((*reader)->Find("z")->nbytes, 0u);
  EXPECT_THAT((*reader)->ReadFloat32("z"), IsOkAndHolds(::testing::IsEmpty()));
}

// A missing file is NOT_FOUND naming it.
TEST_F(SafetensorsReaderTest, MissingFileIsNotFound) {
  EXPECT_THAT(
      SafetensorsReader::Open(dir_ + "/absent.safetensors"),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent.safetensors")));
}

// Files shorter than the length field are DATA_LOSS "truncated".
TEST_F(SafetensorsReaderTest, FileShorterThanLengthFieldIsTruncated) {
  for (const std::string& contents : {std::string(), std::string(5, '\x10')}) {
    const std::string path = WriteTemp("short.safetensors", contents);
    EXPECT_THAT(SafetensorsReader::Open(path),
                StatusIs(absl::StatusCode::kDataLoss,
                         AllOf(HasSubstr(path), HasSubstr("truncated"))));
  }
}

// A header length beyond the file is DATA_LOSS; an absurd one is refused.
TEST_F(SafetensorsReaderTest, HeaderLengthPastEndOfFile) {
  const std::string path =
      WriteTemp("long.safetensors", LengthField(1000) + "{}");
  EXPECT_THAT(SafetensorsReader::Open(path),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(path), HasSubstr("header length 1000"),
                             HasSubstr("past the end"))));
  const std::string huge =
      WriteTemp("huge.safetensors", LengthField(uint64_t{1} << 62) + "{}");
  EXPECT_THAT(SafetensorsReader::Open(huge),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(huge), HasSubstr("exceeds the limit"))));
}

// Data cut short leaves a tensor outside the data region: DATA_LOSS.
TEST_F(SafetensorsReaderTest, DataCutShortIsDataLoss) {
  const std::string full =
      ReadFileOrDie(ReferencePath("models/gpt2/model.safetensors"));
  const std::string path =
      WriteTemp("cut.safetensors", full.substr(0, full.size() - 100));
  EXPECT_THAT(SafetensorsReader::Open(path),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(path),
                             HasSubstr("tensor 'transformer.wte.weight'"),
                             HasSubstr("outside the data region"))));
}

TEST_F(SafetensorsReaderTest, OffsetsOutsideDataRegion) {
  EXPECT_THAT(
      OpenBytes("outside.safetensors",
                R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})"),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("outside.safetensors: tensor 'x': "
                               "data_offsets [12,20] outside the data "
                               "region (16 bytes"))));
  EXPECT_THAT(
      OpenBytes("reversed.safetensors",
                R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("tensor 'x'"), HasSubstr("begin > end"))));
}

TEST_F(SafetensorsReaderTest, OverlappingTensorsAreRefused) {
  EXPECT_THAT(
      OpenBytes("overlap.safetensors",
                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("overlap.safetensors"),
                     HasSubstr("'a' [0,8] and 'b' [4,12] overlap"))));
  // One tensor inside another, listed after a later one.
  EXPECT_THAT(
      OpenBytes("nested.safetensors",
                R"({"c":{"dtype":"U8","shape":[4],"data_offsets":[12,16]},)"
                R"("big":{"dtype":"U8","shape":[12],"data_offsets":[0,12]},)"
                R"("in":{"dtype":"U8","shape":[2],"data_offsets":[5,7]}})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("'big' [0,12] and 'in' [5,7] overlap")));
}

TEST_F(SafetensorsReaderTest, UnknownDTypeNamesTensorAndDType) {
  EXPECT_THAT(
      OpenBytes(
          "dtype.safetensors",
          R"({"q":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("dtype.safetensors: tensor 'q'"),
                     HasSubstr("unknown dtype 'F8_E4M3'"))));
}

TEST_F(SafetensorsReaderTest, ShapeByteCountMismatch) {
  EXPECT_THAT(
      OpenBytes("mismatch.safetensors",
                R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("mismatch.safetensors: tensor 'w'"),
                     HasSubstr("shape/byte-count mismatch"))));
  // The element count overflows 64 bits: still a mismatch, never a wrap.
  EXPECT_THAT(
      OpenBytes("overflow.safetensors",
                R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],)"
                R"("data_offsets":[0,0]}})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("tensor 'w'"),
                     HasSubstr("shape/byte-count mismatch"))));
}

TEST_F(SafetensorsReaderTest, NonUtf8HeaderIsRefused) {
  EXPECT_THAT(OpenBytes("latin1.safetensors",
                        "{\"caf\xe9\":{\"dtype\":\"U8\",\"shape\":[0],"
                        "\"data_offsets\":[0,0]}}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("latin1.safetensors"),
                             HasSubstr("not valid UTF-8 (byte 5"))));
  // Encoded surrogates are not UTF-8 either.
  EXPECT_THAT(OpenBytes("surrogate.safetensors", "{\"\xed\xa0\x80\":1}"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not valid UTF-8")));
}

TEST_F(SafetensorsReaderTest, NonJsonHeaderIsRefused) {
  EXPECT_THAT(OpenBytes("text.safetensors", "hello, world"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("text.safetensors"),
                             HasSubstr("not valid JSON"))));
  EXPECT_THAT(OpenBytes("array.safetensors", "[1,2]   "),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("array.safetensors"),
                             HasSubstr("not an object"))));
  EXPECT_THAT(
      OpenBytes("deep.safetensors", std::string(1000, '[')),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nests deeper")));
  EXPECT_THAT(
      OpenBytes("dup.safetensors",
                R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("duplicate key 'w'")));
}

// Each field with the wrong JSON type is refused, naming the tensor.
TEST_F(SafetensorsReaderTest, WrongJsonTypesAreRefused) {
  struct Case {
    const char* header;
    const char* message;
  };
  const Case cases[] = {
      {R"({"t":[1]})", "tensor 't': entry is not a JSON object"},
      {R"({"t":{"shape":[1],"data_offsets":[0,1]}})", "missing 'dtype'"},
      {R"({"t":{"dtype":4,"shape":[1],"data_offsets":[0,1]}})",
       "'dtype' is not a string"},
      {R"({"t":{"dtype":"U8","data_offsets":[0,1]}})", "missing 'shape'"},
      {R"({"t":{"dtype":"U8","shape":"1","data_offsets":[0,1]}})",
       "'shape' is not an array"},
      {R"({"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})",
       "'shape' holds -1, not a non-negative integer"},
      {R"({"t":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}})",
       "not a non-negative integer"},
      {R"({"t":{"dtype":"U8","shape":["x"],"data_offsets":[0,1]}})",
       "'shape' holds a string"},
      {R"({"t":{"dtype":"U8","shape":[1]}})", "missing 'data_offsets'"},
      {R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})",
       "'data_offsets' is not [begin, end]"},
      {R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,-1]}})",
       "'data_offsets' is not [begin, end]"},
      {R"({"t":{"dtype":"U8","shape":[1],"data_offsets":{"a":1}}})",
       "'data_offsets' is not [begin, end]"},
      {R"({"__metadata__":[]})", "__metadata__ is a JSON array"},
      {R"({"__metadata__":{"format":1}})",
       "__metadata__ key 'format' holds a JSON number"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(
        OpenBytes("types.safetensors", c.header),
        StatusIs(absl::StatusCode::kInvalidArgument,
                 AllOf(HasSubstr("types.safetensors: "), HasSubstr(c.message))))
        << c.header;
  }
}

// Hostile input: every truncation of a small valid file, and random byte
// corruption of a reference header, yield a status and never crash.
TEST_F(SafetensorsReaderTest, CorruptionNeverCrashes) {
  const std::string valid =
      FileBytes(R"({"__metadata__":{"k":"v"},"a":{"dtype":"F16","shape":[2],)"
                R"("data_offsets":[0,4]},"b":{"dtype":"I8","shape":[3],)"
                R"("data_offsets":[4,7]}})",
                std::string(7, '\x01'));
  ASSERT_OK(SafetensorsReader::Open(WriteTemp("valid.safetensors", valid)));
  for (size_t n = 0; n < valid.size(); ++n) {
    auto reader = SafetensorsReader::Open(
        WriteTemp("prefix.safetensors", valid.substr(0, n)));
    EXPECT_FALSE(reader.ok()) << n;
  }
  const std::string reference =
      ReadFileOrDie(ReferencePath("models/opt/model.safetensors"));
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes = reference;
    for (int k = 0; k < 3; ++k) {
      bytes[rng() % 4000] = static_cast<char>(rng() & 0xff);
    }
    auto reader = SafetensorsReader::Open(WriteTemp("fuzz.safetensors", bytes));
    if (!reader.ok()) continue;
    for (const std::string& name : (*reader)->names()) {
      const TensorView* view = (*reader)->Find(name);
      ASSERT_NE(view, nullptr);
      // Touch the data to prove it lies inside the mapping.
      if (IsFloatingDType(view->dtype)) {
        EXPECT_THAT((*reader)->ReadFloat32(name), IsOk());
      }
    }
  }
}

}  // namespace
}  // namespace fnprobe
