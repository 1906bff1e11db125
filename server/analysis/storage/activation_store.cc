#include "server/analysis/storage/activation_store.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/cpu_count.h"
#include "common/half_float.h"
#include "common/status_util.h"
#include "server/analysis/storage/chunk_codec.h"
#include "server/analysis/storage/crc32c.h"
#include "server/analysis/storage/value_decoding.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "activation_store assumes a little-endian host"
#endif

namespace fnprobe {
namespace {

constexpr char kFileMagic[8] = {'F', 'N', 'P', 'A', 'C', 'T', 'V', '1'};
constexpr char kFooterMagic[8] = {'F', 'N', 'P', 'E', 'N', 'D', '0', '1'};
constexpr uint32_t kChunkMagic = 0x4B4E4843;  // "CHNK" little-endian.
// File format versions: 1 holds raw chunks only; 2 may hold compressed ones.
constexpr uint32_t kRawFormatVersion = 1;
constexpr uint32_t kCompressedFormatVersion = 2;
constexpr uint16_t kRawChunkVersion = 1;
constexpr uint16_t kCompressedChunkVersion = 2;
constexpr size_t kFileHeaderSize = 32;
constexpr size_t kChunkHeaderSize = 40;
constexpr size_t kCompressedChunkHeaderSize = 56;
constexpr size_t kFooterSize = 40;
constexpr int kMaxCompressionLevel = 19;

uint32_t DTypeCode(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 1;
    case DType::kF16:
      return 2;
    case DType::kBF16:
      return 3;
    default:
      return 0;
  }
}

absl::StatusOr<DType> DTypeFromCode(uint32_t code) {
  switch (code) {
    case 1:
      return DType::kF32;
    case 2:
      return DType::kF16;
    case 3:
      return DType::kBF16;
    default:
      return absl::DataLossError(absl::StrCat("unknown dtype code ", code));
  }
}

// Little-endian field encoding (the host is little-endian, checked above).
template <typename T>
void Put(std::string* out, T value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(value));
}
template <typename T>
T Get(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(value));
  return value;
}

// A growable buffer for chunk payloads, never zeroed, kept across the chunks
// of one call: from 2 MiB on, 2 MiB aligned and advised as huge pages
// (first-touch faults on 4 KiB pages otherwise cost as much as the read),
// else cache-line aligned.
class LargeBuffer {
 public:
  LargeBuffer() = default;
  LargeBuffer(const LargeBuffer&) = delete;
  LargeBuffer& operator=(const LargeBuffer&) = delete;
  ~LargeBuffer() { std::free(data_); }

  // At least `bytes` bytes; the old contents are lost when it grows.
  char* Reserve(size_t bytes) {
    if (bytes > capacity_) {
      constexpr size_t kHugePage = size_t{2} << 20;
      const size_t align = bytes >= kHugePage ? kHugePage : 64;
      const size_t rounded =
          std::max(align, (bytes + align - 1) / align * align);
      std::free(data_);
      data_ = static_cast<char*>(std::aligned_alloc(align, rounded));
      if (data_ == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
      if (align == kHugePage) madvise(data_, rounded, MADV_HUGEPAGE);
#endif
      capacity_ = rounded;
    }
    return data_;
  }

 private:
  char* data_ = nullptr;
  size_t capacity_ = 0;
};

// Chunks are read in pieces of this size, each checksummed right after the
// read while it is in L2.
constexpr size_t kReadPiece = size_t{512} << 10;
// Chunk payloads from this size on are read by two threads.
constexpr size_t kParallelReadBytes = size_t{2} << 20;

absl::Status Incomplete(const std::string& path, absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat(path, ": incomplete activation file (", why,
                   "); the write was torn or never finished"));
}

}  // namespace

std::string ActivationTempPath(const std::string& final_path) {
  return final_path + kActivationTempSuffix;
}

absl::StatusOr<int> CleanupTemporaries(const std::string& dir,
                                       ActivationFileSystem* fs) {
  if (fs == nullptr) fs = ActivationFileSystem::Default();
  FNPROBE_ASSIGN_OR_RETURN(std::vector<std::string> names,
                           fs->ListDirectory(dir));
  int deleted = 0;
  for (const std::string& name : names) {
    if (!absl::EndsWith(name, kActivationTempSuffix)) continue;
    FNPROBE_RETURN_IF_ERROR(fs->DeleteFile(dir + "/" + name));
    ++deleted;
  }
  return deleted;
}

// --- ActivationWriter ---

absl::StatusOr<std::unique_ptr<ActivationWriter>> ActivationWriter::Create(
    const std::string& path, int64_t width,
    const ActivationWriterOptions& options) {
  if (width <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": width must be positive, got ", width));
  }
  if (options.rows_per_chunk <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": rows_per_chunk must be positive, got ",
                     options.rows_per_chunk));
  }
  if (DTypeCode(options.dtype) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": activation dtype must be F32, F16 or BF16, got ",
                     DTypeName(options.dtype)));
  }
  if (options.compression_level < 0 ||
      options.compression_level > kMaxCompressionLevel) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": compression_level must be in 0..", kMaxCompressionLevel,
        ", got ", options.compression_level));
  }
  ActivationFileSystem* fs =
      options.fs != nullptr ? options.fs : ActivationFileSystem::Default();
  if (fs->FileExists(path)) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, ": activation file already exists"));
  }
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                           fs->NewWritableFile(ActivationTempPath(path)));
  std::unique_ptr<ActivationWriter> writer(
      new ActivationWriter(path, width, options, std::move(file)));

  std::string header(kFileMagic, sizeof(kFileMagic));
  // Without compression the file is a version 1 file, which readers from
  // before compression still read.
  Put<uint32_t>(&header, options.compression_level > 0
                             ? kCompressedFormatVersion
                             : kRawFormatVersion);
  Put<uint32_t>(&header, DTypeCode(options.dtype));
  Put<uint64_t>(&header, static_cast<uint64_t>(width));
  Put<uint32_t>(&header, static_cast<uint32_t>(options.rows_per_chunk));
  Put<uint32_t>(&header, crc32c::Value(header));
  FNPROBE_RETURN_IF_ERROR(writer->Write(header));
  return writer;
}

ActivationWriter::ActivationWriter(std::string path, int64_t width,
                                   const ActivationWriterOptions& options,
                                   std::unique_ptr<WritableFile> file)
    : path_(std::move(path)),
      temp_path_(ActivationTempPath(path_)),
      width_(width),
      options_(options),
      fs_(options.fs != nullptr ? options.fs : ActivationFileSystem::Default()),
      file_(std::move(file)) {
  chunk_time_points_.reserve(options.rows_per_chunk);
  chunk_values_.reserve(static_cast<size_t>(options.rows_per_chunk) * width *
                        DTypeSize(options.dtype));
  if (options.compression_level > 0) {
    compressor_ = std::make_unique<ZstdCompressor>(options.compression_level);
  }
}

ActivationWriter::~ActivationWriter() {
  if (!finished_) Abandon();
}

void ActivationWriter::Abandon() {
  if (file_ != nullptr) {
    file_->Close().IgnoreError();
    file_.reset();
    fs_->DeleteFile(temp_path_).IgnoreError();
  }
  if (status_.ok() && !finished_) {
    status_ = absl::FailedPreconditionError(
        absl::StrCat(path_, ": activation writer was abandoned"));
  }
}

absl::Status ActivationWriter::Fail(absl::Status status) {
  if (status_.ok()) status_ = status;
  Abandon();
  return status;
}

absl::Status ActivationWriter::Write(const std::string& bytes) {
  absl::Status status = file_->Append(bytes);
  if (!status.ok()) {
    return Fail(Annotate(status, absl::StrCat(path_, ": writing activations")));
  }
  file_crc_ = crc32c::Extend(file_crc_, bytes.data(), bytes.size());
  bytes_written_ += bytes.size();
  return absl::OkStatus();
}

absl::Status ActivationWriter::Append(int64_t time_point, const float* values) {
  if (!status_.ok()) return status_;
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": Append after Finish"));
  }
  if (time_point < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": negative time point ", time_point));
  }
  if (!seen_time_points_.insert(time_point).second) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": time point ", time_point, " appended twice"));
  }
  const size_t n = static_cast<size_t>(width_);
  const size_t old_size = chunk_values_.size();
  chunk_values_.resize(old_size + n * DTypeSize(options_.dtype));
  char* dst = &chunk_values_[old_size];
  switch (options_.dtype) {
    case DType::kF32:
      std::memcpy(dst, values, n * sizeof(float));
      break;
    case DType::kF16:
      overflow_count_ += static_cast<int64_t>(EncodeHalfs(values, n, dst));
      break;
    case DType::kBF16:
      overflow_count_ += static_cast<int64_t>(EncodeBFloat16s(values, n, dst));
      break;
    default:
      break;
  }
  chunk_time_points_.push_back(time_point);
  ++rows_;
  if (static_cast<int>(chunk_time_points_.size()) >= options_.rows_per_chunk) {
    return FlushChunk();
  }
  return absl::OkStatus();
}

absl::Status ActivationWriter::FlushChunk() {
  if (chunk_time_points_.empty()) return absl::OkStatus();
  const uint32_t count = static_cast<uint32_t>(chunk_time_points_.size());
  std::string payload;
  payload.reserve(count * sizeof(int64_t) + chunk_values_.size());
  payload.append(reinterpret_cast<const char*>(chunk_time_points_.data()),
                 count * sizeof(int64_t));
  payload.append(chunk_values_);

  if (compressor_ != nullptr && CompressChunk(payload)) {
    FNPROBE_RETURN_IF_ERROR(Write(chunk_));
    saved_bytes_ += kChunkHeaderSize + payload.size() - chunk_.size();
    ++compressed_chunks_;
  } else {
    chunk_.clear();
    chunk_.reserve(kChunkHeaderSize + payload.size());
    AppendChunkHeaderStart(kRawChunkVersion, count, &chunk_);
    Put<uint32_t>(&chunk_, crc32c::Extend(0, payload.data(), payload.size()));
    Put<uint32_t>(&chunk_, crc32c::Value(chunk_));
    chunk_.append(payload);
    FNPROBE_RETURN_IF_ERROR(Write(chunk_));
  }
  ++chunks_;
  chunk_time_points_.clear();
  chunk_values_.clear();
  return absl::OkStatus();
}

void ActivationWriter::AppendChunkHeaderStart(uint16_t version, uint32_t count,
                                              std::string* out) const {
  Put<uint32_t>(out, kChunkMagic);
  Put<uint16_t>(out, version);
  Put<uint16_t>(out, static_cast<uint16_t>(DTypeCode(options_.dtype)));
  Put<uint32_t>(out, static_cast<uint32_t>(chunks_));
  Put<uint32_t>(out, count);
  Put<uint64_t>(out, static_cast<uint64_t>(width_));
  Put<uint64_t>(out, static_cast<uint64_t>(rows_ - count));
}

bool ActivationWriter::CompressChunk(const std::string& payload) {
  const size_t count = chunk_time_points_.size();
  const size_t time_bytes = count * sizeof(int64_t);
  const size_t element_size = DTypeSize(options_.dtype);
  shuffled_.resize(payload.size());
  std::memcpy(&shuffled_[0], payload.data(), time_bytes);
  ShuffleBytes(payload.data() + time_bytes,
               (payload.size() - time_bytes) / element_size, element_size,
               &shuffled_[time_bytes]);
  // The compressed chunk, header included, must fit where the raw chunk's
  // kMaxCompressedFraction does; zstd gives up as soon as it cannot.
  const size_t raw_chunk = kChunkHeaderSize + payload.size();
  const size_t limit = static_cast<size_t>(static_cast<double>(raw_chunk) *
                                           kMaxCompressedFraction);
  if (limit <= kCompressedChunkHeaderSize) return false;
  chunk_.resize(limit);
  const size_t stored = compressor_->Compress(
      shuffled_.data(), shuffled_.size(), &chunk_[kCompressedChunkHeaderSize],
      limit - kCompressedChunkHeaderSize);
  if (stored == 0) return false;
  chunk_.resize(kCompressedChunkHeaderSize + stored);
  std::string header;
  header.reserve(kCompressedChunkHeaderSize);
  AppendChunkHeaderStart(kCompressedChunkVersion, static_cast<uint32_t>(count),
                         &header);
  Put<uint64_t>(&header, payload.size());
  Put<uint64_t>(&header, stored);
  // The checksum covers the bytes on disk rather than the payload: a reader
  // verifies them before zstd sees them (so corruption reads as the same
  // "checksum mismatch" as in a raw chunk, whatever zstd would make of it),
  // in the same pass that reads them. zstd's own content checksum covers
  // the decompressed bytes.
  Put<uint32_t>(&header,
                crc32c::Value(&chunk_[kCompressedChunkHeaderSize], stored));
  Put<uint32_t>(&header, crc32c::Value(header));
  std::memcpy(&chunk_[0], header.data(), header.size());
  return true;
}

absl::StatusOr<ActivationFileInfo> ActivationWriter::Finish() {
  if (!status_.ok()) return status_;
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": Finish called twice"));
  }
  FNPROBE_RETURN_IF_ERROR(FlushChunk());
  const uint32_t file_crc = file_crc_;
  std::string footer(kFooterMagic, sizeof(kFooterMagic));
  Put<uint64_t>(&footer, static_cast<uint64_t>(rows_));
  Put<uint64_t>(&footer, static_cast<uint64_t>(chunks_));
  Put<uint64_t>(&footer, bytes_written_);
  Put<uint32_t>(&footer, file_crc);
  Put<uint32_t>(&footer, crc32c::Value(footer));
  FNPROBE_RETURN_IF_ERROR(Write(footer));
  if (options_.sync) {
    absl::Status status = file_->Sync();
    if (!status.ok()) return Fail(status);
  }
  absl::Status status = file_->Close();
  if (!status.ok()) return Fail(status);
  status = fs_->RenameFile(temp_path_, path_);
  if (!status.ok()) return Fail(status);
  file_.reset();
  finished_ = true;
  if (options_.sync) {
    const size_t slash = path_.find_last_of('/');
    const std::string dir =
        slash == std::string::npos ? "." : path_.substr(0, slash);
    status = fs_->SyncDirectory(dir.empty() ? "/" : dir);
    if (!status.ok()) {
      // The rename may not be durable; remove the file so that "the final
      // path exists" keeps meaning "complete and durable".
      fs_->DeleteFile(path_).IgnoreError();
      status_ = status;
      return status;
    }
  }

  ActivationFileInfo info;
  info.path = path_;
  info.file_crc = file_crc;
  info.checksum = crc32c::Format(file_crc);
  info.rows = rows_;
  info.bytes = bytes_written_;
  info.raw_bytes = bytes_written_ + saved_bytes_;
  info.chunks = chunks_;
  info.compressed_chunks = compressed_chunks_;
  info.overflow_count = overflow_count_;
  return info;
}

// --- ActivationReader ---

absl::StatusOr<std::unique_ptr<ActivationReader>> ActivationReader::Open(
    const std::string& path, ActivationFileSystem* fs) {
  if (fs == nullptr) fs = ActivationFileSystem::Default();
  std::unique_ptr<ActivationReader> reader(new ActivationReader());
  reader->path_ = path;
  FNPROBE_ASSIGN_OR_RETURN(reader->file_, fs->NewRandomAccessFile(path));
  const RandomAccessFile& file = *reader->file_;
  const uint64_t size = file.Size();

  // Header.
  char header[kFileHeaderSize];
  FNPROBE_ASSIGN_OR_RETURN(size_t got, file.Read(0, kFileHeaderSize, header));
  if (got < kFileHeaderSize) return Incomplete(path, "no complete header");
  if (std::memcmp(header, kFileMagic, sizeof(kFileMagic)) != 0) {
    return absl::DataLossError(
        absl::StrCat(path, ": not an activation file (bad magic)"));
  }
  if (crc32c::Value(header, 28) != Get<uint32_t>(header + 28)) {
    return absl::DataLossError(
        absl::StrCat(path, ": file header checksum mismatch"));
  }
  const uint32_t version = Get<uint32_t>(header + 8);
  if (version != kRawFormatVersion && version != kCompressedFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": unsupported activation format version ", version));
  }
  const uint32_t dtype_code = Get<uint32_t>(header + 12);
  absl::StatusOr<DType> dtype = DTypeFromCode(dtype_code);
  if (!dtype.ok()) return Annotate(dtype.status(), path);
  reader->dtype_ = *dtype;
  const uint64_t width = Get<uint64_t>(header + 16);
  if (width == 0 || width > (uint64_t{1} << 40)) {
    return absl::DataLossError(absl::StrCat(path, ": bad width ", width));
  }
  reader->width_ = static_cast<int64_t>(width);
  reader->rows_per_chunk_ = Get<uint32_t>(header + 24);

  // Footer.
  if (size < kFileHeaderSize + kFooterSize) {
    return Incomplete(path, "no footer");
  }
  char footer[kFooterSize];
  FNPROBE_ASSIGN_OR_RETURN(got,
                           file.Read(size - kFooterSize, kFooterSize, footer));
  if (got < kFooterSize ||
      std::memcmp(footer, kFooterMagic, sizeof(kFooterMagic)) != 0 ||
      crc32c::Value(footer, 36) != Get<uint32_t>(footer + 36) ||
      Get<uint64_t>(footer + 24) != size - kFooterSize) {
    return Incomplete(path, "no valid footer");
  }
  const uint64_t total_rows = Get<uint64_t>(footer + 8);
  const uint64_t chunk_count = Get<uint64_t>(footer + 16);
  reader->file_crc_ = Get<uint32_t>(footer + 32);
  reader->footer_offset_ = size - kFooterSize;

  // Chunk directory.
  const size_t element_size = DTypeSize(reader->dtype_);
  uint64_t offset = kFileHeaderSize;
  int64_t rows = 0;
  while (offset < reader->footer_offset_) {
    const int64_t index = static_cast<int64_t>(reader->chunks_.size());
    const std::string where = absl::StrCat(path, ": chunk ", index);
    char ch[kCompressedChunkHeaderSize];
    const uint64_t room = reader->footer_offset_ - offset;
    if (room < kChunkHeaderSize) {
      return absl::DataLossError(absl::StrCat(where, ": truncated header"));
    }
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(room, kCompressedChunkHeaderSize));
    FNPROBE_ASSIGN_OR_RETURN(got, file.Read(offset, want, ch));
    if (got < want) {
      return absl::DataLossError(absl::StrCat(where, ": truncated header"));
    }
    if (Get<uint32_t>(ch) != kChunkMagic) {
      return absl::DataLossError(absl::StrCat(where, ": bad chunk magic"));
    }
    // Only version 2 files may hold compressed chunks; in a version 1 file
    // a chunk version 2 fails the consistency check below.
    const uint16_t chunk_version = Get<uint16_t>(ch + 4);
    const bool compressed = version == kCompressedFormatVersion &&
                            chunk_version == kCompressedChunkVersion;
    const size_t header_size =
        compressed ? kCompressedChunkHeaderSize : kChunkHeaderSize;
    if (room < header_size) {
      return absl::DataLossError(absl::StrCat(where, ": truncated header"));
    }
    if (crc32c::Value(ch, header_size - 4) !=
        Get<uint32_t>(ch + header_size - 4)) {
      return absl::DataLossError(
          absl::StrCat(where, ": chunk header checksum mismatch"));
    }
    const uint32_t chunk_rows = Get<uint32_t>(ch + 12);
    if ((chunk_version != kRawChunkVersion && !compressed) ||
        Get<uint16_t>(ch + 6) != dtype_code ||
        Get<uint32_t>(ch + 8) != static_cast<uint32_t>(index) ||
        Get<uint64_t>(ch + 16) != width ||
        Get<uint64_t>(ch + 24) != static_cast<uint64_t>(rows) ||
        chunk_rows == 0) {
      return absl::DataLossError(
          absl::StrCat(where, ": chunk header disagrees with the file header"));
    }
    // Divide rather than multiply so that a crafted header cannot overflow.
    const uint64_t row_bytes = sizeof(int64_t) + width * element_size;
    const uint64_t after_header = room - header_size;
    uint64_t stored_size = 0;
    if (compressed) {
      // The raw size is what the rows need: checked, not trusted, as it sets
      // the size of the buffer the reader decompresses into.
      const uint64_t raw_size = Get<uint64_t>(ch + 32);
      stored_size = Get<uint64_t>(ch + 40);
      if (chunk_rows > reader->rows_per_chunk_ || raw_size % row_bytes != 0 ||
          raw_size / row_bytes != chunk_rows) {
        return absl::DataLossError(absl::StrCat(
            where, ": compressed chunk's sizes disagree with its rows"));
      }
      if (stored_size == 0 || stored_size > after_header) {
        return absl::DataLossError(
            absl::StrCat(where, ": payload extends past the footer"));
      }
    } else if (chunk_rows > after_header / row_bytes) {
      return absl::DataLossError(
          absl::StrCat(where, ": payload extends past the footer"));
    }
    reader->chunks_.push_back(ChunkEntry{offset, rows, chunk_rows,
                                         Get<uint32_t>(ch + header_size - 8),
                                         stored_size});
    rows += chunk_rows;
    offset += header_size + (compressed ? stored_size : chunk_rows * row_bytes);
  }
  if (static_cast<uint64_t>(rows) != total_rows ||
      reader->chunks_.size() != chunk_count) {
    return absl::DataLossError(
        absl::StrCat(path, ": footer says ", total_rows, " rows in ",
                     chunk_count, " chunks but the file holds ", rows,
                     " rows in ", reader->chunks_.size(), " chunks"));
  }
  reader->rows_ = rows;
  return reader;
}

std::string ActivationReader::checksum() const {
  return crc32c::Format(file_crc_);
}

namespace {

// Reads `n` bytes at `offset` into `out` in pieces, extending `*crc` (from
// 0) over each piece right after it is read. DATA_LOSS "short read" if the
// file ends early.
absl::Status ReadAndChecksumPieces(const RandomAccessFile& file,
                                   uint64_t offset, size_t n, char* out,
                                   uint32_t* crc) {
  uint32_t value = 0;
  for (size_t done = 0; done < n;) {
    const size_t want = std::min(kReadPiece, n - done);
    FNPROBE_ASSIGN_OR_RETURN(size_t got,
                             file.Read(offset + done, want, out + done));
    if (got < want) return absl::DataLossError("short read");
    value = crc32c::Extend(value, out + done, want);
    done += want;
  }
  *crc = value;
  return absl::OkStatus();
}

}  // namespace

absl::Status ActivationReader::ReadAndChecksum(uint64_t offset, size_t n,
                                               char* out, uint32_t* crc) const {
  return ReadAndChecksumPieces(*file_, offset, n, out, crc);
}

struct ActivationReader::ChunkBuffers {
  LargeBuffer payload;  // Time points, then values in the file's dtype.
  LargeBuffer values;   // Converted values (F16/BF16 files).
  // Compressed chunks: the bytes on disk, the payload as decompressed (values
  // still shuffled) and a decompression context, made on first use.
  LargeBuffer stored;
  LargeBuffer shuffled;
  std::unique_ptr<ZstdDecompressor> zstd;
};

absl::Status ActivationReader::LoadChunk(size_t i, ChunkBuffers* buffers,
                                         Chunk* chunk) const {
  const ChunkEntry& entry = chunks_[i];
  const size_t n = static_cast<size_t>(entry.rows);
  const size_t value_count = n * static_cast<size_t>(width_);
  const size_t payload_size =
      n * sizeof(int64_t) + value_count * DTypeSize(dtype_);
  const size_t stored_size = entry.stored_size != 0
                                 ? static_cast<size_t>(entry.stored_size)
                                 : payload_size;
  char* stored = entry.stored_size != 0
                     ? buffers->stored.Reserve(stored_size)
                     : buffers->payload.Reserve(payload_size);
  const uint64_t offset =
      entry.offset +
      (entry.stored_size != 0 ? kCompressedChunkHeaderSize : kChunkHeaderSize);
  uint32_t crc = 0;
  absl::Status status =
      ReadAndChecksumParallel(offset, stored_size, stored, &crc);
  if (!status.ok()) return Annotate(status, absl::StrCat(path_, ": chunk ", i));
  if (crc != entry.payload_crc) {
    return absl::DataLossError(
        absl::StrCat(path_, ": chunk ", i, ": checksum mismatch"));
  }
  char* payload = stored;
  if (entry.stored_size != 0) {
    FNPROBE_RETURN_IF_ERROR(Decompress(i, stored, buffers, &payload));
  }
  // The buffer is at least 64-byte aligned, so the time points (offset 0)
  // and the values (offset 8n) are aligned for their types.
  const char* raw_values = payload + n * sizeof(int64_t);
  chunk->index = static_cast<int64_t>(i);
  chunk->first_row = entry.first_row;
  chunk->rows = entry.rows;
  chunk->time_points = reinterpret_cast<const int64_t*>(payload);
  if (dtype_ == DType::kF32) {
    chunk->values = reinterpret_cast<const float*>(raw_values);
  } else {
    float* values = reinterpret_cast<float*>(
        buffers->values.Reserve(value_count * sizeof(float)));
    DecodeActivationValues(dtype_, raw_values, value_count, values);
    chunk->values = values;
  }
  return absl::OkStatus();
}

absl::Status ActivationReader::ReadAndChecksumParallel(uint64_t offset,
                                                       size_t n, char* out,
                                                       uint32_t* crc) const {
  int threads = num_threads_;
  if (threads <= 0) {
    threads = AvailableCpus();
  }
  if (threads <= 1 || n < kParallelReadBytes) {
    return ReadAndChecksum(offset, n, out, crc);
  }
  // Two parts, read and checksummed concurrently; crc(A B) is
  // shift(crc(A), |B|) ^ crc(B).
  const size_t split = n / 2 / kReadPiece * kReadPiece;
  uint32_t crc2 = 0;
  absl::Status status2;
  auto second_part = [&] {
    status2 = ReadAndChecksum(offset + split, n - split, out + split, &crc2);
  };
  std::thread helper;
  try {
    helper = std::thread(second_part);
  } catch (const std::system_error&) {
    second_part();  // No thread to be had: read it here.
  }
  absl::Status status = ReadAndChecksum(offset, split, out, crc);
  if (helper.joinable()) helper.join();
  if (status.ok()) status = status2;
  if (!status.ok()) return status;
  *crc = crc32c::Combine(*crc, crc2, n - split);
  return absl::OkStatus();
}

absl::Status ActivationReader::Decompress(size_t i, const char* stored,
                                          ChunkBuffers* buffers,
                                          char** payload) const {
  const ChunkEntry& entry = chunks_[i];
  const size_t n = static_cast<size_t>(entry.rows);
  const size_t element_size = DTypeSize(dtype_);
  const size_t value_count = n * static_cast<size_t>(width_);
  const size_t time_bytes = n * sizeof(int64_t);
  const size_t payload_size = time_bytes + value_count * element_size;
  if (buffers->zstd == nullptr) {
    buffers->zstd = std::make_unique<ZstdDecompressor>();
  }
  char* shuffled = buffers->shuffled.Reserve(payload_size);
  // The checksum matched, so a failure here means the writer's bytes were
  // wrong (or the header was crafted): DATA_LOSS either way.
  absl::StatusOr<size_t> got = buffers->zstd->Decompress(
      stored, static_cast<size_t>(entry.stored_size), shuffled, payload_size);
  if (!got.ok()) {
    return Annotate(got.status(), absl::StrCat(path_, ": chunk ", i));
  }
  if (*got != payload_size) {
    return absl::DataLossError(absl::StrCat(path_, ": chunk ", i,
                                            ": decompressed to ", *got,
                                            " bytes, expected ", payload_size));
  }
  char* out = buffers->payload.Reserve(payload_size);
  std::memcpy(out, shuffled, time_bytes);
  UnshuffleBytes(shuffled + time_bytes, value_count, element_size,
                 out + time_bytes);
  *payload = out;
  return absl::OkStatus();
}

absl::Status ActivationReader::ReadRows(int64_t begin, int64_t count,
                                        float* out,
                                        int64_t* time_points) const {
  if (begin < 0 || count < 0 || begin > rows_ || count > rows_ - begin) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": rows [", begin, ", ",
                                              begin + count, ") outside [0, ",
                                              rows_, ")"));
  }
  if (count == 0) return absl::OkStatus();
  // The first chunk whose range contains `begin`.
  auto it = std::upper_bound(
      chunks_.begin(), chunks_.end(), begin,
      [](int64_t row, const ChunkEntry& c) { return row < c.first_row; });
  size_t i = static_cast<size_t>(it - chunks_.begin()) - 1;
  ChunkBuffers buffers;
  Chunk chunk;
  int64_t row = begin;
  const int64_t end = begin + count;
  while (row < end) {
    FNPROBE_RETURN_IF_ERROR(LoadChunk(i, &buffers, &chunk));
    const int64_t from = row - chunk.first_row;
    const int64_t to = std::min(chunk.rows, end - chunk.first_row);
    std::memcpy(out + (row - begin) * width_, chunk.values + from * width_,
                static_cast<size_t>((to - from) * width_) * sizeof(float));
    if (time_points != nullptr) {
      std::copy(chunk.time_points + from, chunk.time_points + to,
                time_points + (row - begin));
    }
    row = chunk.first_row + to;
    ++i;
  }
  return absl::OkStatus();
}

absl::Status ActivationReader::VisitChunks(
    const std::function<absl::Status(const Chunk&)>& visitor) const {
  ChunkBuffers buffers;
  for (size_t i = 0; i < chunks_.size(); ++i) {
    Chunk chunk;
    FNPROBE_RETURN_IF_ERROR(LoadChunk(i, &buffers, &chunk));
    FNPROBE_RETURN_IF_ERROR(visitor(chunk));
  }
  return absl::OkStatus();
}

absl::Status ActivationReader::VerifyFileChecksum() const {
  LargeBuffer buffer;
  char* data = buffer.Reserve(kReadPiece);
  uint32_t crc = 0;
  uint64_t offset = 0;
  while (offset < footer_offset_) {
    const size_t n = static_cast<size_t>(
        std::min<uint64_t>(kReadPiece, footer_offset_ - offset));
    FNPROBE_ASSIGN_OR_RETURN(size_t got, file_->Read(offset, n, data));
    if (got < n) {
      return absl::DataLossError(
          absl::StrCat(path_, ": short read at ", offset));
    }
    crc = crc32c::Extend(crc, data, n);
    offset += n;
  }
  if (crc != file_crc_) {
    return absl::DataLossError(absl::StrCat(
        path_, ": file checksum mismatch (footer ", crc32c::Format(file_crc_),
        ", contents ", crc32c::Format(crc), ")"));
  }
  return absl::OkStatus();
}

}  // namespace fnprobe
