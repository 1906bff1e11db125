// Conversion between fnprobe::Layout (common/layout.h) and the wire message
// fnprobe.v1.Layout (hook points in order, their total width and the layout
// hash). Layouts arrive from other processes, so the way in is validated.
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_COMMON_LAYOUT_PROTO_H_
#define FNPROBE_COMMON_LAYOUT_PROTO_H_

#include "absl/status/statusor.h"
#include "common/layout.h"
#include "fnprobe/v1/inference.pb.h"

namespace fnprobe {

// Fills *proto (cleared first) with the hook points, width and hash of
// `layout`.
void LayoutToProto(const Layout& layout, v1::Layout* proto);
v1::Layout LayoutToProto(const Layout& layout);

// The Layout that `proto` describes.
// INVALID_ARGUMENT for an empty or duplicate hook point name, a width <= 0,
// widths whose sum overflows int64, or a `width` field that is not the sum of
// the hook widths; FAILED_PRECONDITION if `hash` is not the hash fnprobe
// computes for those hook points (the sender hashes layouts differently,
// e.g. another layout version). An empty layout is accepted with hash 0 too
// (what a default-constructed Layout reports). Messages name the field.
absl::StatusOr<Layout> LayoutFromProto(const v1::Layout& proto);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_LAYOUT_PROTO_H_
