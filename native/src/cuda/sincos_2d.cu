// `sincos_2d` on the device, mirroring cpu/sincos_2d.cpp (runtime/reference/ops/sincos-2d.ts): the MAE 2-D table
// of a rows × cols token grid, position n = r·cols + c, one row of `width` per position: the first half is
// emb1d(width/2) of c·col_scale, the second emb1d(width/2) of r·row_scale, each [sin | cos] of q = width/4 values
// o = position / 10000^(i/q). The positions written are the CPU's (positions_of, on the host): all rows·cols, or
// `padded` of them (positions past the grid zero rows), or band `index` of `count` equal bands of token rows, then
// the rank's run of `shard.parts` equal runs. In double as the CPU computes it, each value rounded once to the
// storage dtype. One thread per output value, grid-stride. The device pow/sin/cos may differ from the C library's
// by an ulp of the double, which the rounding to fp32 almost always hides.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

__global__ void sincos_2d_kernel(void* out, DType ot, int64_t first, int64_t count, int64_t rows, int64_t cols, int64_t width,
                                 double row_scale, double col_scale) {
  const int64_t half = width / 2, quarter = half / 2, grid = rows * cols;
  const int64_t total = count * width;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = idx / width, d = idx % width;
    const int64_t n = first + m;
    if (n >= grid) {
      store_f(out, ot, idx, 0.0f);
      continue;
    }
    const int64_t r = n / cols, c = n % cols;
    // Columns [0, half): the column coordinate; [half, width): the row coordinate; each [sin | cos].
    const double position = d < half ? __dmul_rn(static_cast<double>(c), col_scale) : __dmul_rn(static_cast<double>(r), row_scale);
    const int64_t k = d % half;
    const int64_t i = k < quarter ? k : k - quarter;
    const double o = __ddiv_rn(position, pow(10000.0, __ddiv_rn(static_cast<double>(i), static_cast<double>(quarter))));
    store_f(out, ot, idx, static_cast<float>(k < quarter ? sin(o) : cos(o)));
  }
}

}  // namespace

void run_sincos_2d(const SinCos2dOp& op, Context& ctx) {
  // cpu/sincos_2d.cpp positions_of (its checks already passed).
  int64_t first = 0, count = op.padded.value_or(op.rows * op.cols);
  if (op.band) {
    count = (op.rows / op.band->count) * op.cols;
    first = op.band->index * count;
  }
  if (op.shard) {
    count /= op.shard->parts;
    first += ctx.host->shard_index(op.shard->axis, op.shard->parts, "sincos_2d") * count;
  }
  const int64_t total = count * op.width;
  if (total <= 0) return;
  const DeviceSlot& out = ctx.buf(op.out);
  sincos_2d_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(out.ptr, out.dtype, first, count, op.rows, op.cols, op.width, op.row_scale,
                                                                   op.col_scale);
  OD_CUDA_LAUNCHED(sincos_2d_kernel);
}

}  // namespace od::cuda
