// `patch_embed` on the device, mirroring cpu/patch_embed.cpp (runtime/reference/ops/patch-embed.ts): the patch
// convolution. Token (t, h, w) of batch sample j (reading x's sample j mod input_samples; x [input_samples, C, T,
// H, W] zero-padded at the end of each axis up to the token grid) is
//   out[d] = bias[d] + Σ_k weight[d, k]·patch[k],  patch[((c·pt + kt)·ph + kh)·pw + kw] = x[c, t·pt+kt, h·ph+kh, w·pw+kw]
// The rank's rows are the CPU's layout_of (taken on the host): frames × positions per frame, positions h·cols + w
// (padded: padded.frames × padded.tokens, places past the grid zero rows without bias; band: the band's token
// rows; shard: the rank's run of frames or of each frame's positions, its index from ctx.host->shard_index).
// Direct kernel: one block per output row (grid-stride over rows), the patch gathered into shared memory, then
// one thread per hidden feature summing over k in the CPU's order. The sum is double from the bias on as the
// CPU's: each product of two fp32 values is exact in double, so whether the compiler fuses it into the add or not
// the sum rounds exactly as the CPU's, and with fp32 storage the output is the CPU's bit for bit.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

struct Args {
  const void* x;
  const void* weight;
  const void* bias;
  void* out;
  DType xt, wt, bt, ot;
  int64_t rows;  // output rows: samples · frames.count · positions.count
  int64_t frames_first, frames_count, positions_first, positions_count;
  int64_t input_samples, channels, hidden;
  int64_t lat_frames, lat_height, lat_width;
  int64_t pt, ph, pw;
  int64_t grid_frames, grid_rows, grid_cols;
};

__global__ void patch_embed_kernel(Args a) {
  extern __shared__ float patch[];  // [C·pt·ph·pw]
  const int64_t K = a.channels * a.pt * a.ph * a.pw;
  const int64_t tokens = a.frames_count * a.positions_count;
  const int64_t plane = a.lat_frames * a.lat_height * a.lat_width;
  for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
    const int64_t j = row / tokens, local = row % tokens;
    const int64_t ft = a.frames_first + local / a.positions_count;
    const int64_t n = a.positions_first + local % a.positions_count;
    if (ft >= a.grid_frames || n >= a.grid_rows * a.grid_cols) {
      for (int64_t d = threadIdx.x; d < a.hidden; d += blockDim.x) store_f(a.out, a.ot, row * a.hidden + d, 0.0f);
      continue;  // uniform over the block: no barrier skipped by part of it
    }
    const int64_t th = n / a.grid_cols, tw = n % a.grid_cols;
    const int64_t sample = (j % a.input_samples) * a.channels * plane;
    // The patch flattened (c, kt, kh, kw); places past the latent are the zero padding.
    for (int64_t k = threadIdx.x; k < K; k += blockDim.x) {
      const int64_t kw = k % a.pw, kh = (k / a.pw) % a.ph, kt = (k / (a.pw * a.ph)) % a.pt, c = k / (a.pw * a.ph * a.pt);
      const int64_t tt = ft * a.pt + kt, y = th * a.ph + kh, xw = tw * a.pw + kw;
      const bool inside = tt < a.lat_frames && y < a.lat_height && xw < a.lat_width;
      patch[k] = inside ? load_f(a.x, a.xt, sample + ((c * a.lat_frames + tt) * a.lat_height + y) * a.lat_width + xw) : 0.0f;
    }
    __syncthreads();
    for (int64_t d = threadIdx.x; d < a.hidden; d += blockDim.x) {
      double sum = static_cast<double>(load_f(a.bias, a.bt, d));
      for (int64_t m = 0; m < K; m++) sum += static_cast<double>(load_f(a.weight, a.wt, d * K + m)) * static_cast<double>(patch[m]);
      store_f(a.out, a.ot, row * a.hidden + d, static_cast<float>(sum));
    }
    __syncthreads();  // the patch is rewritten for the block's next row
  }
}

}  // namespace

void run_patch_embed(const PatchEmbedOp& op, Context& ctx) {
  // cpu/patch_embed.cpp layout_of (its checks already passed).
  int64_t frames_first = 0, frames_count = op.padded ? op.padded->frames : op.grid.frames;
  int64_t positions_first = 0, positions_count = op.padded ? op.padded->tokens : op.grid.rows * op.grid.cols;
  if (op.band) {
    const int64_t band_rows = op.grid.rows / op.band->count;
    positions_first = op.band->index * band_rows * op.grid.cols;
    positions_count = band_rows * op.grid.cols;
  }
  if (op.shard) {
    const int64_t r = ctx.host->shard_index(op.shard->axis, op.shard->parts, "patch_embed");
    if (op.shard->dim == "frames") {
      frames_count /= op.shard->parts;
      frames_first = r * frames_count;
    } else {
      positions_count /= op.shard->parts;
      positions_first += r * positions_count;
    }
  }
  const int64_t rows = op.samples * frames_count * positions_count;
  if (rows <= 0 || op.hidden <= 0) return;
  const int64_t K = op.channels * op.patch.t * op.patch.h * op.patch.w;
  const size_t shared = static_cast<size_t>(K) * sizeof(float);
  OD_CHECK(shared <= 48 * 1024,
           "patches of " + std::to_string(K) + " values do not fit the CUDA patch_embed kernel's 48 KiB of shared memory",
           "a CUDA backend limit: run this model on the CPU backend");
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& weight = ctx.buf(op.weight);
  const DeviceSlot& bias = ctx.buf(op.bias);
  const DeviceSlot& out = ctx.buf(op.out);
  Args a{x.ptr,
         weight.ptr,
         bias.ptr,
         out.ptr,
         x.dtype,
         weight.dtype,
         bias.dtype,
         out.dtype,
         rows,
         frames_first,
         frames_count,
         positions_first,
         positions_count,
         op.input_samples,
         op.channels,
         op.hidden,
         op.latent.frames,
         op.latent.height,
         op.latent.width,
         op.patch.t,
         op.patch.h,
         op.patch.w,
         op.grid.frames,
         op.grid.rows,
         op.grid.cols};
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(rows, int64_t{1} << 20));
  patch_embed_kernel<<<blocks, kThreads, shared, ctx.stream>>>(a);
  OD_CUDA_LAUNCHED(patch_embed_kernel);
}

}  // namespace od::cuda
