// What a compressed activation chunk (activation_store.h, chunk version 2)
// is made of: values byte-shuffled into planes, then one zstd frame that
// carries zstd's checksum of its content. zstd.h stays in chunk_codec.cc.
//
// Thread-safety: the free functions are; a ZstdCompressor or
// ZstdDecompressor is used by one thread at a time.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_CHUNK_CODEC_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_CHUNK_CODEC_H_

#include <cstddef>

#include "absl/status/statusor.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace fnprobe {

// `count` values of `size` bytes at `in` become `size` planes of `count`
// bytes at `out`, plane b holding byte b of every value. The high bytes of
// floats (sign, exponent, top of the significand) vary little between
// neighbours while the low bytes are noise; apart, zstd finds the first
// compressible instead of seeing both as noise. On f16 activations of the
// galactica-125m shape zstd level 1 stores 0.87 of raw shuffled, 0.93 not.
// REQUIRES: in and out do not overlap.
void ShuffleBytes(const char* in, size_t count, size_t size, char* out);

// The inverse of ShuffleBytes.
void UnshuffleBytes(const char* in, size_t count, size_t size, char* out);

// One zstd compression context at a fixed level, reused across chunks (a
// context costs ~1 MiB to set up).
class ZstdCompressor {
 public:
  explicit ZstdCompressor(int level);
  ~ZstdCompressor();
  ZstdCompressor(const ZstdCompressor&) = delete;
  ZstdCompressor& operator=(const ZstdCompressor&) = delete;

  // Compresses `n` bytes at `in` into one frame of at most `capacity` bytes
  // at `out`. Returns its size, or 0 when it does not fit (zstd stops as
  // soon as it knows) or zstd fails: either way the caller stores raw.
  size_t Compress(const char* in, size_t n, char* out, size_t capacity);

 private:
  ZSTD_CCtx_s* const ctx_;
};

// One zstd decompression context, reused across chunks.
class ZstdDecompressor {
 public:
  ZstdDecompressor();
  ~ZstdDecompressor();
  ZstdDecompressor(const ZstdDecompressor&) = delete;
  ZstdDecompressor& operator=(const ZstdDecompressor&) = delete;

  // Decompresses the frame of `n` bytes at `in` into `out` and returns its
  // size (at most `capacity`). DATA_LOSS "cannot decompress: <zstd's
  // reason>" for bytes that are not such a frame, a content checksum that
  // does not match or content larger than `capacity`; RESOURCE_EXHAUSTED
  // when there is no memory for a context.
  absl::StatusOr<size_t> Decompress(const char* in, size_t n, char* out,
                                    size_t capacity);

 private:
  ZSTD_DCtx_s* const ctx_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_CHUNK_CODEC_H_
