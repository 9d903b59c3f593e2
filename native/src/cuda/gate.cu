// `gate` on the device, mirroring cpu/gate.cpp (runtime/reference/ops/gate.ts): out[r] = gate[s] ⊙ x[r] for
// `rows` rows of `width`, s = floor(r / rows_per_sample), the gate row of sample s being chunk `gate.chunk` of the
// [samples, chunks, width] modulation buffer, chunks following from its length (cpu/layernorm_modulate.cpp
// modulation_chunks, checked by the CPU check). The fp32 product as the CPU's.
// Fast path: the kernel is templated on x/out's element type T and the gate's G (dispatched once per launch);
// each thread moves 16 bytes of x and out (4 float, 8 bf16/f16) and the matching gate values (L2-resident, a
// few rows), grid-stride with 32-bit indices and two 32-bit divisions per 16 bytes (row, then sample). Taken
// when x and out share a dtype, width is a multiple of the vector, the pointers are 16-byte aligned and the
// vector count fits 31 bits; otherwise a generic per-value kernel. Elementwise (each value read and written by
// the same thread), so out may be x.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

// vpr: vectors a row (width / N); the gate row of vector v is ((v / vpr) / rows_per_sample) · chunks + chunk.
template <typename T, typename G>
__global__ void __launch_bounds__(kThreads) gate_vec_kernel(const T* x, const G* gate, T* out, uint32_t nvec, uint32_t vpr,
                                                            uint32_t rows_per_sample, uint32_t chunks, uint32_t chunk) {
  constexpr int N = vec_of<T>();
  for (uint32_t v = blockIdx.x * kThreads + threadIdx.x; v < nvec; v += gridDim.x * kThreads) {
    const uint32_t r = v / vpr, c = v - r * vpr;
    const uint32_t g_row = (r / rows_per_sample) * chunks + chunk;
    float xv[N], gv[N];
    load_vec<T, N>(x + static_cast<size_t>(v) * N, xv);
    load_vec<G, N>(gate + (static_cast<size_t>(g_row) * vpr + c) * N, gv);
#pragma unroll
    for (int k = 0; k < N; ++k) xv[k] = __fmul_rn(gv[k], xv[k]);
    store_vec<T>(out + static_cast<size_t>(v) * N, xv);
  }
}

__global__ void gate_kernel(const void* x, DType xt, const void* gate, DType gt, void* out, DType ot, int64_t rows, int64_t width,
                            int64_t rows_per_sample, int64_t chunks, int64_t chunk) {
  const int64_t total = rows * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / width, j = i % width;
    const int64_t g = ((r / rows_per_sample) * chunks + chunk) * width + j;
    store_f(out, ot, i, __fmul_rn(load_f(gate, gt, g), load_f(x, xt, i)));
  }
}

// The gated residual the backend fuses from a `gate` and the `add` that consumes it (backend.cu): out = other +
// gate ⊙ x, one pass instead of two (the gate's product is not rounded to storage in between).
template <typename T, typename G>
__global__ void __launch_bounds__(kThreads) gated_add_vec_kernel(const T* x, const G* gate, const T* other, T* out, uint32_t nvec,
                                                                 uint32_t vpr, uint32_t rows_per_sample, uint32_t chunks,
                                                                 uint32_t chunk) {
  constexpr int N = vec_of<T>();
  for (uint32_t v = blockIdx.x * kThreads + threadIdx.x; v < nvec; v += gridDim.x * kThreads) {
    const uint32_t r = v / vpr, c = v - r * vpr;
    const uint32_t g_row = (r / rows_per_sample) * chunks + chunk;
    float xv[N], gv[N], ov[N];
    load_vec<T, N>(x + static_cast<size_t>(v) * N, xv);
    load_vec<G, N>(gate + (static_cast<size_t>(g_row) * vpr + c) * N, gv);
    load_vec<T, N>(other + static_cast<size_t>(v) * N, ov);
#pragma unroll
    for (int k = 0; k < N; ++k) ov[k] = __fadd_rn(ov[k], __fmul_rn(gv[k], xv[k]));
    store_vec<T>(out + static_cast<size_t>(v) * N, ov);
  }
}

}  // namespace

void run_gate(const GateOp& op, Context& ctx) {
  const int64_t total = op.rows * op.width;
  if (total <= 0) return;
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& gate = ctx.buf(op.gate.buffer);
  const DeviceSlot& out = ctx.buf(op.out);
  const int64_t samples = op.rows / op.rows_per_sample;
  const int64_t chunks = gate.count / (samples * op.width);
  bool launched = false;
  if (x.dtype == out.dtype && aligned16(x.ptr) && aligned16(out.ptr) && aligned16(gate.ptr)) {
    with_float_type(x.dtype, [&](auto t) {
      using T = decltype(t);
      constexpr int N = vec_of<T>();
      const int64_t nvec = total / N;
      if (op.width % N != 0 || nvec >= (int64_t{1} << 31) || samples * chunks >= (int64_t{1} << 31)) return;
      with_float_type(gate.dtype, [&](auto g) {
        using G = decltype(g);
        gate_vec_kernel<T, G><<<blocks_for(nvec), kThreads, 0, ctx.stream>>>(
            static_cast<const T*>(x.ptr), static_cast<const G*>(gate.ptr), static_cast<T*>(out.ptr), static_cast<uint32_t>(nvec),
            static_cast<uint32_t>(op.width / N), static_cast<uint32_t>(op.rows_per_sample), static_cast<uint32_t>(chunks),
            static_cast<uint32_t>(op.gate.chunk));
        OD_CUDA_LAUNCHED(gate_vec_kernel);
        launched = true;
      });
    });
  }
  if (launched) return;
  gate_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(x.ptr, x.dtype, gate.ptr, gate.dtype, out.ptr, out.dtype, op.rows, op.width,
                                                              op.rows_per_sample, chunks, op.gate.chunk);
  OD_CUDA_LAUNCHED(gate_kernel);
}

}  // namespace od::cuda

namespace od::cuda {

bool run_gated_add(const GateOp& g, const AddOp& a, Context& ctx) {
  const int64_t total = g.rows * g.width;
  if (total <= 0 || a.count != total) return false;
  const BufRef other_ref = a.a.id == g.out.id ? a.b : a.a;
  const DeviceSlot& x = ctx.buf(g.x);
  const DeviceSlot& gate = ctx.buf(g.gate.buffer);
  const DeviceSlot& other = ctx.buf(other_ref);
  const DeviceSlot& out = ctx.buf(a.out);
  if (x.dtype != out.dtype || other.dtype != out.dtype || !aligned16(x.ptr) || !aligned16(out.ptr) || !aligned16(gate.ptr) ||
      !aligned16(other.ptr))
    return false;
  const int64_t samples = g.rows / g.rows_per_sample;
  const int64_t chunks = gate.count / (samples * g.width);
  bool launched = false;
  with_float_type(x.dtype, [&](auto t) {
    using T = decltype(t);
    constexpr int N = vec_of<T>();
    const int64_t nvec = total / N;
    if (g.width % N != 0 || nvec >= (int64_t{1} << 31) || samples * chunks >= (int64_t{1} << 31)) return;
    with_float_type(gate.dtype, [&](auto gt) {
      using G = decltype(gt);
      gated_add_vec_kernel<T, G><<<blocks_for(nvec), kThreads, 0, ctx.stream>>>(
          static_cast<const T*>(x.ptr), static_cast<const G*>(gate.ptr), static_cast<const T*>(other.ptr), static_cast<T*>(out.ptr),
          static_cast<uint32_t>(nvec), static_cast<uint32_t>(g.width / N), static_cast<uint32_t>(g.rows_per_sample),
          static_cast<uint32_t>(chunks), static_cast<uint32_t>(g.gate.chunk));
      OD_CUDA_LAUNCHED(gated_add_vec_kernel);
      launched = true;
    });
  });
  return launched;
}

}  // namespace od::cuda
