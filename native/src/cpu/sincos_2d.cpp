// sincos_2d (compiler/plan/ops.ts SinCos2dOp; models.md §0.3), the CPU reference of
// runtime/reference/ops/sincos-2d.ts: the MAE 2-D table of a rows × cols token grid, position n = r·cols + c
// row-major, one row of `width` per position: the first half is emb1d(width/2) of the column coordinate
// c·col_scale, the second emb1d(width/2) of the row coordinate r·row_scale, each [sin | cos] of width/4 values
// with ω[i] = 1 / 10000^(i / (width/4)).
// Which positions the rank writes: all rows·cols, or `padded` of them, positions rows·cols and on being zero
// rows; `band` keeps band `index` of `count` equal bands of whole token rows; `shard` then keeps the rank's run of
// `parts` equal runs of what is left (a band of a padded layout is not defined). Double, stored fp32; split over
// positions.
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

namespace {

// The run [first, first + count) of the (padded) positions the rank writes.
struct Run {
  int64_t first = 0, count = 0;
};

// Fails (naming what does not fit) where the reference throws; the shard index is the rank's.
Run positions_of(const SinCos2dOp& op, const Memory& mem) {
  const int64_t grid = op.rows * op.cols;
  Run run{0, op.padded.value_or(grid)};
  OD_CHECK(run.count >= grid,
           std::to_string(run.count) + " padded positions do not hold the " + std::to_string(grid) + " of the grid", "");
  OD_CHECK(!(op.band && op.padded), "a row band of a padded layout is not defined", "");
  if (op.band) {
    const int64_t index = op.band->index, count = op.band->count;
    OD_CHECK(count >= 1 && op.rows % count == 0 && index >= 0 && index < count,
             "band " + std::to_string(index) + " of " + std::to_string(count) + " is not a band of " + std::to_string(op.rows) + " token rows",
             "");
    run.count = (op.rows / count) * op.cols;
    run.first = index * run.count;
  }
  if (op.shard) {
    OD_CHECK(op.shard->parts >= 1 && run.count % op.shard->parts == 0,
             std::to_string(run.count) + " positions do not split in " + std::to_string(op.shard->parts), "");
    run.count /= op.shard->parts;
    run.first += mem.shard_index(op.shard->axis, op.shard->parts, "sincos_2d") * run.count;
  }
  return run;
}

// [sin | cos] of position·ω into out, `half` values each (emb1d of models.md §0.3).
void write_sincos(float* out, double position, int64_t half) {
  for (int64_t i = 0; i < half; i++) {
    const double o = position / std::pow(10000.0, static_cast<double>(i) / static_cast<double>(half));
    out[i] = static_cast<float>(std::sin(o));
    out[half + i] = static_cast<float>(std::cos(o));
  }
}

struct Task {
  const SinCos2dOp* op;
  float* out;
  Run run;
};

}  // namespace

void check_sincos_2d(const SinCos2dOp& op, Memory& mem) {
  OD_CHECK(op.width >= 4 && op.width % 4 == 0, "width " + std::to_string(op.width) + " does not make two [sin | cos] halves", "");
  OD_CHECK(op.rows >= 0 && op.cols >= 1, std::to_string(op.rows) + " x " + std::to_string(op.cols) + " is not a token grid", "");
  const Run run = positions_of(op, mem);
  require_f32(mem, op.out, run.count * op.width, "out");
}

void run_sincos_2d(const SinCos2dOp& op, Memory& mem) {
  Task t{&op, mem.f32(op.out), positions_of(op, mem)};
  parallel_for(t.run.count, 64, [&t](int64_t begin, int64_t end, int) {
    const SinCos2dOp& op = *t.op;
    const int64_t width = op.width, half = width / 2, grid = op.rows * op.cols;
    for (int64_t m = begin; m < end; m++) {
      const int64_t n = t.run.first + m;
      float* row = t.out + m * width;
      if (n >= grid) {
        for (int64_t d = 0; d < width; d++) row[d] = 0;
        continue;
      }
      const int64_t r = n / op.cols, c = n % op.cols;
      write_sincos(row, static_cast<double>(c) * op.col_scale, half / 2);
      write_sincos(row + half, static_cast<double>(r) * op.row_scale, half / 2);
    }
  });
}

}  // namespace od::cpu
