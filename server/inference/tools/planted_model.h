// Planted-response checkpoints (fnprobe-make-model --planted): a random
// model in which a few known units respond to known words and nothing else
// responds to anything in the context, so that an end-to-end test of the
// analysis (block design, GLM, FDR) has an exact ground truth.
//
// The experiment this is built for: task prompts contain a condition's words,
// baseline prompts do not; the model samples tokens (temperature 1); every
// GENERATED token is a time point whose activations are the data. The
// construction, for C conditions in a pre-LayerNorm model with learned
// positions and a tied LM head (OPT, GPT-2), H = hidden size, sigma0 = 0.02:
//
//  1. Each planted word is one token (model_maker.cc): it takes the id of an
//     "<|unused_N|>" filler slot, both in the BPE vocab (so that a reader
//     that takes added-token ids from the vocab agrees) and as a non-special
//     added token (matched before BPE, whole words only). A word's token set
//     is that one id.
//  2. Residual dims: the first H - 4C dims are ordinary; condition c owns an
//     input pair (p+, p-) and an output pair (q+, q-) above them.
//  3. Embeddings. Every token row has (+a, -a) on c's p pair if it is one of
//     c's words, else (-a, +a), a = sigma0, and 0 on every q dim: membership
//     changes neither the row's mean nor its variance. The ordinary dims are
//     re-scaled so that every row has exactly the same variance about its
//     mean, sigma0^2: layer 0's LayerNorm then divides every token by the
//     same number, so the marker value the planted head reads is exactly +1
//     or -1 whatever the token (otherwise the context average below would
//     depend on which ordinary words the prompts use). Each row's mean mu_t
//     is small but not zero (RMS 0.001 sigma0): it is the per-token noise of
//     the units that read a q dim through ln2 (below); without it those
//     units of the other conditions would be exact functions of the
//     LayerNorm coupling and look significant however small it is.
//     Position embeddings are zero, so ordinary dims depend on the current
//     token only.
//  4. Attention writes only into q dims. Layer 0's last head is the planted
//     head: zero Q and K (uniform causal attention: it averages the
//     context); its V slot c reads (ln1[p+] - ln1[p-]) / 2 = +-1 (the
//     difference cancels mu_t) plus a bias of 3: 4 for c's words, 2 for
//     others; its output projection writes +s and -s into (q+, q-), s =
//     0.05 sigma0. So q+ holds s (2 + 2 f) and q- its negative, f the
//     fraction of c's words in the context (current token included); a q
//     unit zeroed downstream reads below any context (as f = -1). Every other
//     output-projection entry and every attention output bias is zero, in every
//     layer; no Q/K/V reads a p or q dim.
//  5. LayerNorm gains and biases are zero on p and q dims everywhere except
//     ln1 of layer 0 on p dims (gain 1, so the planted head can read them)
//     and ln2 of layer 0 on q dims (gain sigma0 / s = 20, so ln2 of q+ is
//     about 2 + 2 f and planted neurons can read it). Units that read p or q
//     through any other norm see a constant.
//  6. MLP: in layer 0, c's two neurons read only q+ (weight 2) resp. only q-
//     (weight -2), bias -1.5: pre-activation 2.5 + 4 f, so GELU stays on
//     its increasing branch; their fc2 columns are zero (they write
//     nothing). No other neuron reads a p
//     or q dim and no fc2 row or bias writes one (the causal neurons of
//     step 8 aside): after layer 0's attention the q dims never change, nor
//     do the p dims where the causal neurons are off.
//  7. Final norm: gain 0 on q dims, so logits do not see the context but
//     through step 8 (gain 200 on p dims, which hold the current token's
//     marker wherever the causal neurons are off, f <= 0.2). Its bias is -beta
//     on p+ and +beta on p- (beta = 300): with the tied head that lowers every
//     planted token's logit by 4 beta a = 24 against all others, so planted
//     words are (practically) never generated and a time point's input token is
//     never a planted word.
//  8. The causal part: each condition's planted units carry what the model
//     needs to predict its words in contexts rich in them (texts of c's
//     words and the spaces between them: f ~ 1/2). Four more layer-0
//     neurons of c, its causal neurons, have pre-activation 30 (ln2[q+] -
//     2.7): positive where f > 0.35, and at most -9 - so exactly 0 after
//     ReLU, or after GELU in float32 - wherever f <= 0.2 (every generated
//     time point of a block-design task prompt, whose planted words are two
//     among ordinary ones). Their fc2 columns write +0.01 / 4 and -0.01 / 4
//     per unit of output into c's (p+, p-) (four neurons, so that a random
//     control that zeroes one costs a quarter of the effect), and the final
//     norm reads p dims with gain 200, so where they fire c's words gain
//     several logits over every other token (the tied head gives them +a on
//     p+ and every other token -a): enough to predict c's words after a
//     space, at the cost of predicting the spaces after c's words worse.
//     Zeroing c's q dims where attention writes them (attn_out, resid_mid
//     of layer 0) switches them off; random units almost never do. The
//     causal neurons' mlp_pre follows f and is part of the ground truth;
//     their mlp_post, mlp_out and the p dims downstream are exactly
//     constant in the block-design experiment. Where the causal neurons are
//     off, the final norm's gain on p dims shifts every ordinary token's
//     logit by the same amount (softmax unchanged among them) and lowers
//     planted words' further (about 33 logits instead of 24).
// With all this, an ordinary unit is a function of the current token only,
// up to the one coupling left: the q dims enter the variance of every
// LayerNorm after layer 0's attention. s is small so that this moves units
// by ~1e-4 of their standard deviation (quadratic in s); the planted units'
// effect sizes do not depend on s. Because logits (almost) do not see the
// context, generation is the same Markov chain (next token given current
// token) in task and baseline prompts.
//
// Ground truth (PlantedUnitNames): for condition c, blocks.0.attn_out[q+,
// q-], blocks.L.resid_mid[q+, q-] and blocks.L.resid_post[q+, q-] for every
// layer L, blocks.0.ln2[q+, q-], blocks.0.mlp_pre and blocks.0.mlp_post of
// c's two neurons, blocks.0.mlp_pre of c's four causal neurons: 12 + 4 *
// num_layers units. The q- units decrease with the
// words (test two-sided); the others increase. Not responding, by
// construction: embed* (the current token is never a planted word), ln1 and
// attn.q/k/v (current position only), later layers' ln1/ln2 and final_norm
// on p/q dims (gain 0), mlp_out (zero fc2 rows), attn_out of later layers
// (zero). Many units are exactly constant.
//
// Exactness needs float32 weights (enforced) and float32 compute: rounded
// embeddings would make the LayerNorm scales of ordinary tokens unequal.
//
// Torch-free. Thread-safe: free functions without shared state.
#ifndef FNPROBE_SERVER_INFERENCE_TOOLS_PLANTED_MODEL_H_
#define FNPROBE_SERVER_INFERENCE_TOOLS_PLANTED_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/inference/model/model_config.h"
#include "server/inference/tools/planted_spec.h"

namespace fnprobe {

// Where one condition lives in a planted model.
struct PlantedConditionLayout {
  std::string name;
  std::vector<std::string> words;
  std::vector<int64_t> token_ids;  // one per word, in the same order
  int64_t input_plus = 0;          // residual dims p+, p-
  int64_t input_minus = 0;
  int64_t output_plus = 0;  // residual dims q+, q-
  int64_t output_minus = 0;
  int64_t head_slot = 0;                // V slot of the planted head
  std::vector<int64_t> neurons;         // layer-0 MLP neurons (reading q+, q-)
  std::vector<int64_t> causal_neurons;  // layer-0, writing p (step 8)
};

struct PlantedLayout {
  int64_t layer = 0;          // the layer of the planted head and neurons
  int64_t head = 0;           // the planted head
  int64_t ordinary_dims = 0;  // residual dims [0, ordinary_dims) are not
                              // planted
  std::vector<PlantedConditionLayout> conditions;
};

// The most conditions a model of `config` holds: each takes 4 residual dims
// (at most half of them planted), one V slot of the planted head and two
// neurons.
int64_t MaxPlantedConditions(const ModelConfig& config);

// Places the conditions of `spec` in a model of `config`; `token_ids` are
// the planted words' ids in spec order (all conditions' words in turn).
// INVALID_ARGUMENT for a family other than opt and gpt2 (or a config the
// construction cannot use: post-LayerNorm, projected or untied embeddings)
// and for more conditions than MaxPlantedConditions.
absl::StatusOr<PlantedLayout> LayoutPlantedModel(
    const ModelConfig& config, const PlantSpec& spec,
    const std::vector<int64_t>& token_ids);

// The ground-truth responding units of condition `condition`, as
// "hook[index]" over every hook point of the model, in the model's hook
// order and ascending index.
std::vector<std::string> PlantedUnitNames(const ModelConfig& config,
                                          const PlantedLayout& layout,
                                          size_t condition);

// DIR/planted.json: the layout, the token ids and the units of every
// condition (format in the comment of the definition).
std::string PlantedJson(const ModelConfig& config, const PlantedLayout& layout,
                        const std::string& shape, uint64_t seed);

// Rewrites the random float32 weights at `safetensors_path` (as
// WriteRandomWeights wrote them for `config`) into the planted model, in
// place and atomically. Errors name the file or tensor.
absl::Status PlantWeights(const std::string& safetensors_path,
                          const ModelConfig& config,
                          const PlantedLayout& layout);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOOLS_PLANTED_MODEL_H_
