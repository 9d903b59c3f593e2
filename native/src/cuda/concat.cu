// `concat` on the device, mirroring cpu/concat.cpp (runtime/reference/ops/concat.ts): out[r] = [parts[0][r] |
// parts[1][r] | ...] for `rows` rows, part i `widths[i]` wide. A copy (through fp32, exact for every storage
// dtype): one launch per part, one thread per copied value, grid-stride. out is not one of the parts (checked by
// the CPU check).
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

// Part [rows, width] into columns [offset, offset + width) of out [rows, total].
__global__ void concat_kernel(const void* part, DType pt, void* out, DType ot, int64_t rows, int64_t width, int64_t total, int64_t offset) {
  const int64_t n = rows * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / width, j = i % width;
    store_f(out, ot, r * total + offset + j, load_f(part, pt, i));
  }
}

}  // namespace

void run_concat(const ConcatOp& op, Context& ctx) {
  int64_t total = 0;
  for (int64_t w : op.widths) total += w;
  const DeviceSlot& out = ctx.buf(op.out);
  int64_t offset = 0;
  for (size_t i = 0; i < op.parts.size(); ++i) {
    const int64_t width = op.widths[i];
    if (op.rows > 0 && width > 0) {
      const DeviceSlot& part = ctx.buf(op.parts[i]);
      concat_kernel<<<blocks_for(op.rows * width), kThreads, 0, ctx.stream>>>(part.ptr, part.dtype, out.ptr, out.dtype, op.rows, width, total,
                                                                               offset);
      OD_CUDA_LAUNCHED(concat_kernel);
    }
    offset += width;
  }
}

}  // namespace od::cuda
