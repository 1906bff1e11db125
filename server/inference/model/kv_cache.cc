#include "server/inference/model/kv_cache.h"

#include <algorithm>

namespace fnprobe {

KvCache::KvCache(int num_layers) : keys_(num_layers), values_(num_layers) {}

void KvCache::Grow(int layer, const at::Tensor& like, int64_t needed) {
  at::Tensor& k = keys_[layer];
  int64_t capacity = k.defined() ? k.size(1) : 0;
  if (needed <= capacity) return;
  int64_t new_capacity = std::max<int64_t>({needed, 2 * capacity, 16});
  auto grow = [&](at::Tensor& buf) {
    at::Tensor bigger =
        at::empty({like.size(0), new_capacity, like.size(2)}, like.options());
    if (buf.defined() && length_ > 0) {
      bigger.narrow(1, 0, length_).copy_(buf.narrow(1, 0, length_));
    }
    buf = bigger;
  };
  grow(keys_[layer]);
  grow(values_[layer]);
}

std::pair<at::Tensor, at::Tensor> KvCache::Append(int layer,
                                                  const at::Tensor& k,
                                                  const at::Tensor& v) {
  const int64_t n = k.size(1);
  Grow(layer, k, length_ + n);
  keys_[layer].narrow(1, length_, n).copy_(k);
  values_[layer].narrow(1, length_, n).copy_(v);
  return {keys_[layer].narrow(1, 0, length_ + n),
          values_[layer].narrow(1, 0, length_ + n)};
}

}  // namespace fnprobe
