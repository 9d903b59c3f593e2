// `layernorm_modulate` on the device, mirroring cpu/layernorm_modulate.cpp
// (runtime/reference/ops/layernorm-modulate.ts): out = LN(x)·(1 + scale[s]) + shift[s] for `rows` rows of `width`,
// LN without affine weights, (x − mean) / sqrt(var + eps) with the biased variance, s = floor(row /
// rows_per_sample) reading its row of the shift and scale chunks (ModRef into a [samples, chunks, width] buffer,
// chunks following from the buffer's length as the CPU's modulation_chunks); an absent shift adds nothing, an
// absent scale multiplies by 1.
// Fast path (width ≤ 2048 and a multiple of the 16-byte vector, x and out of one dtype, shift and scale of one
// dtype, 16-byte aligned): one warp per row (grid-stride over rows), a kernel templated on x/out's element type
// and the modulation's (dispatched once per launch). The row is read once, 16 bytes a lane access, and held in
// registers as raw words; the statistics are fp32 warp-shuffle sums in two passes over the registers (the mean,
// then Σd and Σd² of d = x − mean, the mean corrected by Σd/width and the variance (Σd² − (Σd)²/width)/width,
// the corrected two-pass algorithm), 1/sqrt(var + eps) once a row in double; the normalisation and modulation
// are fp32 and written 16 bytes at a time. Within a few ulps of fp32 of the CPU's double statistics.
// Otherwise one block per row (grid-stride over rows), warp-shuffle then shared-memory reductions, the statistics
// two passes in double as the CPU's, the elementwise normalisation and modulation fp32 on the double statistics
// rounded to fp32.
// Either way each row's statistics are complete before it is written, and each value is read and written by the
// same thread, so out may be x.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

constexpr int kWarps = kThreads / 32;
constexpr int kMaxWarpWidth = 2048;  // the widest row the warp kernel holds in registers

struct Args {
  const void* x;
  void* out;
  const void* shift;  // nullptr: no shift
  const void* scale;  // nullptr: no scale
  DType xt, ot, sht, sct;
  int64_t rows, width, rows_per_sample;
  int64_t shift_chunks, shift_chunk, scale_chunks, scale_chunk;
  double eps;
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, offset);
  return v;
}

// One warp per row: lane l holds the row's 16-byte vectors l, l + 32, ... (at most VPL of them) as raw words.
// shift/scale: nullptr when absent; chunks and chunk locate sample s's row as (s · chunks + chunk) · width.
template <typename T, typename G>
__global__ void __launch_bounds__(kThreads) layernorm_modulate_warp_kernel(const T* x, T* out, const G* shift, const G* scale,
                                                                           uint32_t rows, uint32_t width, uint32_t rows_per_sample,
                                                                           uint32_t shift_chunks, uint32_t shift_chunk,
                                                                           uint32_t scale_chunks, uint32_t scale_chunk, double eps) {
  constexpr int N = vec_of<T>();
  constexpr int VPL = kMaxWarpWidth / (32 * N);
  const uint32_t lane = threadIdx.x % 32;
  const uint32_t nv = width / N;
  const float inv_width = 1.0f / static_cast<float>(width);
  for (uint32_t r = blockIdx.x * kWarps + threadIdx.x / 32; r < rows; r += gridDim.x * kWarps) {
    const T* xr = x + static_cast<size_t>(r) * width;
    uint4 raw[VPL];
    float sum = 0.0f;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const uint32_t c = lane + 32u * k;
      raw[k] = make_uint4(0u, 0u, 0u, 0u);
      if (c < nv) {
        raw[k] = load16(xr + static_cast<size_t>(c) * N);
        float f[N];
        unpack16<T>(raw[k], f);
#pragma unroll
        for (int e = 0; e < N; ++e) sum += f[e];
      }
    }
    const float mean0 = warp_sum(sum) * inv_width;
    float dsum = 0.0f, squares = 0.0f;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      if (lane + 32u * k < nv) {
        float f[N];
        unpack16<T>(raw[k], f);
#pragma unroll
        for (int e = 0; e < N; ++e) {
          const float d = f[e] - mean0;
          dsum += d;
          squares = fmaf(d, d, squares);
        }
      }
    }
    dsum = warp_sum(dsum);
    squares = warp_sum(squares);
    const float mean = mean0 + dsum * inv_width;
    const float variance = fmaxf((squares - dsum * dsum * inv_width) * inv_width, 0.0f);
    const float inv = static_cast<float>(1.0 / sqrt(static_cast<double>(variance) + eps));
    const uint32_t s = r / rows_per_sample;
    const G* sh = shift ? shift + (static_cast<size_t>(s) * shift_chunks + shift_chunk) * width : nullptr;
    const G* sc = scale ? scale + (static_cast<size_t>(s) * scale_chunks + scale_chunk) * width : nullptr;
    T* o = out + static_cast<size_t>(r) * width;
#pragma unroll
    for (int k = 0; k < VPL; ++k) {
      const uint32_t c = lane + 32u * k;
      if (c < nv) {
        float f[N];
        unpack16<T>(raw[k], f);
#pragma unroll
        for (int e = 0; e < N; ++e) f[e] = (f[e] - mean) * inv;
        if (sc) {
          float m[N];
          load_vec<G, N>(sc + static_cast<size_t>(c) * N, m);
#pragma unroll
          for (int e = 0; e < N; ++e) f[e] *= 1.0f + m[e];
        }
        if (sh) {
          float m[N];
          load_vec<G, N>(sh + static_cast<size_t>(c) * N, m);
#pragma unroll
          for (int e = 0; e < N; ++e) f[e] += m[e];
        }
        store_vec<T>(o + static_cast<size_t>(c) * N, f);
      }
    }
  }
}

// The block's sum of v (every thread gets it). `partial` holds kWarps doubles; a barrier ends the call, so it can
// be reused at once.
__device__ double block_sum(double v, double* partial) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, offset);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < kWarps; w++) total += partial[w];
  __syncthreads();
  return total;
}

__global__ void __launch_bounds__(kThreads) layernorm_modulate_kernel(Args a) {
  __shared__ double partial[kWarps];
  for (int64_t r = blockIdx.x; r < a.rows; r += gridDim.x) {
    const int64_t base = r * a.width;
    double sum = 0;
    for (int64_t j = threadIdx.x; j < a.width; j += kThreads) sum += static_cast<double>(load_f(a.x, a.xt, base + j));
    const double mean = block_sum(sum, partial) / static_cast<double>(a.width);
    double squares = 0;
    for (int64_t j = threadIdx.x; j < a.width; j += kThreads) {
      const double d = static_cast<double>(load_f(a.x, a.xt, base + j)) - mean;
      squares += d * d;
    }
    const double variance = block_sum(squares, partial) / static_cast<double>(a.width);
    const float inv = static_cast<float>(1.0 / sqrt(variance + a.eps));
    const float mean_f = static_cast<float>(mean);
    const int64_t s = r / a.rows_per_sample;
    const int64_t sh = (s * a.shift_chunks + a.shift_chunk) * a.width;
    const int64_t sc = (s * a.scale_chunks + a.scale_chunk) * a.width;
    for (int64_t j = threadIdx.x; j < a.width; j += kThreads) {
      float v = (load_f(a.x, a.xt, base + j) - mean_f) * inv;
      if (a.scale) v *= 1.0f + load_f(a.scale, a.sct, sc + j);
      if (a.shift) v += load_f(a.shift, a.sht, sh + j);
      store_f(a.out, a.ot, base + j, v);
    }
  }
}

// The warp kernel where its conditions hold (see the header); false: not launched.
bool launch_warp_kernel(const LayerNormModulateOp& op, const Args& a, Context& ctx) {
  if (a.xt != a.ot || (a.shift && a.scale && a.sht != a.sct) || op.width > kMaxWarpWidth || op.rows >= (int64_t{1} << 31)) return false;
  if (!aligned16(a.x) || !aligned16(a.out) || (a.shift && !aligned16(a.shift)) || (a.scale && !aligned16(a.scale))) return false;
  if (a.shift_chunks * op.rows >= (int64_t{1} << 31) || a.scale_chunks * op.rows >= (int64_t{1} << 31)) return false;
  const DType gt = a.shift ? a.sht : a.scale ? a.sct : a.xt;
  bool launched = false;
  with_float_type(a.xt, [&](auto t) {
    using T = decltype(t);
    constexpr int N = vec_of<T>();
    if (op.width % N != 0) return;
    with_float_type(gt, [&](auto g) {
      using G = decltype(g);
      const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((op.rows + kWarps - 1) / kWarps, int64_t{1} << 20));
      layernorm_modulate_warp_kernel<T, G><<<blocks, kThreads, 0, ctx.stream>>>(
          static_cast<const T*>(a.x), static_cast<T*>(a.out), static_cast<const G*>(a.shift), static_cast<const G*>(a.scale),
          static_cast<uint32_t>(op.rows), static_cast<uint32_t>(op.width), static_cast<uint32_t>(op.rows_per_sample),
          static_cast<uint32_t>(a.shift_chunks), static_cast<uint32_t>(a.shift_chunk), static_cast<uint32_t>(a.scale_chunks),
          static_cast<uint32_t>(a.scale_chunk), a.eps);
      OD_CUDA_LAUNCHED(layernorm_modulate_warp_kernel);
      launched = true;
    });
  });
  return launched;
}

}  // namespace

void run_layernorm_modulate(const LayerNormModulateOp& op, Context& ctx) {
  if (op.rows <= 0 || op.width <= 0) return;
  const int64_t samples = op.rows / op.rows_per_sample;
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& out = ctx.buf(op.out);
  Args a{};
  a.x = x.ptr;
  a.xt = x.dtype;
  a.out = out.ptr;
  a.ot = out.dtype;
  a.rows = op.rows;
  a.width = op.width;
  a.rows_per_sample = op.rows_per_sample;
  a.eps = op.eps;
  if (op.shift) {
    const DeviceSlot& shift = ctx.buf(op.shift->buffer);
    a.shift = shift.ptr;
    a.sht = shift.dtype;
    a.shift_chunks = shift.count / (samples * op.width);
    a.shift_chunk = op.shift->chunk;
  }
  if (op.scale) {
    const DeviceSlot& scale = ctx.buf(op.scale->buffer);
    a.scale = scale.ptr;
    a.sct = scale.dtype;
    a.scale_chunks = scale.count / (samples * op.width);
    a.scale_chunk = op.scale->chunk;
  }
  if (launch_warp_kernel(op, a, ctx)) return;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(op.rows, int64_t{1} << 20));
  layernorm_modulate_kernel<<<blocks, kThreads, 0, ctx.stream>>>(a);
  OD_CUDA_LAUNCHED(layernorm_modulate_kernel);
}

}  // namespace od::cuda
