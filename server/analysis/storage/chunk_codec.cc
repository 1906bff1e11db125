#include "server/analysis/storage/chunk_codec.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "zstd.h"

namespace fnprobe {

void ShuffleBytes(const char* in, size_t count, size_t size, char* out) {
  if (size == 2) {  // F16/BF16, the usual case: a loop the compiler unrolls.
    for (size_t i = 0; i < count; ++i) {
      out[i] = in[2 * i];
      out[count + i] = in[2 * i + 1];
    }
    return;
  }
  for (size_t b = 0; b < size; ++b) {
    char* plane = out + b * count;
    for (size_t i = 0; i < count; ++i) plane[i] = in[i * size + b];
  }
}

void UnshuffleBytes(const char* in, size_t count, size_t size, char* out) {
  if (size == 2) {
    for (size_t i = 0; i < count; ++i) {
      out[2 * i] = in[i];
      out[2 * i + 1] = in[count + i];
    }
    return;
  }
  for (size_t b = 0; b < size; ++b) {
    const char* plane = in + b * count;
    for (size_t i = 0; i < count; ++i) out[i * size + b] = plane[i];
  }
}

ZstdCompressor::ZstdCompressor(int level) : ctx_(ZSTD_createCCtx()) {
  if (ctx_ == nullptr) return;
  ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, level);
  // The frame carries a checksum of the decompressed bytes, so that the
  // reader checks what it hands out as well as what it read (CRC-32C).
  ZSTD_CCtx_setParameter(ctx_, ZSTD_c_checksumFlag, 1);
}

ZstdCompressor::~ZstdCompressor() { ZSTD_freeCCtx(ctx_); }

size_t ZstdCompressor::Compress(const char* in, size_t n, char* out,
                                size_t capacity) {
  if (ctx_ == nullptr) return 0;
  const size_t size = ZSTD_compress2(ctx_, out, capacity, in, n);
  return ZSTD_isError(size) ? 0 : size;
}

ZstdDecompressor::ZstdDecompressor() : ctx_(ZSTD_createDCtx()) {}

ZstdDecompressor::~ZstdDecompressor() { ZSTD_freeDCtx(ctx_); }

absl::StatusOr<size_t> ZstdDecompressor::Decompress(const char* in, size_t n,
                                                    char* out,
                                                    size_t capacity) {
  if (ctx_ == nullptr) {
    return absl::ResourceExhaustedError("no memory for a zstd context");
  }
  const size_t size = ZSTD_decompressDCtx(ctx_, out, capacity, in, n);
  if (ZSTD_isError(size)) {
    return absl::DataLossError(
        absl::StrCat("cannot decompress: ", ZSTD_getErrorName(size)));
  }
  return size;
}

}  // namespace fnprobe
