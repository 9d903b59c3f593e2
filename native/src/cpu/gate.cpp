// `gate` (compiler/plan/ops.ts GateOp; runtime/reference/ops/gate.ts): out[r] = gate[s] ⊙ x[r] for `rows` rows of
// `width`, s = floor(r / rows_per_sample): the adaLN gate of a branch, one row of a [samples, chunks, width]
// modulation buffer per sample, located by the reference's modulationRows rule (modulation_chunks, defined with
// layernorm_modulate). Elementwise, so out may be x; the fp32 product is exact in double, so no wider type here.
#include <algorithm>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

// layernorm_modulate.cpp (runtime/reference/ops/layernorm-modulate.ts modulationRows).
int64_t modulation_chunks(const Memory& mem, const ModRef& ref, int64_t samples, int64_t width, const char* role);

void check_gate(const GateOp& op, Memory& mem) {
  OD_CHECK(op.rows_per_sample >= 1 && op.rows % op.rows_per_sample == 0,
           std::to_string(op.rows) + " rows are not whole samples of " + std::to_string(op.rows_per_sample),
           "a plan defect: recompile the plan with this version of opendit");
  require_f32(mem, op.x, op.rows * op.width, "x");
  require_f32(mem, op.out, op.rows * op.width, "out");
  modulation_chunks(mem, op.gate, op.rows / op.rows_per_sample, op.width, "gate");
}

void run_gate(const GateOp& op, Memory& mem) {
  const int64_t width = op.width;
  const int64_t samples = op.rows / op.rows_per_sample;
  const float* x = mem.f32(op.x);
  const float* gate = mem.f32(op.gate.buffer);
  float* out = mem.f32(op.out);
  const int64_t chunks = mem.count(op.gate.buffer) / (samples * width);
  parallel_for(op.rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, width)), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* g = gate + ((r / op.rows_per_sample) * chunks + op.gate.chunk) * width;
      const float* xr = x + r * width;
      float* o = out + r * width;
      for (int64_t j = 0; j < width; ++j) o[j] = g[j] * xr[j];
    }
  });
}

}  // namespace od::cpu
