// `guidance` (compiler/plan/ops.ts GuidanceOp; runtime/reference/ops/guidance.ts; models.md §9.5): classifier-free
// guidance. x [2n, channels, plane] holds the conditional outputs in samples 0..n−1 and the unconditional ones in
// samples n..2n−1 (n = `samples`); sample j pairs c = x[j] with u = x[n + j]. out [n, kept, plane], kept being
// prediction_channels P, or 2P with variance "cond":
//   channel k < mixed:        u + scale·(c − u)   (in double, rounded once)
//   mixed ≤ k < P:            c                   (DiT's first-3-channels rule leaves the rest conditional)
//   P ≤ k < 2P ("cond" only): c                   (the learned variance half, from the conditional branch)
// With variance "drop" the channels from P on are not written.
#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {
namespace {

int64_t kept_of(const GuidanceOp& op) { return op.variance == Variance::Cond ? 2 * op.prediction_channels : op.prediction_channels; }

}  // namespace

void check_guidance(const GuidanceOp& op, Memory& mem) {
  const int64_t kept = kept_of(op);
  OD_CHECK(op.mixed >= 0 && op.mixed <= op.prediction_channels && kept <= op.channels,
           "mixes " + std::to_string(op.mixed) + " and keeps " + std::to_string(kept) + " of " + std::to_string(op.prediction_channels) +
               " prediction channels out of " + std::to_string(op.channels),
           "a plan defect: recompile the plan with this version of opendit");
  require_f32(mem, op.x, 2 * op.samples * op.channels * op.plane, "x");
  require_f32(mem, op.out, op.samples * kept * op.plane, "out");
}

void run_guidance(const GuidanceOp& op, Memory& mem) {
  const int64_t n = op.samples, plane = op.plane, channels = op.channels, kept = kept_of(op);
  const double scale = op.scale;
  const float* x = mem.f32(op.x);
  float* out = mem.f32(op.out);
  // Out plane jk never lies past the x planes it reads (kept ≤ channels), so one pass in order is also correct in
  // place, as the reference is; threads split the (sample, kept channel) planes only when out is not x.
  const auto body = [&](int64_t begin, int64_t end, int) {
    for (int64_t jk = begin; jk < end; ++jk) {
      const int64_t j = jk / kept, k = jk % kept;
      const float* cond = x + (j * channels + k) * plane;
      const float* uncond = x + ((n + j) * channels + k) * plane;
      float* o = out + jk * plane;
      if (k < op.mixed) {
        for (int64_t e = 0; e < plane; ++e) {
          const double u = uncond[e];
          o[e] = static_cast<float>(u + scale * (cond[e] - u));
        }
      } else {
        std::memmove(o, cond, static_cast<size_t>(plane) * sizeof(float));
      }
    }
  };
  if (op.x.id == op.out.id) {
    body(0, n * kept, 0);
  } else {
    parallel_for(n * kept, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, plane)), body);
  }
}

}  // namespace od::cpu
