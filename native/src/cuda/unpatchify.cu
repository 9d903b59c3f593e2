// `unpatchify` on the device, mirroring cpu/unpatchify.cpp (runtime/reference/ops/unpatchify.ts): a copy. Every
// element of out [samples, C, latent.frames, rows, latent.width] is read from its token's features, ordered (kt,
// kh, kw, c) with the channel fastest:
//   out[s, c, t·pt + kt, h·ph + kh, w·pw + kw] = x[s, token(t, h, w), ((kt·ph + kh)·pw + kw)·C + c]
// with the CPU's layout_of (taken on the host): `padded` frames of padded.tokens positions per sample; `band` the
// band's token rows per frame and only the latent rows they cover (cropped to latent.height); otherwise the
// grid's frames of rows·cols positions. One thread per output value, grid-stride; through fp32, exact for every
// storage dtype.
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
  int64_t samples, C, T, W, pt, ph, pw, cols;
  int64_t first_token_row, first_row, rows, per_frame, frames_in;
};

__global__ void unpatchify_kernel(Args a) {
  const int64_t F = a.pt * a.ph * a.pw * a.C;
  const int64_t plane = a.rows * a.W;
  const int64_t total = a.samples * a.C * a.T * plane;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t q = i / plane, in_plane = i % plane;  // q = (s·C + c)·T + t
    const int64_t y = in_plane / a.W, xw = in_plane % a.W;
    const int64_t s = q / (a.C * a.T), c = (q / a.T) % a.C, tf = q % a.T;
    const int64_t tg = tf / a.pt, kt = tf % a.pt;
    const int64_t h = (a.first_row + y) / a.ph, kh = (a.first_row + y) % a.ph;
    const int64_t w = xw / a.pw, kw = xw % a.pw;
    const int64_t token = (s * a.frames_in + tg) * a.per_frame + (h - a.first_token_row) * a.cols + w;
    store_f(a.out, a.ot, i, load_f(a.x, a.xt, token * F + ((kt * a.ph + kh) * a.pw + kw) * a.C + c));
  }
}

}  // namespace

void run_unpatchify(const UnpatchifyOp& op, Context& ctx) {
  // cpu/unpatchify.cpp layout_of (its checks already passed).
  const Grid& g = op.grid;
  int64_t band_rows = g.rows, first_token_row = 0;
  if (op.band) {
    band_rows = g.rows / op.band->count;
    first_token_row = op.band->index * band_rows;
  }
  const int64_t first_row = first_token_row * op.patch.h;
  const int64_t rows = std::max<int64_t>(0, std::min(op.latent.height, first_row + band_rows * op.patch.h) - first_row);
  const int64_t total = op.samples * op.channels * op.latent.frames * rows * op.latent.width;
  if (total <= 0) return;
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& out = ctx.buf(op.out);
  Args a{x.ptr,
         out.ptr,
         x.dtype,
         out.dtype,
         op.samples,
         op.channels,
         op.latent.frames,
         op.latent.width,
         op.patch.t,
         op.patch.h,
         op.patch.w,
         g.cols,
         first_token_row,
         first_row,
         rows,
         op.padded ? op.padded->tokens : band_rows * g.cols,
         op.padded ? op.padded->frames : g.frames};
  unpatchify_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(a);
  OD_CUDA_LAUNCHED(unpatchify_kernel);
}

}  // namespace od::cuda
