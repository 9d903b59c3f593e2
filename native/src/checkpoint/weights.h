// The weights of a plan in fp32 host memory, by the checkpoint's official names: from a safetensors file (mmap,
// F32/F16/BF16 converted on load) or drawn by `checkpoint: random` (checkpoint/README.md, "The initialisation"),
// bit for bit what `opendit checkpoint random --dtype fp32` writes. Only the weights of the rank's pipeline stage
// are loaded. Every problem is reported together, each naming the tensor and the expected shape.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "plan/plan.h"

namespace od {

struct WeightsSource {
  bool random = false;
  uint64_t seed = 0;          // random: model.weights_seed
  std::string path;           // file: the checkpoint
  // File tensors the plan does not read that are not an error (the family's skipped tensors: fixed tables the
  // runtime recomputes). Any other tensor the plan does not read is an error ("unexpected tensor").
  std::vector<std::string> ignore;
};

// The value checkpoint: random stores for element i of tensor `name` from its normal z (init.ts's rules).
double random_init_value(const std::string& name, const std::vector<int64_t>& shape, double z);

// One loaded weight: points into the block owned by LoadedWeights.
struct LoadedWeight {
  std::string name;
  std::vector<int64_t> shape;
  float* data = nullptr;
  int64_t count = 0;
};

struct LoadedWeights {
  std::vector<float> storage;  // every weight, one allocation
  std::vector<LoadedWeight> weights;  // in plan order; only those of `stage`
};

// Loads every plan weight that the stage reads (stage: the rank's pipefusion coordinate; weights without
// `stages` are read by all). Errors: "the checkpoint <path> does not fit the plan: missing tensor `x` (expected
// shape [a, b]); tensor `y` has shape [..], expected [..]; unexpected tensor `z` [..]; ...".
LoadedWeights load_weights(const Plan& plan, const WeightsSource& source, int64_t stage);

// Loads the VAE decoder's weights (plan.decode.weights), in that order. Random: as load_weights, by each weight's
// name (the diffusers one). A file: each weight is the tensor of its name or else of its first alias the file
// has (the original LDM names), whose shape equals the weight's up to trailing 1s (an LDM attention weight
// [512, 512, 1, 1] for [512, 512]); the file's other tensors (the encoder's, quant_conv's) are not read.
// Errors list every missing or mis-shaped tensor.
LoadedWeights load_decode_weights(const PlanDecode& decode, const WeightsSource& source);

}  // namespace od
