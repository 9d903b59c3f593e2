// `guidance` on the device, mirroring cpu/guidance.cpp (runtime/reference/ops/guidance.ts; models.md §9.5):
// classifier-free guidance. x [2n, channels, plane]: conditional samples 0..n−1, unconditional n..2n−1; sample j
// pairs c = x[j] with u = x[n + j]. out [n, kept, plane], kept = P (variance "drop") or 2P ("cond"):
//   channel k < mixed: u + scale·(c − u) in double, rounded once (explicit _rn operations, no fused multiply-add,
//                      so with fp32 storage the CPU's bits); mixed ≤ k < kept: c.
// One thread per output value, grid-stride. In place (out = x), as the CPU allows: the CPU's one ordered pass is
// correct because out value i of sample j lies d = j·(channels − kept)·plane values before the x value it reads,
// and the unconditional half (from n·channels·plane on) is never written. Concurrent threads need more: each
// sample is its own launch (in order), and within it the values go in runs of d, so a run writes only values that
// earlier launches already read and reads none that it writes (a forward memmove in steps of d); with d = 0
// (sample 0, or kept = channels) each thread reads and writes one place and a launch covers the sample.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

struct Args {
  const void* x;
  void* out;
  DType xt, ot;
  int64_t n, plane, channels, kept, mixed;
  double scale;
  // The values written: samples [j_first, j_first + j_count), and within each its values [v_first, v_first + v_count)
  // of kept·plane.
  int64_t j_first, j_count, v_first, v_count;
};

__global__ void guidance_kernel(Args a) {
  const int64_t total = a.j_count * a.v_count;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total; t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = a.j_first + t / a.v_count;
    const int64_t v = a.v_first + t % a.v_count;
    const int64_t k = v / a.plane, e = v % a.plane;
    const float cond = load_f(a.x, a.xt, (j * a.channels + k) * a.plane + e);
    float value = cond;
    if (k < a.mixed) {
      const double u = static_cast<double>(load_f(a.x, a.xt, ((a.n + j) * a.channels + k) * a.plane + e));
      value = static_cast<float>(__dadd_rn(u, __dmul_rn(a.scale, __dsub_rn(static_cast<double>(cond), u))));
    }
    store_f(a.out, a.ot, (j * a.kept + k) * a.plane + e, value);
  }
}

}  // namespace

void run_guidance(const GuidanceOp& op, Context& ctx) {
  const int64_t kept = op.variance == Variance::Cond ? 2 * op.prediction_channels : op.prediction_channels;
  const int64_t per_sample = kept * op.plane;
  if (op.samples <= 0 || per_sample <= 0) return;
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& out = ctx.buf(op.out);
  Args a{x.ptr, out.ptr, x.dtype, out.dtype, op.samples, op.plane, op.channels, kept, op.mixed, op.scale, 0, op.samples, 0, per_sample};
  if (x.ptr != out.ptr || kept == op.channels) {
    guidance_kernel<<<blocks_for(op.samples * per_sample), kThreads, 0, ctx.stream>>>(a);
    OD_CUDA_LAUNCHED(guidance_kernel);
    return;
  }
  for (int64_t j = 0; j < op.samples; j++) {
    const int64_t d = j * (op.channels - kept) * op.plane;  // how far before its x value each out value lies
    const int64_t run = d == 0 ? per_sample : std::min(d, per_sample);
    for (int64_t first = 0; first < per_sample; first += run) {
      a.j_first = j;
      a.j_count = 1;
      a.v_first = first;
      a.v_count = std::min(run, per_sample - first);
      guidance_kernel<<<blocks_for(a.v_count), kThreads, 0, ctx.stream>>>(a);
      OD_CUDA_LAUNCHED(guidance_kernel);
    }
  }
}

}  // namespace od::cuda
