// The attention keys and values of one sequence, for every layer, in
// buffers that grow by doubling so that appending a token is amortised O(1).
//
// Appends are staged: Append() writes a step's new keys/values past the
// committed length, and Commit() makes them part of the cache once the whole
// step has succeeded, so a failed step leaves the cache as it was.
//
// Torch header: engine files only. Not thread-safe.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_KV_CACHE_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_KV_CACHE_H_

#include <ATen/ATen.h>

#include <utility>
#include <vector>

namespace fnprobe {

class KvCache {
 public:
  explicit KvCache(int num_layers);

  // Committed tokens.
  int64_t length() const { return length_; }

  // Writes k, v ([kv_heads, n, head_dim]) for `layer` at positions
  // length()..length()+n-1 and returns the keys and values of positions
  // 0..length()+n-1. REQUIRES: the same n for every layer of one step.
  std::pair<at::Tensor, at::Tensor> Append(int layer, const at::Tensor& k,
                                           const at::Tensor& v);

  // Adds the n staged tokens to the committed length.
  void Commit(int64_t n) { length_ += n; }

 private:
  void Grow(int layer, const at::Tensor& like, int64_t needed);

  std::vector<at::Tensor> keys_;  // [kv_heads, capacity, head_dim]
  std::vector<at::Tensor> values_;
  int64_t length_ = 0;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_KV_CACHE_H_
