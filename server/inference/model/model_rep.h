// The torch side of a Model: weights and load options. Engine files only.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_MODEL_REP_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_MODEL_REP_H_

#include "server/inference/model/model.h"
#include "server/inference/model/model_weights.h"

namespace fnprobe {

struct ModelRep {
  ModelWeights weights;
  LoadOptions options;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_MODEL_REP_H_
