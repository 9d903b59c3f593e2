// `add` on the device, mirroring cpu/add.cpp (runtime/reference/ops/add.ts): out[i] = a[i] + b[i] for `count`
// values, the residual update. The fp32 sum is the correctly rounded one, as the CPU's; stored in out's dtype.
// Elementwise (one thread per value, grid-stride), so out may be a or b.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t{1} << 20)); }

__global__ void add_kernel(const void* a, DType at, const void* b, DType bt, void* out, DType ot, int64_t count) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < count; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    store_f(out, ot, i, __fadd_rn(load_f(a, at, i), load_f(b, bt, i)));
  }
}

}  // namespace

void run_add(const AddOp& op, Context& ctx) {
  if (op.count <= 0) return;
  const DeviceSlot& a = ctx.buf(op.a);
  const DeviceSlot& b = ctx.buf(op.b);
  const DeviceSlot& out = ctx.buf(op.out);
  add_kernel<<<blocks_for(op.count), kThreads, 0, ctx.stream>>>(a.ptr, a.dtype, b.ptr, b.dtype, out.ptr, out.dtype, op.count);
  OD_CUDA_LAUNCHED(add_kernel);
}

}  // namespace od::cuda
