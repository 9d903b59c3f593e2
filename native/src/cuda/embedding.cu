// `embedding` on the device, mirroring cpu/embedding.cpp (runtime/reference/ops/embedding.ts): out[i] =
// table[ids[i]] for `count` i32 ids, rows of `width` values, the table's rows following from its length. One
// thread per output value, grid-stride; a copy (through fp32, exact for every storage dtype).
// Not mirrored exactly: the CPU fails, naming the id, when an id is outside the table. A kernel cannot raise that
// error without synchronising, so here such an id's row is written as NaN (never clamped), which makes the input
// defect visible in the output instead of reading outside the table.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

__global__ void embedding_kernel(const void* table, DType tt, const int32_t* ids, void* out, DType ot, int64_t count, int64_t width,
                                 int64_t entries) {
  const int64_t total = count * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t n = i / width, j = i % width;
    const int64_t id = ids[n];
    const float v = (id >= 0 && id < entries) ? load_f(table, tt, id * width + j) : __int_as_float(0x7FC00000);
    store_f(out, ot, i, v);
  }
}

}  // namespace

void run_embedding(const EmbeddingOp& op, Context& ctx) {
  const int64_t total = op.count * op.width;
  if (total <= 0) return;
  const DeviceSlot& table = ctx.buf(op.table);
  const DeviceSlot& ids = ctx.buf(op.ids);
  const DeviceSlot& out = ctx.buf(op.out);
  const int64_t entries = table.count / op.width;
  embedding_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(table.ptr, table.dtype, static_cast<const int32_t*>(ids.ptr), out.ptr,
                                                                   out.dtype, op.count, op.width, entries);
  OD_CUDA_LAUNCHED(embedding_kernel);
}

}  // namespace od::cuda
