// self_attention on the GPU (cpu/self_attention.cpp is the reference): q, k, v of head h read from the packed qkv
// rows [batch·seq, 3·D] at columns s·D + h·hd; the optional per-head RMSNorm (q_norm, k_norm) and RoPE
// (rope_theta, position offset + i) are applied as the rows load into the attention kernel's shared memory, so
// qkv is never written (no scratch, no in-place update). Keys are limited to valid_keys.
// With kv_cache: a pre-pass writes the op's own k (normalised, rotated) and v into rows b·keys + offset + i of
// the cache buffer [batch·keys, 2D] in the cache's dtype, then the queries attend to the cache's first
// valid_keys (default: all `keys`) rows. The fresh rows are read back as the cache stores them (bf16 in a bf16
// plan), where the CPU keeps them in double: a difference within the storage dtype's rounding.
// With `ring` (K/V blocks passed around a ring group): cuda/ring_attention.cu (run_ring_attention), needing the
// run's NCCL communicators where the ring has several ranks. run_self_attention_in_layout: the same attention with
// its sequences read in another row order (STDiT's temporal attention without its permutes, cuda/permute_fold.h).
//
// The q/k pre-pass: attention over sequences longer than one tile whose q or k carry a per-head RMSNorm or RoPE
// (Open-Sora 1.2's spatial attention) gets them applied once, into scratch, by the kv_cache write kernel: q
// [rows, D], then k and v [rows, 2D], the same fp32 math rounded to the storage dtype as the streaming kernel's
// in-load transform, so that kernel sees the same operands. Without it every query tile re-normalises every key
// row it loads (on CUDA cores, in fp32): on STDiT3-XL/2 at 51x720x1280 (3,600-token frames) that made the step
// about twice the cost model's. After the pre-pass the attention is plain, so cuDNN's fused kernel takes it
// where it fits. OPENDIT_ATTENTION_PREPASS=0 keeps the in-kernel transform (for comparison).
//
// Which attention runs: OPENDIT_ATTENTION (read once) = own (the default: cuda/attention_kernel.cu) or cudnn
// (cuDNN's fused flash attention, cuda/cudnn_attention.cu, where it fits: bf16/f16 without q/k norm, RoPE,
// kv_cache or valid_keys, spatial lengths > 128; the own kernel elsewhere). The cuDNN plans are built at check time
// (prepare_self_attention), before any CUDA graph capture.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "cuda/attention_kernel.cuh"
#include "cuda/cudnn_attention.h"
#include "cuda/ops.h"
#include "cuda/permute_fold.h"

namespace od::cuda {
namespace {

// Which attention runs where cuDNN's fits: OPENDIT_ATTENTION=cudnn|own, default cudnn where this build has it.
// Measured on an H200 (docs/BENCHMARKS.md): cuDNN's fused attention made STDiT-XL/2 16x512x512's step 102 ms
// against 114 ms with our own kernel; both are checked against an fp64 reference on the spatial shapes by
// native/test/cuda_attention_test.cu (the tiny pipelines of scripts/gpu/check-cuda.mjs have too few tokens to reach
// cuDNN's path).
bool cudnn_selected() {
  static const bool selected = [] {
    const char* e = std::getenv("OPENDIT_ATTENTION");
    const std::string v = e ? e : "";
    OD_CHECK(v.empty() || v == "own" || v == "cudnn", "OPENDIT_ATTENTION=" + v + " is not an attention implementation",
             "use cudnn (the default where built) or own");
    if (v == "own") return false;
#if OPENDIT_WITH_CUDNN
    return true;
#else
    OD_CHECK(v.empty(), "OPENDIT_ATTENTION=cudnn, but this build has no cuDNN (the configure summary says why)",
             "install cuDNN 9 (cudnn.h and libcudnn) and rebuild, or use OPENDIT_ATTENTION=own");
    return false;
#endif
  }();
  return selected;
}

// The q/k pre-pass applies (see the header): OPENDIT_ATTENTION_PREPASS unset or 1, and a long attention with a
// norm or RoPE on q or k, without ring or kv_cache (those transform in their own passes).
constexpr int64_t kPrepassMinSeq = 128;
bool prepass_enabled() {
  static const bool enabled = [] {
    const char* e = std::getenv("OPENDIT_ATTENTION_PREPASS");
    const std::string v = e ? e : "";
    OD_CHECK(v.empty() || v == "0" || v == "1", "OPENDIT_ATTENTION_PREPASS=" + v + " is neither 0 nor 1",
             "1 (the default) applies q/k norms and RoPE once before long attention, 0 inside the kernel");
    return v != "0";
  }();
  return enabled;
}
bool prepass_candidate(const SelfAttentionOp& op) {
  return !op.ring && !op.kv_cache && (op.q_norm || op.k_norm || op.rope_theta.has_value()) && op.seq > kPrepassMinSeq &&
         prepass_enabled();
}
constexpr int64_t kPrepassAlign = 256;
int64_t align_up(int64_t n) { return (n + kPrepassAlign - 1) / kPrepassAlign * kPrepassAlign; }

DType plan_dtype(const Memory& host, BufRef ref) {
  const Plan& plan = host.plan();
  const std::string& name = plan.name_of(ref);
  for (const PlanBuffer& b : plan.buffers)
    if (b.name == name) return b.dtype;
  OD_FAIL("self_attention: buffer `" + name + "` is not among the plan's buffers", "a runtime defect");
}

// Where the pre-pass puts q (rows of D) and k, v (rows of 2D) inside the scratch, and how much it needs.
struct PrepassLayout {
  int64_t q_bytes = 0, kv_offset = 0, total = 0;
};
PrepassLayout prepass_layout(const SelfAttentionOp& op, int64_t esz) {
  const int64_t rows = op.batch * op.seq, width = op.heads * op.head_dim;
  PrepassLayout l;
  l.q_bytes = rows * width * esz;
  l.kv_offset = align_up(l.q_bytes);
  l.total = l.kv_offset + 2 * rows * width * esz;
  return l;
}

#if OPENDIT_WITH_CUDNN
// The attention arguments of the op: pointers from `qkv`/`out` (null at check time), dtypes from the same.
AttentionArgs plain_args(const SelfAttentionOp& op, const void* qkv, DType qkv_dtype, void* out, DType out_dtype) {
  const int64_t width = op.heads * op.head_dim;
  const char* base = static_cast<const char*>(qkv);
  const int64_t esz = dtype_bytes(qkv_dtype);
  AttentionArgs a;
  a.q = base;
  a.k = base ? base + width * esz : nullptr;
  a.v = base ? base + 2 * width * esz : nullptr;
  a.out = out;
  a.q_dtype = a.kv_dtype = qkv_dtype;
  a.out_dtype = out_dtype;
  a.q_stride = a.kv_stride = 3 * width;
  a.out_stride = width;
  a.batch = op.batch;
  a.heads = op.heads;
  a.head_dim = op.head_dim;
  a.queries = a.kv_rows = op.seq;
  a.keys = op.valid_keys.value_or(op.seq);
  a.scale = op.scale;
  return a;
}

// The cuDNN path applies to the op (its arguments fit, whatever the pointers): no transform of q/k, no cache.
bool cudnn_candidate(const SelfAttentionOp& op) {
  return !op.ring && !op.kv_cache && !op.q_norm && !op.k_norm && !op.rope_theta.has_value();
}

// The arguments of the attention after the pre-pass: q rows of D, k and v rows of 2D (pointers null at check time).
AttentionArgs prepassed_args(const SelfAttentionOp& op, const void* q, const void* kv, DType dtype, void* out, DType out_dtype) {
  AttentionArgs a = plain_args(op, nullptr, dtype, out, out_dtype);
  const int64_t width = op.heads * op.head_dim;
  a.q = q;
  a.k = kv;
  a.v = kv ? static_cast<const char*>(kv) + width * dtype_bytes(dtype) : nullptr;
  a.q_stride = width;
  a.kv_stride = 2 * width;
  return a;
}
#endif

}  // namespace

size_t self_attention_scratch_bytes(const SelfAttentionOp& op, const Memory& host) {
  if (op.ring) return ring_attention_scratch_bytes(op, host);
  if (!prepass_candidate(op)) return 0;
  return static_cast<size_t>(prepass_layout(op, dtype_bytes(plan_dtype(host, op.qkv))).total);
}

void prepare_self_attention(const SelfAttentionOp& op, const Memory& host) {
  if (op.ring) {
    prepare_ring_attention(op, host);
    return;
  }
  if (!cudnn_selected()) return;  // fails here, at check time, for OPENDIT_ATTENTION=cudnn without cuDNN
#if OPENDIT_WITH_CUDNN
  if (prepass_candidate(op)) {
    const AttentionArgs a = prepassed_args(op, nullptr, nullptr, plan_dtype(host, op.qkv), nullptr, plan_dtype(host, op.out));
    if (cudnn_attention_fits(a)) cudnn_attention_prepare(a);
    return;
  }
  if (!cudnn_candidate(op)) return;
  const AttentionArgs a = plain_args(op, nullptr, plan_dtype(host, op.qkv), nullptr, plan_dtype(host, op.out));
  if (cudnn_attention_fits(a)) cudnn_attention_prepare(a);
#else
  (void)op;
  (void)host;
#endif
}

namespace {

// The op's attention; `layout` (null: the planned contiguous sequences) reads qkv and writes out in another row
// order (cuda/permute_fold.h).
void attend(const SelfAttentionOp& op, const SequenceLayout* layout, Context& ctx) {
  const DeviceSlot& qkv = ctx.buf(op.qkv);
  const DeviceSlot& out = ctx.buf(op.out);
  const int64_t hd = op.head_dim, width = op.heads * hd;
  const int64_t esz = dtype_bytes(qkv.dtype);
  const char* base = static_cast<const char*>(qkv.ptr);

  QkTransform qt, kt;
  const int64_t offset = op.kv_cache ? op.kv_cache->offset : 0;
  if (op.q_norm) {
    const DeviceSlot& w = ctx.buf(op.q_norm->weight);
    qt.norm_weight = w.ptr;
    qt.norm_dtype = w.dtype;
    qt.eps = static_cast<float>(op.q_norm->eps);
  }
  if (op.k_norm) {
    const DeviceSlot& w = ctx.buf(op.k_norm->weight);
    kt.norm_weight = w.ptr;
    kt.norm_dtype = w.dtype;
    kt.eps = static_cast<float>(op.k_norm->eps);
  }
  qt.rope = kt.rope = op.rope_theta.has_value();
  qt.position_offset = kt.position_offset = offset;

  AttentionArgs a;
  a.q = base;
  a.q_dtype = qkv.dtype;
  a.q_stride = 3 * width;
  a.out = out.ptr;
  a.out_dtype = out.dtype;
  a.out_stride = width;
  a.batch = op.batch;
  a.heads = op.heads;
  a.head_dim = hd;
  a.queries = op.seq;
  a.scale = op.scale;
  a.q_tf = qt;
  a.rope_theta = op.rope_theta.value_or(10000.0);

  if (op.kv_cache) {
    const DeviceSlot& cache = ctx.buf(op.kv_cache->buffer);
    KvCacheWriteArgs w;
    w.k = base + width * esz;
    w.v = base + 2 * width * esz;
    w.src_dtype = qkv.dtype;
    w.src_stride = 3 * width;
    w.cache = cache.ptr;
    w.cache_dtype = cache.dtype;
    w.batch = op.batch;
    w.seq = op.seq;
    w.heads = op.heads;
    w.head_dim = hd;
    w.cache_keys = op.kv_cache->keys;
    w.cache_offset = offset;
    w.k_tf = kt;
    w.rope_theta = a.rope_theta;
    launch_kv_cache_write(w, ctx.stream);
    a.k = cache.ptr;
    a.v = static_cast<const char*>(cache.ptr) + width * dtype_bytes(cache.dtype);
    a.kv_dtype = cache.dtype;
    a.kv_stride = 2 * width;
    a.kv_rows = op.kv_cache->keys;
    // k was normalised and rotated on its way into the cache: a.k_tf stays empty.
  } else {
    a.k = base + width * esz;
    a.v = base + 2 * width * esz;
    a.kv_dtype = qkv.dtype;
    a.kv_stride = 3 * width;
    a.kv_rows = op.seq;
    a.k_tf = kt;
  }
  a.keys = op.valid_keys.value_or(a.kv_rows);
  if (!layout && prepass_candidate(op)) {
    const PrepassLayout pl = prepass_layout(op, esz);
    OD_CHECK(ctx.scratch != nullptr && ctx.scratch_bytes >= static_cast<size_t>(pl.total),
             "self_attention into `" + ctx.host->name(op.out) + "`: the q/k pre-pass needs " + std::to_string(pl.total) +
                 " bytes of scratch, " + std::to_string(ctx.scratch_bytes) + " were allocated",
             "a CUDA backend defect (scratch_bytes); OPENDIT_ATTENTION_PREPASS=0 avoids the pre-pass");
    char* q_out = static_cast<char*>(ctx.scratch);
    char* kv_out = q_out + pl.kv_offset;
    KvCacheWriteArgs w;
    w.k = base;  // q, transformed alone into rows of D
    w.v = nullptr;
    w.src_dtype = qkv.dtype;
    w.src_stride = 3 * width;
    w.cache = q_out;
    w.cache_dtype = qkv.dtype;
    w.batch = op.batch;
    w.seq = op.seq;
    w.heads = op.heads;
    w.head_dim = hd;
    w.cache_keys = op.seq;
    w.cache_offset = 0;
    w.k_tf = qt;
    w.rope_theta = a.rope_theta;
    w.cache_row_stride = width;
    launch_kv_cache_write(w, ctx.stream);
    w.k = base + width * esz;  // k transformed, v copied, into rows of 2D
    w.v = base + 2 * width * esz;
    w.cache = kv_out;
    w.k_tf = kt;
    w.cache_row_stride = 2 * width;
    launch_kv_cache_write(w, ctx.stream);
    a.q = q_out;
    a.q_stride = width;
    a.k = kv_out;
    a.v = kv_out + width * esz;
    a.kv_stride = 2 * width;
    a.q_tf = QkTransform{};
    a.k_tf = QkTransform{};
#if OPENDIT_WITH_CUDNN
    if (cudnn_selected() && cudnn_attention_fits(a)) {
      cudnn_attention_run(a, ctx.stream);
      return;
    }
#endif
    launch_attention(a, ctx.stream);
    return;
  }
  if (layout) {
    // Sequence n = (n / inner, n % inner); q, k and v share qkv's rows, out has rows of its own.
    a.seq_inner = layout->inner;
    a.q_seq.outer = a.kv_seq.outer = layout->qkv.outer * 3 * width;
    a.q_seq.inner = a.kv_seq.inner = layout->qkv.inner_rows * 3 * width;
    a.q_stride = a.kv_stride = layout->qkv.step * 3 * width;
    a.out_seq.outer = layout->out.outer * width;
    a.out_seq.inner = layout->out.inner_rows * width;
    a.out_stride = layout->out.step * width;
    launch_attention(a, ctx.stream);
    return;
  }
#if OPENDIT_WITH_CUDNN
  if (cudnn_selected() && cudnn_candidate(op) && cudnn_attention_fits(a)) {
    cudnn_attention_run(a, ctx.stream);
    return;
  }
#endif
  launch_attention(a, ctx.stream);
}

}  // namespace

void run_self_attention(const SelfAttentionOp& op, Context& ctx) {
  if (op.ring) {
    run_ring_attention(op, ctx);
    return;
  }
  attend(op, nullptr, ctx);
}

void run_self_attention_in_layout(const SelfAttentionOp& op, const SequenceLayout& layout, Context& ctx) {
  OD_CHECK(!op.ring && !op.kv_cache && layout.inner > 0,
           "self_attention into `" + ctx.host->name(op.out) + "` run in another row order with ring or kv_cache",
           "a CUDA backend defect: cuda/permute_fold.cu folds only plain temporal attention");
  attend(op, &layout, ctx);
}

}  // namespace od::cuda
