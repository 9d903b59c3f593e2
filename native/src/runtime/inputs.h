// The run's inputs into the plan's input buffers (Plan.inputs), exactly as runtime/reference/inputs.ts fills
// them: rows [first, first + count) of the buffer, row r taking the run's sample shard·count + r, entries with a
// cfg rank only on ranks with that cfg coordinate, the unconditional text rows from the negative prompt.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "runtime/memory.h"

namespace od {

struct RunInputs {
  // The initial latent of every sample of the run, [samples, C, T, H, W]; when empty it is drawn from
  // noise_seed: sample g's latent is the normals of key(noise_seed, "latent/<g>"), row-major, rounded to fp32.
  std::vector<float> noise;
  uint64_t noise_seed = 0;
  std::vector<float> text;           // [samples, L, Ct]
  std::vector<float> negative_text;  // [samples, L, Ct]
  std::vector<float> text_mask;      // [samples, L], 1 = real token
  std::vector<int32_t> labels;       // [samples]
  // A fixed model timestep instead of the step table's: one value for every row, or one per row.
  std::vector<double> timestep;
};

// The initial noise of the run's sample g, [C, T, H, W] (per the RunInputs::noise rule).
void initial_noise(uint64_t seed, int64_t global_sample, float* out, int64_t count);

// Everything but the timestep, once before the setup program. Errors name the input entry and what is missing.
void fill_inputs(Memory& mem, const RunInputs& inputs);
// This step's timestep into every `timestep` input.
void fill_timestep(Memory& mem, int step, const RunInputs& inputs);

}  // namespace od
