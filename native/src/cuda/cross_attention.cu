// cross_attention on the GPU (cpu/cross_attention.cpp is the reference): sample s's query rows q[s·queries + i]
// (head h at columns h·hd) attend to its key rows kv[s·keys + j] (key at h·hd, value at D + h·hd) whose i32 mask
// entry mask[s, j] is non-zero (every key where the op has no mask: the VAE's mid-block attention); masked keys
// get no weight and a sample with no valid key gets zeros. Head dims up to 256: one launch of the shared
// attention kernel (cuda/attention_kernel.cuh) with the mask row per sample. Larger head dims (the VAE's one head
// of 512): scores and values as cuBLASLt GEMMs over query chunks (cuda/attention_gemm.cu), their GEMMs prepared
// at check time and their K, Vᵀ, scores and probabilities in the backend's scratch.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "cuda/attention_kernel.cuh"
#include "cuda/decode_kernels.h"
#include "cuda/gemm.h"
#include "cuda/ops.h"
#include "cuda/plan_operand.h"

namespace od::cuda {
namespace {

constexpr int64_t kFusedMaxHeadDim = 256;  // attention_kernel.cuh's limit

bool uses_gemms(const CrossAttentionOp& op) { return op.head_dim > kFusedMaxHeadDim; }

AttentionGemmArgs sizes_of(const CrossAttentionOp& op) {
  AttentionGemmArgs a;
  a.samples = op.samples;
  a.queries = op.queries;
  a.keys = op.keys;
  a.heads = op.heads;
  a.head_dim = op.head_dim;
  a.scale = op.scale;
  return a;
}

// The GEMM path's arguments at check time: dtypes from the plan, stand-in pointers with the plan's alignments.
AttentionGemmArgs plan_args(const CrossAttentionOp& op, const Memory& host, const std::string& where) {
  AttentionGemmArgs a = sizes_of(op);
  const PlanOperand q = plan_operand(host, op.q, "q", where), kv = plan_operand(host, op.kv, "kv", where),
                    out = plan_operand(host, op.out, "out", where);
  a.q = q.pointer();
  a.q_dtype = q.dtype;
  a.kv = kv.pointer();
  a.kv_dtype = kv.dtype;
  a.out = const_cast<void*>(out.pointer());
  a.out_dtype = out.dtype;
  return a;
}

}  // namespace

size_t cross_attention_scratch_bytes(const CrossAttentionOp& op, const Memory& host) {
  if (!uses_gemms(op)) return 0;
  return attention_gemm_layout(plan_args(op, host, "cross_attention into `" + host.name(op.out) + "`")).bytes;
}

void prepare_cross_attention(const CrossAttentionOp& op, const Memory& host, Gemm& gemm, const std::string& where) {
  if (!uses_gemms(op)) return;
  const AttentionGemmArgs a = plan_args(op, host, where);
  const PlanOperand q = plan_operand(host, op.q, "q", where), kv = plan_operand(host, op.kv, "kv", where),
                    out = plan_operand(host, op.out, "out", where);
  // out is written chunk by chunk while later chunks still read q (and every chunk reads K and V).
  OD_CHECK(!out.overlaps(q) && !out.overlaps(kv), where + ": out `" + host.name(op.out) + "` shares bytes with q or kv in the plan",
           "a plan defect: the GEMM attention cannot run in place (recompile the plan)");
  prepare_attention_gemms(a, gemm, where);
}

void run_cross_attention(const CrossAttentionOp& op, Context& ctx) {
  const DeviceSlot& q = ctx.buf(op.q);
  const DeviceSlot& kv = ctx.buf(op.kv);
  const DeviceSlot& out = ctx.buf(op.out);
  const int32_t* mask = nullptr;
  if (op.mask) {
    const DeviceSlot& m = ctx.buf(*op.mask);
    OD_CHECK(m.dtype == DType::I32, std::string("cross_attention's mask is ") + dtype_name(m.dtype) + ", not i32",
             "the lowering makes the text mask an i32 input buffer");
    mask = static_cast<const int32_t*>(m.ptr);
  }
  if (uses_gemms(op)) {
    AttentionGemmArgs a = sizes_of(op);
    a.q = q.ptr;
    a.q_dtype = q.dtype;
    a.kv = kv.ptr;
    a.kv_dtype = kv.dtype;
    a.mask = mask;
    a.out = out.ptr;
    a.out_dtype = out.dtype;
    launch_attention_gemm(a, Gemm::of(ctx.lt), ctx.scratch, ctx.scratch_bytes, ctx.stream, ctx.host->name(op.out));
    return;
  }
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
  a.mask = mask;
  a.scale = op.scale;
  launch_attention(a, ctx.stream);
}

}  // namespace od::cuda
