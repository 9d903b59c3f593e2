// `permute` on the device, mirroring cpu/permute.cpp (runtime/reference/ops/permute.ts): x viewed as the 4-D
// row-major `dims` with its axes permuted, out axis i being input axis perm[i]: out[i0, i1, i2, i3] = x[j] with
// j[perm[i]] = i_i. A copy, exact for every storage dtype. out is not x (checked by the CPU check).
// Fast path (the plans' `(B T S) D` ↔ `(B S T) D`, perm [0, 2, 1, 3], or any perm keeping the last axis last,
// with x and out of one dtype, 16-byte aligned, rows of a multiple of 16 bytes): a copy of whole rows of D
// values, 16 raw bytes a thread, grid-stride over the output's 16-byte vectors with 32-bit indices (the output
// row split into its three indices by 32-bit divisions, the input row found through the input row strides).
// Otherwise one thread per output value (written in order, read through the input strides of the output axes),
// grid-stride, through fp32.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

// n: the output dims; s: the input stride of each output axis.
struct Axes {
  int64_t n[4];
  int64_t s[4];
};

// The row copy: n1, n2 the output's row dims (axes 1 and 2; axis 0 needs no bound), s0..s2 the input row stride
// (in rows) of output axes 0..2, vpr the 16-byte vectors a row.
struct Rows {
  uint32_t n1, n2, s0, s1, s2, vpr, nvec;
};

__global__ void __launch_bounds__(kThreads) permute_rows_kernel(const uint4* x, uint4* out, Rows a) {
  for (uint32_t v = blockIdx.x * kThreads + threadIdx.x; v < a.nvec; v += gridDim.x * kThreads) {
    const uint32_t row = v / a.vpr, c = v - row * a.vpr;
    const uint32_t i01 = row / a.n2, i2 = row - i01 * a.n2;
    const uint32_t i0 = i01 / a.n1, i1 = i01 - i0 * a.n1;
    const uint32_t in_row = i0 * a.s0 + i1 * a.s1 + i2 * a.s2;
    out[v] = x[in_row * a.vpr + c];
  }
}

__global__ void permute_kernel(const void* x, DType xt, void* out, DType ot, Axes a) {
  const int64_t total = a.n[0] * a.n[1] * a.n[2] * a.n[3];
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i3 = i % a.n[3];
    const int64_t i2 = (i / a.n[3]) % a.n[2];
    const int64_t i1 = (i / (a.n[3] * a.n[2])) % a.n[1];
    const int64_t i0 = i / (a.n[3] * a.n[2] * a.n[1]);
    store_f(out, ot, i, load_f(x, xt, i0 * a.s[0] + i1 * a.s[1] + i2 * a.s[2] + i3 * a.s[3]));
  }
}

}  // namespace

void run_permute(const PermuteOp& op, Context& ctx) {
  const Dims4& d = op.dims;
  const int64_t total = d[0] * d[1] * d[2] * d[3];
  if (total <= 0) return;
  const int64_t in_stride[4] = {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
  Axes a{};
  for (int i = 0; i < 4; ++i) {
    const size_t p = static_cast<size_t>(op.perm[static_cast<size_t>(i)]);
    a.s[i] = in_stride[p];
    a.n[i] = d[p];
  }
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& out = ctx.buf(op.out);
  const int64_t bytes = total * dtype_bytes(x.dtype);
  const int64_t row_bytes = d[3] * dtype_bytes(x.dtype);
  if (op.perm[3] == 3 && x.dtype == out.dtype && row_bytes % 16 == 0 && bytes / 16 < (int64_t{1} << 31) && aligned16(x.ptr) &&
      aligned16(out.ptr)) {
    Rows r{};
    r.n1 = static_cast<uint32_t>(a.n[1]);
    r.n2 = static_cast<uint32_t>(a.n[2]);
    r.s0 = static_cast<uint32_t>(a.s[0] / d[3]);
    r.s1 = static_cast<uint32_t>(a.s[1] / d[3]);
    r.s2 = static_cast<uint32_t>(a.s[2] / d[3]);
    r.vpr = static_cast<uint32_t>(row_bytes / 16);
    r.nvec = static_cast<uint32_t>(bytes / 16);
    permute_rows_kernel<<<blocks_for(r.nvec), kThreads, 0, ctx.stream>>>(static_cast<const uint4*>(x.ptr), static_cast<uint4*>(out.ptr), r);
    OD_CUDA_LAUNCHED(permute_rows_kernel);
    return;
  }
  permute_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(x.ptr, x.dtype, out.ptr, out.dtype, a);
  OD_CUDA_LAUNCHED(permute_kernel);
}

}  // namespace od::cuda
