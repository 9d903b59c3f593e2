// `add` on the device, mirroring cpu/add.cpp (runtime/reference/ops/add.ts): out[i] = a[i] + b[i] for `count`
// values, the residual update. The fp32 sum is the correctly rounded one, as the CPU's; stored in out's dtype.
// Fast path: when a, b and out share a dtype and are 16-byte aligned, a kernel templated on the element type
// (dispatched once per launch) adds 16 bytes (4 float, 8 bf16/f16) a thread, grid-stride with 32-bit indices,
// the count % vector tail value by value; otherwise a generic per-value kernel. Elementwise (each value read and
// written by the same thread), so out may be a or b.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

// nvec whole vectors, then `tail` (< N) values after them.
template <typename T>
__global__ void __launch_bounds__(kThreads) add_vec_kernel(const T* a, const T* b, T* out, uint32_t nvec, uint32_t tail) {
  constexpr int N = vec_of<T>();
  for (uint32_t v = blockIdx.x * kThreads + threadIdx.x; v < nvec; v += gridDim.x * kThreads) {
    const size_t i = static_cast<size_t>(v) * N;
    float av[N], bv[N];
    load_vec<T, N>(a + i, av);
    load_vec<T, N>(b + i, bv);
#pragma unroll
    for (int k = 0; k < N; ++k) av[k] = __fadd_rn(av[k], bv[k]);
    store_vec<T>(out + i, av);
  }
  if (blockIdx.x == 0 && threadIdx.x < tail) {
    const size_t i = static_cast<size_t>(nvec) * N + threadIdx.x;
    out[i] = from_f<T>(__fadd_rn(to_f(a[i]), to_f(b[i])));
  }
}

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
  bool launched = false;
  if (a.dtype == out.dtype && b.dtype == out.dtype && aligned16(a.ptr) && aligned16(b.ptr) && aligned16(out.ptr)) {
    with_float_type(out.dtype, [&](auto t) {
      using T = decltype(t);
      constexpr int N = vec_of<T>();
      const int64_t nvec = op.count / N;
      if (nvec >= (int64_t{1} << 31)) return;
      add_vec_kernel<T><<<blocks_for(std::max<int64_t>(nvec, 1)), kThreads, 0, ctx.stream>>>(
          static_cast<const T*>(a.ptr), static_cast<const T*>(b.ptr), static_cast<T*>(out.ptr), static_cast<uint32_t>(nvec),
          static_cast<uint32_t>(op.count - nvec * N));
      OD_CUDA_LAUNCHED(add_vec_kernel);
      launched = true;
    });
  }
  if (launched) return;
  add_kernel<<<blocks_for(op.count), kThreads, 0, ctx.stream>>>(a.ptr, a.dtype, b.ptr, b.dtype, out.ptr, out.dtype, op.count);
  OD_CUDA_LAUNCHED(add_kernel);
}

}  // namespace od::cuda
