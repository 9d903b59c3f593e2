// `sincos_1d` on the device, mirroring cpu/sincos_1d.cpp (runtime/reference/ops/sincos-1d.ts): the MAE 1-D table
// [count, width] of [sin | cos] halves; with half = width / 2, row m at position p = (start + m)·scale, start =
// first + r·(count/parts) (r the rank's shard index, taken on the host as the CPU takes it), is
//   [sin(p / 10000^(i/half)) | cos(p / 10000^(i/half))]   for i < half
// In double as the CPU computes it, each value rounded once to the storage dtype. One thread per output value,
// grid-stride. The device pow/sin/cos may differ from the C library's by an ulp of the double, which the rounding
// to fp32 almost always hides.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

__global__ void sincos_1d_kernel(void* out, DType ot, int64_t rows, int64_t width, double start, double scale) {
  const int64_t half = width / 2;
  const int64_t total = rows * width;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = idx / width, d = idx % width;
    const int64_t i = d < half ? d : d - half;
    const double position = __dmul_rn(__dadd_rn(start, static_cast<double>(m)), scale);
    const double o = __ddiv_rn(position, pow(10000.0, __ddiv_rn(static_cast<double>(i), static_cast<double>(half))));
    store_f(out, ot, idx, static_cast<float>(d < half ? sin(o) : cos(o)));
  }
}

}  // namespace

void run_sincos_1d(const SinCos1dOp& op, Context& ctx) {
  const int64_t parts = op.shard ? op.shard->parts : 1;
  const int64_t local = op.count / parts;
  const int64_t total = local * op.width;
  if (total <= 0) return;
  const int64_t r = op.shard ? ctx.host->shard_index(op.shard->axis, op.shard->parts, "sincos_1d") : 0;
  const double start = op.first + static_cast<double>(r * local);
  const DeviceSlot& out = ctx.buf(op.out);
  sincos_1d_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(out.ptr, out.dtype, local, op.width, start, op.scale);
  OD_CUDA_LAUNCHED(sincos_1d_kernel);
}

}  // namespace od::cuda
