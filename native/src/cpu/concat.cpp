// `concat` (compiler/plan/ops.ts ConcatOp; runtime/reference/ops/concat.ts): joins matrices along the feature axis,
// out[r] = [parts[0][r] | parts[1][r] | ...] for `rows` rows, part i `widths[i]` wide (PixArt-MS's size
// embeddings). A copy, so no arithmetic; out must not be one of the parts (it would overwrite rows not yet read).
// A few rows of a few hundred values: no threads.
#include <cstring>
#include <string>

#include "core/error.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_concat(const ConcatOp& op, Memory& mem) {
  const std::string plan_hint = "a plan defect: recompile the plan with this version of opendit";
  OD_CHECK(op.parts.size() == op.widths.size(),
           std::to_string(op.parts.size()) + " parts but " + std::to_string(op.widths.size()) + " widths", plan_hint);
  int64_t total = 0;
  for (size_t i = 0; i < op.parts.size(); ++i) {
    OD_CHECK(op.parts[i].id != op.out.id, "out `" + mem.name(op.out) + "` is also one of its parts", plan_hint);
    OD_CHECK(op.widths[i] >= 0, "part " + std::to_string(i) + " has the negative width " + std::to_string(op.widths[i]), plan_hint);
    require_f32(mem, op.parts[i], op.rows * op.widths[i], ("part " + std::to_string(i)).c_str());
    total += op.widths[i];
  }
  require_f32(mem, op.out, op.rows * total, "out");
}

void run_concat(const ConcatOp& op, Memory& mem) {
  int64_t total = 0;
  for (int64_t w : op.widths) total += w;
  float* out = mem.f32(op.out);
  int64_t offset = 0;
  for (size_t i = 0; i < op.parts.size(); ++i) {
    const float* part = mem.f32(op.parts[i]);
    const int64_t width = op.widths[i];
    for (int64_t r = 0; r < op.rows; ++r) {
      std::memcpy(out + r * total + offset, part + r * width, static_cast<size_t>(width) * sizeof(float));
    }
    offset += width;
  }
}

}  // namespace od::cpu
