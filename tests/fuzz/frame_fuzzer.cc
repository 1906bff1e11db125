// Fuzz target: what the worker decodes from an inference server's activation
// stream (server/analysis/worker/run_executor.cc): the stream header's
// layout (LayoutFromProto, then unit names both ways) and each frame's
// values bytes (DecodeFrameValues).
//
// Input: 1 byte encoding (as a signed number, so unknown and negative
// encodings occur), 2 bytes little-endian length L, L bytes of a binary
// fnprobe.v1.Layout, then the frame's values bytes.
//
// Besides crashes it checks that the expected width is honoured, that a
// well-sized frame decodes, and that re-encoding decoded 16-bit values gives
// the same bytes (NaN aside: its payload is not kept).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/frame_codec.h"
#include "common/layout.h"
#include "common/layout_proto.h"
#include "fnprobe/v1/inference.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using fnprobe::v1::Encoding;

void CheckLayout(const fnprobe::Layout& layout, absl::string_view text) {
  const int64_t width = layout.width();
  for (int64_t unit : {int64_t{-1}, int64_t{0}, width / 2, width - 1, width}) {
    auto name = layout.UnitName(unit);
    FUZZ_CHECK(name.ok() == (unit >= 0 && unit < width), std::to_string(unit));
    if (!name.ok()) continue;
    auto back = layout.ParseUnit(*name);
    FUZZ_CHECK(back.ok() && *back == unit, *name);
  }
  (void)layout.ParseUnit(text);  // arbitrary text: an error, not a crash
}

void CheckValues(absl::string_view bytes, Encoding encoding) {
  auto resolved = fnprobe::ResolveEncoding(encoding);
  if (!resolved.ok()) return;
  const size_t per_value = fnprobe::BytesPerValue(*resolved);
  const size_t n = bytes.size() / per_value;
  std::vector<float> values(n);
  const absl::Status decoded = fnprobe::DecodeFrameValues(
      bytes.substr(0, n * per_value), encoding, absl::MakeSpan(values));
  FUZZ_CHECK(decoded.ok(), decoded.ToString());
  if (*resolved == fnprobe::v1::ENCODING_F32) return;
  auto encoder = fnprobe::FrameEncoder::Create(encoding);
  FUZZ_CHECK(encoder.ok(), encoder.status().ToString());
  std::string again;
  const size_t overflows = encoder->Encode(values, &again);
  FUZZ_CHECK(overflows == 0, "a decoded 16-bit value overflowed re-encoding");
  FUZZ_CHECK(again.size() == n * per_value, "re-encoded size");
  for (size_t i = 0; i < n; ++i) {
    if (values[i] != values[i]) continue;  // NaN
    FUZZ_CHECK(std::memcmp(again.data() + 2 * i, bytes.data() + 2 * i, 2) == 0,
               "16-bit value " + std::to_string(i) + " does not round-trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const auto encoding = static_cast<Encoding>(static_cast<int8_t>(data[0]));
  const size_t layout_size =
      std::min<size_t>(data[1] | (data[2] << 8), size - 3);
  const absl::string_view layout_bytes(reinterpret_cast<const char*>(data) + 3,
                                       layout_size);
  const absl::string_view values(
      reinterpret_cast<const char*>(data) + 3 + layout_size,
      size - 3 - layout_size);

  int64_t width = -1;
  fnprobe::v1::Layout proto;
  if (proto.ParseFromArray(layout_bytes.data(),
                           static_cast<int>(layout_bytes.size()))) {
    auto layout = fnprobe::LayoutFromProto(proto);
    if (layout.ok()) {
      CheckLayout(*layout, values);
      width = layout->width();
    }
  }
  // The worker's frame: as many values as the layout is wide, which comes
  // from the wire as well and may be anything.
  auto decoded = fnprobe::DecodeFrameValues(values, encoding, width);
  if (decoded.ok()) {
    FUZZ_CHECK(static_cast<int64_t>(decoded->size()) == width, "width");
  }
  CheckValues(values, encoding);
  return 0;
}
