// timestep_embed (compiler/plan/ops.ts TimestepEmbedOp; models.md §0.2), the CPU reference of
// runtime/reference/ops/timestep-embed.ts: the sinusoidal embedding of one scalar per sample, out [samples, dim]
// with half = floor(dim / 2), f[i] = exp(−ln(max_period)·i / half), a = t[s]·f[i]:
//   out[s] = [cos(a[0..half−1]) | sin(a[0..half−1])]   (cos first; an odd dim leaves a last column of zero)
// as DiT's `timestep_embedding`. Frequencies and angles are double, each value stored fp32. A few hundred values
// per sample: no threads.
#include <cmath>
#include <string>

#include "core/error.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_timestep_embed(const TimestepEmbedOp& op, Memory& mem) {
  OD_CHECK(op.dim >= 2 && op.max_period > 0,
           "dim " + std::to_string(op.dim) + " and maxPeriod " + std::to_string(op.max_period) + " do not make a sinusoid", "");
  OD_CHECK(op.samples >= 0, "samples " + std::to_string(op.samples) + " is not a sample count", "");
  require_f32(mem, op.t, op.samples, "t");
  require_f32(mem, op.out, op.samples * op.dim, "out");
}

void run_timestep_embed(const TimestepEmbedOp& op, Memory& mem) {
  const float* t = mem.f32(op.t);
  float* out = mem.f32(op.out);
  const int64_t half = op.dim / 2;
  const double log_period = std::log(op.max_period);
  for (int64_t s = 0; s < op.samples; s++) {
    float* row = out + s * op.dim;
    const double ts = static_cast<double>(t[s]);
    for (int64_t i = 0; i < half; i++) {
      // The reference's order: (−ln(maxPeriod)·i) / half, then exp.
      const double freq = std::exp((-log_period * static_cast<double>(i)) / static_cast<double>(half));
      const double a = ts * freq;
      row[i] = static_cast<float>(std::cos(a));
      row[half + i] = static_cast<float>(std::sin(a));
    }
    if (op.dim % 2 == 1) row[op.dim - 1] = 0;
  }
}

}  // namespace od::cpu
