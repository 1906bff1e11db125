#include "common/file_digest.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace fnprobe {
namespace {

struct ContextDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Context = std::unique_ptr<EVP_MD_CTX, ContextDeleter>;

std::string Hex(const unsigned char* digest, unsigned int n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < n; ++i) {
    out += kDigits[digest[i] >> 4];
    out += kDigits[digest[i] & 15];
  }
  return out;
}

Context NewContext() {
  Context c(EVP_MD_CTX_new());
  if (c != nullptr) EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr);
  return c;
}

std::string Final(EVP_MD_CTX* c) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(c, digest, &n);
  return Hex(digest, n);
}

}  // namespace

std::string Sha256Text(absl::string_view bytes) {
  Context c = NewContext();
  EVP_DigestUpdate(c.get(), bytes.data(), bytes.size());
  return Final(c.get());
}

absl::StatusOr<std::string> Sha256OfFiles(
    const std::vector<std::string>& paths) {
  Context c = NewContext();
  if (c == nullptr) return absl::InternalError("sha256: no digest context");
  std::string buffer(1 << 20, '\0');
  for (const std::string& path : paths) {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"),
                                            &std::fclose);
    if (f == nullptr) {
      const int error = errno;
      const std::string why = absl::StrCat(path, ": ", std::strerror(error));
      return error == ENOENT ? absl::NotFoundError(why)
                             : absl::PermissionDeniedError(why);
    }
    size_t got;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), f.get())) > 0) {
      EVP_DigestUpdate(c.get(), buffer.data(), got);
    }
    if (std::ferror(f.get())) {
      return absl::DataLossError(absl::StrCat(path, ": read error"));
    }
  }
  return Final(c.get());
}

}  // namespace fnprobe
