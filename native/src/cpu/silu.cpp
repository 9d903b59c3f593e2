// `silu` (compiler/plan/ops.ts SiluOp; runtime/reference/ops/silu.ts): out[i] = x[i] · sigmoid(x[i]) =
// x[i] / (1 + exp(−x[i])) for `count` values, the form the reference computes, in double and rounded once to fp32
// (adaLN applies it to the condition before its Linear). Elementwise, so out may be x.
#include <cmath>

#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_silu(const SiluOp& op, Memory& mem) {
  require_f32(mem, op.x, op.count, "x");
  require_f32(mem, op.out, op.count, "out");
}

void run_silu(const SiluOp& op, Memory& mem) {
  const float* x = mem.f32(op.x);
  float* out = mem.f32(op.out);
  parallel_for(op.count, 1 << 14, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) {
      const double v = x[i];
      out[i] = static_cast<float>(v / (1.0 + std::exp(-v)));
    }
  });
}

}  // namespace od::cpu
