// self_attention on the GPU (cpu/self_attention.cpp is the reference): q, k, v of head h read from the packed qkv
// rows [batch·seq, 3·D] at columns s·D + h·hd; the optional per-head RMSNorm (q_norm, k_norm) and RoPE
// (rope_theta, position offset + i) are applied as the rows load into the attention kernel's shared memory, so
// qkv is never written (no scratch, no in-place update). Keys are limited to valid_keys.
// With kv_cache: a pre-pass writes the op's own k (normalised, rotated) and v into rows b·keys + offset + i of
// the cache buffer [batch·keys, 2D] in the cache's dtype, then the queries attend to the cache's first
// valid_keys (default: all `keys`) rows. The fresh rows are read back as the cache stores them (bf16 in a bf16
// plan), where the CPU keeps them in double: a difference within the storage dtype's rounding.
// `ring` (K/V passed around a ring group) has no CUDA kernel yet: refused here and in the backend's check.
#include <cstdint>

#include "core/error.h"
#include "cuda/attention_kernel.cuh"
#include "cuda/ops.h"

namespace od::cuda {

void run_self_attention(const SelfAttentionOp& op, Context& ctx) {
  if (op.ring)
    OD_FAIL("self_attention with ring attention (K/V around the `" + *op.ring + "` group) has no CUDA kernel yet",
            "run this plan on the CPU backend, or compile it without ring parallelism");
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
  launch_attention(a, ctx.stream);
}

}  // namespace od::cuda
