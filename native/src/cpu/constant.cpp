// `constant` (compiler/plan/ops.ts ConstantOp; runtime/reference/ops/constant.ts): out[i] = values[i mod
// values.length] for `count` values: a per-run scalar the Spec fixes (STDiT3's fps, PixArt-MS's size inputs), or
// zeros to clear a buffer. The values are stored as given (rounded to fp32 in a float buffer); an i32 buffer takes
// only integers in the int32 range, checked before the step loop. A setup op of a few values: no threads.
#include <cmath>
#include <sstream>
#include <string>

#include "core/error.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_constant(const ConstantOp& op, Memory& mem) {
  const char* plan_hint = "a plan defect: recompile the plan with this version of opendit";
  OD_CHECK(!op.values.empty(), "no values to store", plan_hint);
  const Slot& out = mem.slot(op.out);
  // The reference looks `out` up among the buffers only: a checkpoint weight is never overwritten.
  OD_CHECK(!out.is_weight, "out `" + mem.name(op.out) + "` is a checkpoint weight, not a plan buffer", plan_hint);
  if (out.is_int) {
    require_i32(mem, op.out, op.count, "out");
    for (double v : op.values) {
      if (!(std::trunc(v) == v && v >= -2147483648.0 && v < 2147483648.0)) {
        std::ostringstream text;
        text.precision(17);
        text << v << " is not an int32 value for the integer buffer `" << mem.name(op.out) << "`";
        OD_FAIL(text.str(), plan_hint);
      }
    }
  } else {
    require_f32(mem, op.out, op.count, "out");
  }
}

void run_constant(const ConstantOp& op, Memory& mem) {
  const size_t n = op.values.size();
  if (mem.slot(op.out).is_int) {
    int32_t* out = mem.i32(op.out);
    for (int64_t i = 0; i < op.count; ++i) out[i] = static_cast<int32_t>(op.values[static_cast<size_t>(i) % n]);
  } else {
    float* out = mem.f32(op.out);
    for (int64_t i = 0; i < op.count; ++i) out[i] = static_cast<float>(op.values[static_cast<size_t>(i) % n]);
  }
}

}  // namespace od::cpu
