// The libtorch Engine: runs steps of a loaded Model on its device, keeping
// one KvCache per sequence. See engine.h for the contract.
//
// Captured values of a step are gathered on the device into one float32
// [rows, layout width] buffer and copied to the host once per step, not once
// per hook point.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_TORCH_ENGINE_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_TORCH_ENGINE_H_

#include <memory>

#include "server/inference/model/engine.h"
#include "server/inference/model/model.h"

namespace fnprobe {

std::unique_ptr<Engine> NewTorchEngine(std::shared_ptr<const Model> model);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_TORCH_ENGINE_H_
