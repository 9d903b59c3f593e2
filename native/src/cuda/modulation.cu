// `modulation` on the device, mirroring cpu/modulation.cpp (runtime/reference/ops/modulation.ts): the adaLN rows
// out [samples, chunks, width] = table[k] + source[s, k] (source_chunks = chunks), table[k] + source[s]
// (source_chunks = 1, one source row added to every chunk), or without a table 0 + source (a −0 source value
// comes out +0, as the CPU's). fp32 sums as the CPU's. One thread per output value, grid-stride; out is not the
// source (checked by the CPU check).
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

// table == nullptr: no table (the source rows alone, 0 + v).
__global__ void modulation_kernel(const void* table, DType tt, const void* source, DType st, void* out, DType ot, int64_t samples,
                                  int64_t chunks, int64_t source_chunks, int64_t width) {
  const int64_t total = samples * chunks * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i % width, k = (i / width) % chunks, s = i / (width * chunks);
    const float src = load_f(source, st, (s * source_chunks + (source_chunks == 1 ? 0 : k)) * width + j);
    const float base = table ? load_f(table, tt, k * width + j) : 0.0f;
    store_f(out, ot, i, __fadd_rn(base, src));
  }
}

}  // namespace

void run_modulation(const ModulationOp& op, Context& ctx) {
  const int64_t total = op.samples * op.chunks * op.width;
  if (total <= 0) return;
  const DeviceSlot& source = ctx.buf(op.source);
  const DeviceSlot& out = ctx.buf(op.out);
  const void* table = nullptr;
  DType table_type = DType::F32;
  if (op.table) {
    const DeviceSlot& t = ctx.buf(*op.table);
    table = t.ptr;
    table_type = t.dtype;
  }
  modulation_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(table, table_type, source.ptr, source.dtype, out.ptr, out.dtype,
                                                                    op.samples, op.chunks, op.source_chunks, op.width);
  OD_CUDA_LAUNCHED(modulation_kernel);
}

}  // namespace od::cuda
