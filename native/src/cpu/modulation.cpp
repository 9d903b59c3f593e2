// `modulation` (compiler/plan/ops.ts ModulationOp; runtime/reference/ops/modulation.ts): the adaLN rows out
// [samples, chunks, width]. With source_chunks = chunks (adaLN-single): out[s, k] = table[k] + source[s, k], the
// source being the shared t_block output viewed [samples, chunks, width]. With source_chunks = 1 (PixArt's final
// layer): out[s, k] = table[k] + source[s], one source row added to every chunk. Without a table: the source rows
// alone. out must not be the source (with one source chunk it is read once per chunk). A few thousand values:
// no threads.
#include <string>

#include "core/error.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_modulation(const ModulationOp& op, Memory& mem) {
  const char* plan_hint = "a plan defect: recompile the plan with this version of opendit";
  OD_CHECK(op.source_chunks == 1 || op.source_chunks == op.chunks,
           "source_chunks " + std::to_string(op.source_chunks) + " is neither 1 nor chunks " + std::to_string(op.chunks), plan_hint);
  OD_CHECK(op.source.id != op.out.id, "out `" + mem.name(op.out) + "` is also its source", plan_hint);
  require_f32(mem, op.source, op.samples * op.source_chunks * op.width, "source");
  if (op.table) {
    require_f32(mem, *op.table, op.chunks * op.width, "table");
    const int64_t values = mem.count(*op.table);
    OD_CHECK(values == op.chunks * op.width,
             "table `" + mem.name(*op.table) + "` holds " + std::to_string(values) + " values, not " + std::to_string(op.chunks) + "·" +
                 std::to_string(op.width),
             "the checkpoint's scale_shift_table does not have the plan's [chunks, width] shape");
  }
  require_f32(mem, op.out, op.samples * op.chunks * op.width, "out");
}

void run_modulation(const ModulationOp& op, Memory& mem) {
  const float* source = mem.f32(op.source);
  const float* table = op.table ? mem.f32(*op.table) : nullptr;
  float* out = mem.f32(op.out);
  const int64_t width = op.width;
  for (int64_t s = 0; s < op.samples; ++s) {
    for (int64_t k = 0; k < op.chunks; ++k) {
      float* o = out + (s * op.chunks + k) * width;
      const float* src = source + (s * op.source_chunks + (op.source_chunks == 1 ? 0 : k)) * width;
      if (table) {
        const float* t = table + k * width;
        for (int64_t j = 0; j < width; ++j) o[j] = t[j] + src[j];
      } else {
        // 0 + v as the reference adds it (a −0 source value comes out +0).
        for (int64_t j = 0; j < width; ++j) o[j] = 0.0f + src[j];
      }
    }
  }
}

}  // namespace od::cpu
