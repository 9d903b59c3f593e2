// cross_attention on the GPU (cpu/cross_attention.cpp is the reference): sample s's query rows q[s·queries + i]
// (head h at columns h·hd) attend to its key rows kv[s·keys + j] (key at h·hd, value at D + h·hd) whose i32 mask
// entry mask[s, j] is non-zero; masked keys get no weight and a sample with no valid key gets zeros. One launch
// of the shared attention kernel (cuda/attention_kernel.cuh) with the mask row per sample.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "cuda/attention_kernel.cuh"
#include "cuda/ops.h"

namespace od::cuda {

void run_cross_attention(const CrossAttentionOp& op, Context& ctx) {
  const DeviceSlot& q = ctx.buf(op.q);
  const DeviceSlot& kv = ctx.buf(op.kv);
  const DeviceSlot& mask = ctx.buf(op.mask);
  const DeviceSlot& out = ctx.buf(op.out);
  OD_CHECK(mask.dtype == DType::I32, std::string("cross_attention's mask is ") + dtype_name(mask.dtype) + ", not i32",
           "the lowering makes the text mask an i32 input buffer");
  const int64_t width = op.heads * op.head_dim;
  AttentionArgs a;
  a.q = q.ptr;
  a.q_dtype = q.dtype;
  a.q_stride = width;
  a.k = kv.ptr;
  a.v = static_cast<const char*>(kv.ptr) + width * dtype_bytes(kv.dtype);
  a.kv_dtype = kv.dtype;
  a.kv_stride = 2 * width;
  a.out = out.ptr;
  a.out_dtype = out.dtype;
  a.out_stride = width;
  a.batch = op.samples;
  a.heads = op.heads;
  a.head_dim = op.head_dim;
  a.queries = op.queries;
  a.kv_rows = op.keys;
  a.keys = op.keys;
  a.mask = static_cast<const int32_t*>(mask.ptr);
  a.scale = op.scale;
  launch_attention(a, ctx.stream);
}

}  // namespace od::cuda
