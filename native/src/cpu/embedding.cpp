// `embedding` (compiler/plan/ops.ts EmbeddingOp; runtime/reference/ops/embedding.ts): out[i] = table[ids[i]] for
// `count` i32 ids, rows of `width` values (DiT's class labels; the null class is the table's last row). The
// table's rows follow from its length, which must be whole rows. An id outside the table is an input defect: it
// is reported, naming the id, its position and both buffers, never clamped. A handful of rows: no threads.
#include <cstring>
#include <string>

#include "core/error.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_embedding(const EmbeddingOp& op, Memory& mem) {
  require_f32(mem, op.table, 0, "table");
  const int64_t values = mem.count(op.table);
  OD_CHECK(op.width >= 1 && values % op.width == 0,
           "the " + std::to_string(values) + " values of table `" + mem.name(op.table) + "` are not rows of " + std::to_string(op.width),
           "the plan's embedding width and the table's shape disagree");
  require_i32(mem, op.ids, op.count, "ids");
  require_f32(mem, op.out, op.count * op.width, "out");
}

void run_embedding(const EmbeddingOp& op, Memory& mem) {
  const float* table = mem.f32(op.table);
  const int32_t* ids = mem.i32(op.ids);
  float* out = mem.f32(op.out);
  const int64_t width = op.width;
  const int64_t entries = mem.count(op.table) / width;
  for (int64_t i = 0; i < op.count; ++i) {
    const int64_t id = ids[i];
    OD_CHECK(id >= 0 && id < entries,
             "id " + std::to_string(id) + " at " + std::to_string(i) + " of `" + mem.name(op.ids) + "` is outside the " + std::to_string(entries) +
                 " rows of table `" + mem.name(op.table) + "`",
             "the table's rows are 0 to " + std::to_string(entries - 1) + "; a class-conditional model's last row is its null class");
    std::memcpy(out + i * width, table + id * width, static_cast<size_t>(width) * sizeof(float));
  }
}

}  // namespace od::cpu
