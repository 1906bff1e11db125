#include "tests/bench/hardware_bounds.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "server/inference/model/cpu_threads.h"

namespace fnprobe {
namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

void Synchronize(const torch::Device& device) {
  // A CUDA product is asynchronous: reading one element waits for it.
  if (device.is_cuda()) torch::cuda::synchronize();
}

// Runs the measurement on every CPU, libtorch's pool and the BLAS's own,
// then restores both: a bound is what the machine allows, not what the
// engine's setting (the BLAS on one thread inside libtorch's pool,
// cpu_threads.h) or libtorch's default happens to use.
class AllThreads {
 public:
  AllThreads() : saved_(torch::get_num_threads()), saved_blas_(BlasThreads()) {
    const int n = AvailableCpus();
    torch::set_num_threads(n);
    SetBlasThreads(n);
  }
  ~AllThreads() {
    torch::set_num_threads(saved_);
    if (saved_blas_ > 0) SetBlasThreads(saved_blas_);
  }
  AllThreads(const AllThreads&) = delete;
  AllThreads& operator=(const AllThreads&) = delete;

 private:
  const int saved_;
  const int saved_blas_;
};

}  // namespace

std::vector<ProjectionShape> DecoderProjections(int64_t layers, int64_t hidden,
                                                int64_t intermediate,
                                                int64_t vocab) {
  return {{hidden, hidden, 4 * layers},
          {hidden, intermediate, layers},
          {intermediate, hidden, layers},
          {hidden, vocab, 1}};
}

double FlopsPerToken(const std::vector<ProjectionShape>& shapes) {
  double flops = 0;
  for (const ProjectionShape& s : shapes) {
    flops += 2.0 * static_cast<double>(s.in) * s.out * s.count;
  }
  return flops;
}

double MeasureReadBandwidth(int64_t bytes, int repeats) {
  torch::NoGradGuard no_grad;
  const AllThreads all_threads;
  const torch::Tensor buffer =
      torch::ones({bytes / static_cast<int64_t>(sizeof(float))});
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const float sum = buffer.sum().item<float>();
    best = std::min(best, Seconds(start));
    if (sum < 0) return 0;  // keeps the sum
  }
  return static_cast<double>(bytes) / best;
}

double MeasureGemmFlops(const std::vector<ProjectionShape>& shapes,
                        int64_t rows, const std::string& device_name,
                        int repeats) {
  torch::NoGradGuard no_grad;
  const AllThreads all_threads;
  const torch::Device device(device_name);
  const auto options = torch::TensorOptions().device(device);
  // Distinct weights for every use, as a forward pass has (one layer's
  // weights are not the next's): at small row counts the products read
  // their weights from memory, and the bound must include that.
  std::vector<torch::Tensor> inputs;
  std::vector<std::vector<torch::Tensor>> weights(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) {
    inputs.push_back(torch::randn({rows, shapes[i].in}, options));
    for (int64_t c = 0; c < shapes[i].count; ++c) {
      weights[i].push_back(
          torch::randn({shapes[i].in, shapes[i].out}, options));
    }
  }
  auto step = [&] {
    for (size_t i = 0; i < shapes.size(); ++i) {
      for (const torch::Tensor& w : weights[i]) {
        torch::Tensor out = torch::mm(inputs[i], w);
      }
    }
    Synchronize(device);
  };
  step();  // warm up thread pools and kernels
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    step();
    best = std::min(best, Seconds(start));
  }
  return FlopsPerToken(shapes) * static_cast<double>(rows) / best;
}

int64_t CheckpointWeightBytes(const std::string& model_dir) {
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(model_dir, ec)) {
    if (entry.path().extension() == ".safetensors") {
      bytes += static_cast<int64_t>(entry.file_size(ec));
    }
  }
  return bytes;
}

}  // namespace fnprobe
