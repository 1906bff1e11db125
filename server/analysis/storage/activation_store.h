// The activation store: one file per run holding the raw frames a run
// captured (DESIGN.md "Storage"), written before the run is marked done;
// SQLite keeps the file's path and checksum (runs.activation_path,
// runs.activation_checksum).
//
// File format (all integers little-endian):
//   file header, 32 bytes: magic "FNPACTV1", u32 format version (1, or 2
//     when the writer may compress), u32 dtype code (1 F32, 2 F16, 3 BF16),
//     u64 width (values per row), u32 rows per chunk, u32 CRC-32C of the
//     preceding 28 bytes.
//   chunks, each: a 40-byte header: u32 magic "CHNK", u16 chunk version (1),
//     u16 dtype code, u32 chunk index (0, 1, ...), u32 row count, u64 width,
//     u64 index of the chunk's first row, u32 CRC-32C of the payload,
//     u32 CRC-32C of the preceding 36 header bytes;
//     then the payload: row count i64 time points, then row count x width
//     values in the file's dtype, row-major.
//   In a version 2 file a chunk may instead be compressed (chunk version 2),
//     with a 56-byte header: the first 32 bytes as above, then u64 raw
//     payload size (as above), u64 stored size, u32 CRC-32C of the stored
//     bytes, u32 CRC-32C of the preceding 52 header bytes; then the stored
//     bytes: one zstd frame (with its content checksum) of the payload with
//     the values byte-shuffled: the time points as they are, then byte 0 of
//     every value, byte 1 of every value, ... (two planes for F16/BF16,
//     four for F32).
//   footer, 40 bytes: magic "FNPEND01", u64 total rows, u64 chunk count,
//     u64 offset of the footer, u32 CRC-32C of every byte before the footer
//     (the file checksum), u32 CRC-32C of the preceding 36 footer bytes.
// Rows are stored in the order they were appended; each carries the time
// point (design row) it belongs to, so frames of batched prompts may arrive
// in any order.
//
// Writing goes to "<path>.partial" and is renamed to <path> by Finish() after
// fsync, so <path> exists only complete. A crash leaves a .partial file,
// which CleanupTemporaries() removes. A file without a valid footer reads as
// DATA_LOSS "incomplete"; a chunk whose checksum does not match reads as
// DATA_LOSS naming the file and the chunk.
//
// Compression: the writer compresses a chunk only when that saves at least
// kMinCompressionSavings of it, so incompressible data (F32 noise) stays raw
// and costs one failed attempt. A writer with compression off writes
// version 1 files, byte for byte as before compression existed; readers read
// both versions.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_ACTIVATION_STORE_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_ACTIVATION_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "server/analysis/storage/activation_file_system.h"

namespace fnprobe {

class ZstdCompressor;  // chunk_codec.h

// Suffix of files being written: "<path>.partial".
inline constexpr char kActivationTempSuffix[] = ".partial";

// A compressed chunk is written only when it is at most this fraction of the
// raw chunk; below ~10% savings the read-time decompression is not worth it.
inline constexpr double kMaxCompressedFraction = 0.9;

// The temporary path an ActivationWriter for `final_path` writes to.
std::string ActivationTempPath(const std::string& final_path);

// Deletes every "*.partial" regular file in `dir` (left by writers that
// crashed or were abandoned) and returns how many it deleted.
// REQUIRES: no ActivationWriter is writing into `dir` (call at start-up).
absl::StatusOr<int> CleanupTemporaries(const std::string& dir,
                                       ActivationFileSystem* fs = nullptr);

// What a finished activation file holds; the worker stores path and checksum.
struct ActivationFileInfo {
  std::string path;      // The final path.
  std::string checksum;  // crc32c::Format(file_crc), e.g. "crc32c:1a2b3c4d".
  uint32_t file_crc = 0;
  int64_t rows = 0;
  uint64_t bytes = 0;  // The file's size on disk.
  // The size the file would have without compression (format 1); equals
  // `bytes` when no chunk was compressed.
  uint64_t raw_bytes = 0;
  int64_t chunks = 0;
  int64_t compressed_chunks = 0;
  // Finite float32 values that became +-inf in F16/BF16 (reported, never
  // silent).
  int64_t overflow_count = 0;
};

struct ActivationWriterOptions {
  // Stored element type: F32, F16 or BF16.
  DType dtype = DType::kF16;
  // Rows buffered per chunk.
  int rows_per_chunk = 64;
  // fsync the file and its directory in Finish().
  bool sync = true;
  // zstd level for chunk payloads: 0 turns compression off (version 1 files,
  // readable by older readers); 1..3 are zstd's fast levels, which keep up
  // with capture: level 1 compresses f16 activations at a few hundred MB/s
  // a core, while `standard` capture of the galactica-125m shape at ~180
  // tokens/s is ~25 MB/s. Higher levels cost time for little (see
  // tests/bench/activation_store_bench.cc). Accepted: 0..19.
  int compression_level = 1;
  // File operations; nullptr means ActivationFileSystem::Default(). Must
  // outlive the writer.
  ActivationFileSystem* fs = nullptr;
};

// Writes one run's activation file. Not thread-safe: one thread appends.
//
// Any failed operation puts the writer in an error state: the temporary file
// is deleted, no final file appears, and every later call returns the first
// error. Destroying a writer without a successful Finish() deletes the
// temporary file too.
class ActivationWriter {
 public:
  // Starts writing the file for `path` (to ActivationTempPath(path)).
  // Errors: INVALID_ARGUMENT for width <= 0, rows_per_chunk <= 0, a dtype
  // other than F32/F16/BF16 or a compression level outside 0..19;
  // ALREADY_EXISTS when `path` exists; the file
  // system's error (naming the path) when the temporary cannot be created.
  static absl::StatusOr<std::unique_ptr<ActivationWriter>> Create(
      const std::string& path, int64_t width,
      const ActivationWriterOptions& options = {});

  ActivationWriter(const ActivationWriter&) = delete;
  ActivationWriter& operator=(const ActivationWriter&) = delete;
  ~ActivationWriter();

  // Appends one row: the `width` float32 values of `time_point`, converted to
  // the file's dtype. Full chunks are written as they fill.
  // Errors: INVALID_ARGUMENT for a negative or repeated time point (the
  // writer stays usable); a write error (the writer fails, see above);
  // FAILED_PRECONDITION after Finish() or a failure.
  absl::Status Append(int64_t time_point, const float* values);

  // Writes the last partial chunk and the footer, syncs, and renames the
  // temporary to the final path. Returns what the file holds. On failure no
  // final file exists and the temporary is deleted.
  absl::StatusOr<ActivationFileInfo> Finish();

  // Gives up: closes and deletes the temporary file. Idempotent.
  void Abandon();

  int64_t rows() const { return rows_; }
  int64_t width() const { return width_; }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  ActivationWriter(std::string path, int64_t width,
                   const ActivationWriterOptions& options,
                   std::unique_ptr<WritableFile> file);

  // Appends to the file and the running file checksum; fails the writer on
  // error.
  absl::Status Write(const std::string& bytes);
  absl::Status FlushChunk();
  // Sets chunk_ to the compressed (version 2) chunk of `payload` and returns
  // true when compression pays (see kMaxCompressedFraction); false leaves
  // the chunk to be written raw.
  bool CompressChunk(const std::string& payload);
  // Appends the first 32 bytes of the header of the chunk being flushed
  // (`count` rows), common to both chunk versions.
  void AppendChunkHeaderStart(uint16_t version, uint32_t count,
                              std::string* out) const;
  // Records `status` as the writer's error and abandons the file.
  absl::Status Fail(absl::Status status);

  // Constant after construction.
  const std::string path_;
  const std::string temp_path_;
  const int64_t width_;
  const ActivationWriterOptions options_;
  ActivationFileSystem* const fs_;

  std::unique_ptr<WritableFile> file_;
  absl::Status status_;  // First error; OK while healthy.
  bool finished_ = false;
  uint32_t file_crc_ = 0;
  uint64_t bytes_written_ = 0;
  int64_t rows_ = 0;
  uint64_t saved_bytes_ = 0;  // Raw minus stored size of compressed chunks.
  int64_t chunks_ = 0;
  int64_t compressed_chunks_ = 0;
  int64_t overflow_count_ = 0;
  absl::flat_hash_set<int64_t> seen_time_points_;
  // The chunk being filled.
  std::vector<int64_t> chunk_time_points_;
  std::string chunk_values_;  // Encoded in the file's dtype.
  // Compression state, reused across chunks (compression on only).
  std::unique_ptr<ZstdCompressor> compressor_;
  std::string shuffled_;  // The payload with its values byte-shuffled.
  std::string chunk_;     // The chunk being written.
};

// Reads an activation file (format 1 or 2). Open validates header, footer and
// every chunk header; each chunk's checksum (of the bytes on disk) is
// verified when it is read, before a compressed chunk is decompressed.
// Chunks are read in large sequential pieces into buffers reused across the
// chunks of a call, each piece checksummed while it is still in cache; F32
// rows are handed out in place, F16/BF16 converted (F16C where available).
// Thread-safe: const methods may be called concurrently.
class ActivationReader {
 public:
  // One chunk, converted to float32. Pointers are valid during the visit.
  struct Chunk {
    int64_t index = 0;
    int64_t first_row = 0;
    int64_t rows = 0;
    const int64_t* time_points = nullptr;  // `rows` entries.
    const float* values = nullptr;         // rows x width, row-major.
  };

  // Opens and validates `path`. Errors: NOT_FOUND etc. from the file system;
  // DATA_LOSS "<path>: incomplete ..." for a file without a valid footer
  // (torn or unfinished write); DATA_LOSS naming the file (and chunk) for
  // bad magic, header checksums or inconsistent chunk headers;
  // FAILED_PRECONDITION for an unknown format version.
  static absl::StatusOr<std::unique_ptr<ActivationReader>> Open(
      const std::string& path, ActivationFileSystem* fs = nullptr);

  ActivationReader(const ActivationReader&) = delete;
  ActivationReader& operator=(const ActivationReader&) = delete;

  const std::string& path() const { return path_; }
  int64_t width() const { return width_; }
  DType dtype() const { return dtype_; }
  int64_t rows() const { return rows_; }
  int64_t num_chunks() const { return static_cast<int64_t>(chunks_.size()); }
  uint32_t file_crc() const { return file_crc_; }
  // crc32c::Format(file_crc()), as ActivationFileInfo::checksum.
  std::string checksum() const;

  // Reads rows [begin, begin + count) in stored order into `out` (count x
  // width float32) and, when not null, their time points into
  // `time_points`. Errors: OUT_OF_RANGE for rows past the end; DATA_LOSS
  // "<path>: chunk N: checksum mismatch" for a corrupt chunk, or "<path>:
  // chunk N: cannot decompress: ..." for a compressed chunk whose bytes
  // match their checksum but are not what the writer compressed.
  absl::Status ReadRows(int64_t begin, int64_t count, float* out,
                        int64_t* time_points = nullptr) const;

  // Calls `visitor` for each chunk in order, stopping at (and returning) the
  // first error, its own or a chunk's DATA_LOSS.
  absl::Status VisitChunks(
      const std::function<absl::Status(const Chunk&)>& visitor) const;

  // Threads that read and checksum one large chunk, each taking a part: 0
  // (the default) means one per hardware thread, 1 reads on the calling
  // thread. Set before sharing the reader between threads.
  void set_num_threads(int num_threads) { num_threads_ = num_threads; }
  int num_threads() const { return num_threads_; }

  // Reads the whole file and checks the file checksum in the footer.
  // DATA_LOSS naming the file on mismatch.
  absl::Status VerifyFileChecksum() const;

 private:
  struct ChunkEntry {
    uint64_t offset;  // Of the chunk header.
    int64_t first_row;
    int64_t rows;
    uint32_t payload_crc;  // Of the bytes on disk after the header.
    // Compressed (chunk version 2) chunks: the bytes on disk after the
    // 56-byte header; 0 for raw chunks.
    uint64_t stored_size;
  };

  ActivationReader() = default;

  // Buffers one call reuses for all the chunks it reads.
  struct ChunkBuffers;

  // Reads chunk `i` into `buffers`, verifies its payload checksum as it
  // arrives and points `chunk` at its rows (in place for F32, converted for
  // F16/BF16); valid until the next LoadChunk with the same buffers.
  absl::Status LoadChunk(size_t i, ChunkBuffers* buffers, Chunk* chunk) const;
  // Reads n bytes at `offset` into `out` and sets `*crc` to their CRC-32C.
  absl::Status ReadAndChecksum(uint64_t offset, size_t n, char* out,
                               uint32_t* crc) const;
  // ReadAndChecksum, split over two threads for large reads (num_threads_).
  absl::Status ReadAndChecksumParallel(uint64_t offset, size_t n, char* out,
                                       uint32_t* crc) const;
  // Decompresses chunk `i`'s `stored` bytes into its payload (time points,
  // then values in the file's dtype) in `buffers`, returned in `*payload`.
  absl::Status Decompress(size_t i, const char* stored, ChunkBuffers* buffers,
                          char** payload) const;

  // Constant after Open.
  std::string path_;
  std::unique_ptr<RandomAccessFile> file_;
  int64_t width_ = 0;
  DType dtype_ = DType::kF32;
  int64_t rows_ = 0;
  uint32_t rows_per_chunk_ = 0;
  uint32_t file_crc_ = 0;
  uint64_t footer_offset_ = 0;
  std::vector<ChunkEntry> chunks_;
  int num_threads_ = 0;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_ACTIVATION_STORE_H_
