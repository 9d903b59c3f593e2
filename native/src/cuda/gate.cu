// `gate` on the device, mirroring cpu/gate.cpp (runtime/reference/ops/gate.ts): out[r] = gate[s] ⊙ x[r] for
// `rows` rows of `width`, s = floor(r / rows_per_sample), the gate row of sample s being chunk `gate.chunk` of the
// [samples, chunks, width] modulation buffer, chunks following from its length (cpu/layernorm_modulate.cpp
// modulation_chunks, checked by the CPU check). The fp32 product as the CPU's. Elementwise (one thread per value,
// grid-stride), so out may be x.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) { return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t{1} << 20)); }

__global__ void gate_kernel(const void* x, DType xt, const void* gate, DType gt, void* out, DType ot, int64_t rows, int64_t width,
                            int64_t rows_per_sample, int64_t chunks, int64_t chunk) {
  const int64_t total = rows * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / width, j = i % width;
    const int64_t g = ((r / rows_per_sample) * chunks + chunk) * width + j;
    store_f(out, ot, i, __fmul_rn(load_f(gate, gt, g), load_f(x, xt, i)));
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
  gate_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(x.ptr, x.dtype, gate.ptr, gate.dtype, out.ptr, out.dtype, op.rows, op.width,
                                                              op.rows_per_sample, chunks, op.gate.chunk);
  OD_CUDA_LAUNCHED(gate_kernel);
}

}  // namespace od::cuda
