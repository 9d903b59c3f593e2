// `timestep_embed` on the device, mirroring cpu/timestep_embed.cpp (runtime/reference/ops/timestep-embed.ts):
// out [samples, dim] with half = floor(dim / 2), f[i] = exp((−ln(max_period)·i) / half), a = t[s]·f[i]:
//   out[s] = [cos(a[0..half−1]) | sin(a[0..half−1])]   (an odd dim leaves a last column of zero)
// In double as the CPU computes it (ln(max_period) taken on the host by the C library, as the CPU takes it), each
// value rounded once to the storage dtype. One thread per output value, grid-stride. The device exp/cos/sin may
// differ from the C library's by an ulp of the double, which the rounding to fp32 almost always hides.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

__global__ void timestep_embed_kernel(const void* t, DType tt, void* out, DType ot, int64_t samples, int64_t dim, double log_period) {
  const int64_t half = dim / 2;
  const int64_t total = samples * dim;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t s = idx / dim, d = idx % dim;
    if (d >= 2 * half) {  // the odd dim's last column
      store_f(out, ot, idx, 0.0f);
      continue;
    }
    const int64_t i = d < half ? d : d - half;
    const double ts = static_cast<double>(load_f(t, tt, s));
    const double freq = exp(__ddiv_rn(__dmul_rn(-log_period, static_cast<double>(i)), static_cast<double>(half)));
    const double a = __dmul_rn(ts, freq);
    store_f(out, ot, idx, static_cast<float>(d < half ? cos(a) : sin(a)));
  }
}

}  // namespace

void run_timestep_embed(const TimestepEmbedOp& op, Context& ctx) {
  const int64_t total = op.samples * op.dim;
  if (total <= 0) return;
  const DeviceSlot& t = ctx.buf(op.t);
  const DeviceSlot& out = ctx.buf(op.out);
  timestep_embed_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(t.ptr, t.dtype, out.ptr, out.dtype, op.samples, op.dim,
                                                                        std::log(op.max_period));
  OD_CUDA_LAUNCHED(timestep_embed_kernel);
}

}  // namespace od::cuda
