// `silu` on the device, mirroring cpu/silu.cpp (runtime/reference/ops/silu.ts): out[i] = x[i] / (1 + exp(−x[i]))
// for `count` values, in double as the CPU computes it and rounded once to the storage dtype. Elementwise (one
// thread per value, grid-stride), so out may be x. The device exp may differ from the C library's by an ulp of
// the double, which the rounding to fp32 almost always hides.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

__global__ void silu_kernel(const void* x, DType xt, void* out, DType ot, int64_t count) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const double v = static_cast<double>(load_f(x, xt, i));
    store_f(out, ot, i, static_cast<float>(v / (1.0 + exp(-v))));
  }
}

}  // namespace

void run_silu(const SiluOp& op, Context& ctx) {
  if (op.count <= 0) return;
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& out = ctx.buf(op.out);
  silu_kernel<<<blocks_for(op.count), kThreads, 0, ctx.stream>>>(x.ptr, x.dtype, out.ptr, out.dtype, op.count);
  OD_CUDA_LAUNCHED(silu_kernel);
}

}  // namespace od::cuda
