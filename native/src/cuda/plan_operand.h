// An op's buffer or weight as the plan places it, before device memory exists: its dtype, element count and a
// stand-in address carrying the real one's alignment (a buffer's plan byte offset: the device arena keeps the
// plan's offsets from a 256-byte aligned base; a weight's 0: weights are placed 256-byte aligned). The decode
// kernels' check-time preparation (cuda/conv2d.cu, cross_attention.cu) picks cuBLASLt algorithms from these, and
// checks that buffers that must not share bytes do not.
#pragma once
#include <cstdint>
#include <string>

#include "core/error.h"
#include "plan/plan.h"
#include "runtime/memory.h"

namespace od::cuda {

struct PlanOperand {
  DType dtype = DType::F32;
  uintptr_t address = 0;  // stand-in address (see above)
  int64_t count = 0;
  bool weight = false;
  const void* pointer() const { return reinterpret_cast<const void*>(address); }
  // Whether the plan gives this buffer and `o` common bytes (weights never share bytes with buffers).
  bool overlaps(const PlanOperand& o) const {
    if (weight || o.weight) return false;
    const uintptr_t end = address + static_cast<uintptr_t>(count * dtype_bytes(dtype));
    const uintptr_t o_end = o.address + static_cast<uintptr_t>(o.count * dtype_bytes(o.dtype));
    return address < o_end && o.address < end;
  }
};

// `role` and `where` name the operand and the op in the error for a name that is neither.
inline PlanOperand plan_operand(const Memory& host, BufRef ref, const char* role, const std::string& where) {
  const Plan& plan = host.plan();
  const std::string& name = plan.name_of(ref);
  for (const PlanBuffer& b : plan.buffers) {
    if (b.name != name) continue;
    int64_t n = 1;
    for (int64_t d : b.shape) n *= d;
    return PlanOperand{b.dtype, static_cast<uintptr_t>(b.offset), n, false};
  }
  for (const PlanWeight& w : plan.weights) {
    if (w.name != name) continue;
    int64_t n = 1;
    for (int64_t d : w.shape) n *= d;
    return PlanOperand{w.dtype, 0, n, true};
  }
  OD_FAIL(where + ": its " + role + " `" + name + "` is neither a plan buffer nor a plan weight", "a plan defect: recompile the plan");
}

}  // namespace od::cuda
