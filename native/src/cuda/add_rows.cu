// `add_rows` on the device, mirroring cpu/add_rows.cpp (runtime/reference/ops/add-rows.ts): out[r] = x[r] +
// table[floor(r / repeat) mod period] for `rows` rows of `width` (a table broadcast along the rows). The fp32 sum
// as the CPU's. Elementwise (one thread per value, grid-stride), so out may be x.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t{1} << 20)); }

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
  add_rows_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(x.ptr, x.dtype, table.ptr, table.dtype, out.ptr, out.dtype, op.rows,
                                                                  op.width, op.period, op.repeat);
  OD_CUDA_LAUNCHED(add_rows_kernel);
}

}  // namespace od::cuda
