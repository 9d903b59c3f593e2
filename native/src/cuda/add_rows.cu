// `add_rows` on the device, mirroring cpu/add_rows.cpp (runtime/reference/ops/add-rows.ts): out[r] = x[r] +
// table[floor(r / repeat) mod period] for `rows` rows of `width` (a table broadcast along the rows). The fp32 sum
// as the CPU's.
// Fast path: the kernel is templated on x/out's element type T and the table's G (dispatched once per launch);
// each thread adds 16 bytes of x (4 float, 8 bf16/f16) and the matching table values, grid-stride with 32-bit
// indices (the row and table row by 32-bit divisions). Taken when x and out share a dtype, width is a multiple of
// the vector, the pointers are 16-byte aligned and the vector count fits 31 bits; otherwise a generic per-value
// kernel. Elementwise (each value read and written by the same thread), so out may be x.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

// vpr: vectors a row (width / N).
template <typename T, typename G>
__global__ void __launch_bounds__(kThreads) add_rows_vec_kernel(const T* x, const G* table, T* out, uint32_t nvec, uint32_t vpr,
                                                                uint32_t period, uint32_t repeat) {
  constexpr int N = vec_of<T>();
  for (uint32_t v = blockIdx.x * kThreads + threadIdx.x; v < nvec; v += gridDim.x * kThreads) {
    const uint32_t r = v / vpr, c = v - r * vpr;
    const uint32_t t_row = (r / repeat) % period;
    float xv[N], tv[N];
    load_vec<T, N>(x + static_cast<size_t>(v) * N, xv);
    load_vec<G, N>(table + (static_cast<size_t>(t_row) * vpr + c) * N, tv);
#pragma unroll
    for (int k = 0; k < N; ++k) xv[k] = __fadd_rn(xv[k], tv[k]);
    store_vec<T>(out + static_cast<size_t>(v) * N, xv);
  }
}

__global__ void add_rows_kernel(const void* x, DType xt, const void* table, DType tt, void* out, DType ot, int64_t rows, int64_t width,
                                int64_t period, int64_t repeat) {
  const int64_t total = rows * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / width, j = i % width;
    const int64_t t = ((r / repeat) % period) * width + j;
    store_f(out, ot, i, __fadd_rn(load_f(x, xt, i), load_f(table, tt, t)));
  }
}

}  // namespace

void run_add_rows(const AddRowsOp& op, Context& ctx) {
  const int64_t total = op.rows * op.width;
  if (total <= 0) return;
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& table = ctx.buf(op.table);
  const DeviceSlot& out = ctx.buf(op.out);
  bool launched = false;
  if (x.dtype == out.dtype && aligned16(x.ptr) && aligned16(out.ptr) && aligned16(table.ptr) && op.period < (int64_t{1} << 31) &&
      op.repeat < (int64_t{1} << 31)) {
    with_float_type(x.dtype, [&](auto t) {
      using T = decltype(t);
      constexpr int N = vec_of<T>();
      const int64_t nvec = total / N;
      if (op.width % N != 0 || nvec >= (int64_t{1} << 31)) return;
      with_float_type(table.dtype, [&](auto g) {
        using G = decltype(g);
        add_rows_vec_kernel<T, G><<<blocks_for(nvec), kThreads, 0, ctx.stream>>>(
            static_cast<const T*>(x.ptr), static_cast<const G*>(table.ptr), static_cast<T*>(out.ptr), static_cast<uint32_t>(nvec),
            static_cast<uint32_t>(op.width / N), static_cast<uint32_t>(op.period), static_cast<uint32_t>(op.repeat));
        OD_CUDA_LAUNCHED(add_rows_vec_kernel);
        launched = true;
      });
    });
  }
  if (launched) return;
  add_rows_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(x.ptr, x.dtype, table.ptr, table.dtype, out.ptr, out.dtype, op.rows,
                                                                  op.width, op.period, op.repeat);
  OD_CUDA_LAUNCHED(add_rows_kernel);
}

}  // namespace od::cuda
