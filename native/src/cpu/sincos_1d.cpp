// sincos_1d (compiler/plan/ops.ts SinCos1dOp; models.md §0.3), the CPU reference of
// runtime/reference/ops/sincos-1d.ts: the MAE 1-D table [count, width] of [sin | cos] halves, sin first: with
// half = width / 2 and ω[i] = 1 / 10000^(i / half), row m at position p = (first + m)·scale is
//   [sin(p·ω[0..half−1]) | cos(p·ω[0..half−1])]
// With `shard` the rank holds only its run of count / parts rows: positions (first + r·count/parts + m)·scale, r
// its index along the shard's axis (Memory::shard_index). Computed in double (p / 10000^(i/half), as the
// reference divides), stored fp32; split over rows.
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

namespace {

// The rows this rank writes (count / parts).
int64_t local_rows(const SinCos1dOp& op) { return op.count / (op.shard ? op.shard->parts : 1); }

struct Task {
  const SinCos1dOp* op;
  float* out;
  double start;  // first + r·local
};

}  // namespace

void check_sincos_1d(const SinCos1dOp& op, Memory& mem) {
  OD_CHECK(op.width >= 2 && op.width % 2 == 0, "width " + std::to_string(op.width) + " does not make [sin | cos] halves", "");
  const int64_t parts = op.shard ? op.shard->parts : 1;
  OD_CHECK(parts >= 1 && op.count >= 0 && op.count % parts == 0,
           std::to_string(op.count) + " positions do not split in " + std::to_string(parts), "");
  if (op.shard) mem.shard_index(op.shard->axis, parts, "sincos_1d");
  require_f32(mem, op.out, local_rows(op) * op.width, "out");
}

void run_sincos_1d(const SinCos1dOp& op, Memory& mem) {
  const int64_t local = local_rows(op);
  const int64_t r = op.shard ? mem.shard_index(op.shard->axis, op.shard->parts, "sincos_1d") : 0;
  Task t{&op, mem.f32(op.out), op.first + static_cast<double>(r * local)};
  parallel_for(local, 64, [&t](int64_t begin, int64_t end, int) {
    const int64_t width = t.op->width, half = width / 2;
    for (int64_t m = begin; m < end; m++) {
      const double position = (t.start + static_cast<double>(m)) * t.op->scale;
      float* row = t.out + m * width;
      for (int64_t i = 0; i < half; i++) {
        const double o = position / std::pow(10000.0, static_cast<double>(i) / static_cast<double>(half));
        row[i] = static_cast<float>(std::sin(o));
        row[half + i] = static_cast<float>(std::cos(o));
      }
    }
  });
}

}  // namespace od::cpu
