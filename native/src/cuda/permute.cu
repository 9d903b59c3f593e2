// `permute` on the device, mirroring cpu/permute.cpp (runtime/reference/ops/permute.ts): x viewed as the 4-D
// row-major `dims` with its axes permuted, out axis i being input axis perm[i]: out[i0, i1, i2, i3] = x[j] with
// j[perm[i]] = i_i. One thread per output value (written in order, read through the input strides of the output
// axes), grid-stride; a copy through fp32, exact for every storage dtype. out is not x (checked by the CPU check).
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t{1} << 20)); }

// n: the output dims; s: the input stride of each output axis.
struct Axes {
  int64_t n[4];
  int64_t s[4];
};

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
  permute_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(x.ptr, x.dtype, out.ptr, out.dtype, a);
  OD_CUDA_LAUNCHED(permute_kernel);
}

}  // namespace od::cuda
