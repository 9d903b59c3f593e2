// `layernorm_modulate` on the device, mirroring cpu/layernorm_modulate.cpp
// (runtime/reference/ops/layernorm-modulate.ts): out = LN(x)·(1 + scale[s]) + shift[s] for `rows` rows of `width`,
// LN without affine weights, (x − mean) / sqrt(var + eps) with the biased variance, s = floor(row /
// rows_per_sample) reading its row of the shift and scale chunks (ModRef into a [samples, chunks, width] buffer,
// chunks following from the buffer's length as the CPU's modulation_chunks); an absent shift adds nothing, an
// absent scale multiplies by 1.
// One block per row (grid-stride over rows), warp-shuffle then shared-memory reductions. The statistics are two
// passes in double as the CPU's (the same sums in a different order: equal to the CPU's within an ulp of the
// double); the elementwise normalisation and modulation are fp32 on the double statistics rounded to fp32, which
// is where a result can differ from the CPU's (double there) by an ulp or so of fp32. Each row's statistics are
// complete (a barrier) before it is written, and each value is read and written by the same thread, so out may
// be x.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

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
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(op.rows, int64_t{1} << 20));
  layernorm_modulate_kernel<<<blocks, kThreads, 0, ctx.stream>>>(a);
  OD_CUDA_LAUNCHED(layernorm_modulate_kernel);
}

}  // namespace od::cuda
