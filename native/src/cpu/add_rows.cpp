// `add_rows` (compiler/plan/ops.ts AddRowsOp; runtime/reference/ops/add-rows.ts): out[r] = x[r] +
// table[floor(r / repeat) mod period] for `rows` rows of `width`: a table broadcast along the rows (a positional
// table per token with repeat 1 and period the tokens of a sample; a temporal table per frame with repeat the
// tokens of a frame; one row for every sample with period 1). Row by row and elementwise, so out may be x.
#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_add_rows(const AddRowsOp& op, Memory& mem) {
  OD_CHECK(op.period >= 1 && op.repeat >= 1,
           "period " + std::to_string(op.period) + " and repeat " + std::to_string(op.repeat) + " must be at least 1",
           "a plan defect: recompile the plan with this version of opendit");
  require_f32(mem, op.x, op.rows * op.width, "x");
  require_f32(mem, op.table, op.period * op.width, "table");
  require_f32(mem, op.out, op.rows * op.width, "out");
}

void run_add_rows(const AddRowsOp& op, Memory& mem) {
  const float* x = mem.f32(op.x);
  const float* table = mem.f32(op.table);
  float* out = mem.f32(op.out);
  const int64_t width = op.width;
  parallel_for(op.rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, width)), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* t = table + ((r / op.repeat) % op.period) * width;
      const float* xr = x + r * width;
      float* o = out + r * width;
      for (int64_t j = 0; j < width; ++j) o[j] = xr[j] + t[j];
    }
  });
}

}  // namespace od::cpu
