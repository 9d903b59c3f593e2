// upsample_nearest's kernel (cuda/decode_kernels.h says what it computes); cuda/upsample_nearest.cu is the op's
// launcher. One thread per 16-byte vector of an output pixel's channels where x and out share a dtype and the
// channels fill whole vectors (the decoder's 512 and 256 channels), reading the source pixel's vector (each input
// vector is read factor² times, from L2 after the first); otherwise one thread per value, converting dtypes.
// A copy: the values are the input's bits.
#include <cstdint>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/decode_kernels.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"

namespace od::cuda {
namespace {

struct Shape {
  int64_t frames, height, width, channels, factor;
};

// vpp: 16-byte vectors per pixel.
__global__ void upsample_vec_kernel(const uint4* x, uint4* out, Shape s, int64_t vpp) {
  const int64_t oh = s.height * s.factor, ow = s.width * s.factor;
  const int64_t total = s.frames * oh * ow * vpp;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t v = i % vpp, pixel = i / vpp;
    const int64_t w = pixel % ow, rest = pixel / ow;
    const int64_t h = rest % oh, f = rest / oh;
    out[i] = x[((f * s.height + h / s.factor) * s.width + w / s.factor) * vpp + v];
  }
}

__global__ void upsample_kernel(const void* x, DType xt, void* out, DType ot, Shape s) {
  const int64_t oh = s.height * s.factor, ow = s.width * s.factor;
  const int64_t total = s.frames * oh * ow * s.channels;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = i % s.channels, pixel = i / s.channels;
    const int64_t w = pixel % ow, rest = pixel / ow;
    const int64_t h = rest % oh, f = rest / oh;
    store_f(out, ot, i, load_f(x, xt, ((f * s.height + h / s.factor) * s.width + w / s.factor) * s.channels + c));
  }
}

}  // namespace

void launch_upsample_nearest(const UpsampleArgs& a, cudaStream_t stream) {
  OD_CHECK(a.frames >= 0 && a.height >= 0 && a.width >= 0 && a.channels >= 0 && a.factor >= 1,
           "upsample_nearest of " + std::to_string(a.frames) + "x" + std::to_string(a.height) + "x" + std::to_string(a.width) + "x" +
               std::to_string(a.channels) + " by " + std::to_string(a.factor),
           "a plan defect: recompile the plan");
  const Shape s{a.frames, a.height, a.width, a.channels, a.factor};
  const int64_t pixels = a.frames * a.height * a.factor * a.width * a.factor;
  if (pixels == 0 || a.channels == 0) return;
  const int64_t row_bytes = a.channels * value_bytes(a.x_dtype);
  if (a.x_dtype == a.out_dtype && row_bytes % 16 == 0 && aligned16(a.x) && aligned16(a.out)) {
    const int64_t vpp = row_bytes / 16;
    upsample_vec_kernel<<<blocks_for(pixels * vpp), kThreads, 0, stream>>>(static_cast<const uint4*>(a.x), static_cast<uint4*>(a.out), s, vpp);
    OD_CUDA_LAUNCHED(upsample_vec_kernel);
    return;
  }
  upsample_kernel<<<blocks_for(pixels * a.channels), kThreads, 0, stream>>>(a.x, a.x_dtype, a.out, a.out_dtype, s);
  OD_CUDA_LAUNCHED(upsample_kernel);
}

}  // namespace od::cuda
