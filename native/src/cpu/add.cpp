// `add` (compiler/plan/ops.ts AddOp; runtime/reference/ops/add.ts): out[i] = a[i] + b[i] for `count` values, the
// residual update. Elementwise, so out may be a (in place, the usual case) or b. The sum of two fp32 values taken
// in double and rounded to fp32 is the correctly rounded fp32 sum, so no wider type is needed here.
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_add(const AddOp& op, Memory& mem) {
  require_f32(mem, op.a, op.count, "a");
  require_f32(mem, op.b, op.count, "b");
  require_f32(mem, op.out, op.count, "out");
}

void run_add(const AddOp& op, Memory& mem) {
  const float* a = mem.f32(op.a);
  const float* b = mem.f32(op.b);
  float* out = mem.f32(op.out);
  parallel_for(op.count, 1 << 15, [&](int64_t begin, int64_t end, int) {
    for (int64_t i = begin; i < end; ++i) out[i] = a[i] + b[i];
  });
}

}  // namespace od::cpu
