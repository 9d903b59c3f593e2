// The attention forward kernel of the CUDA backend (cuda/attention_kernel.cu), shared by self_attention
// (cuda/self_attention.cu) and cross_attention (cuda/cross_attention.cu): for each of `batch` sequences and each
// head, out[i] = Σ_j softmax_j(scale·q_i·k_j)·v_j over the keys j < keys that the mask (if any) lets through; a
// query with no key gets zeros, as the CPU kernels (cpu/self_attention.cpp, cpu/cross_attention.cpp) give.
//
// Three kernels behind one launcher:
// - bf16/f16 with q, k, v and out of one dtype, head_dim % 8 == 0, ≤ 128, 16-byte aligned rows, keys > 128: a
//   FlashAttention-2 style kernel on tensor cores (mma.sync m16n8k16, fp32 accumulation), one block per (sequence,
//   head, tile of 16·warps queries), K/V tiles of 64 keys streamed through shared memory with cp.async, online
//   softmax in fp32. The head dim is padded with zeros to a multiple of 16 in shared memory (72 → 80: 10% of the
//   MMA work wasted, the price of one code path for DiT's 72; the zero columns contribute exact zeros to q·k).
// - the same dtypes and layout with keys ≤ 128 (temporal attention over frames, cross-attention over text tokens):
//   a single-tile tensor-core kernel: all keys in one K/V tile of 16/32/64/128 keys, plain softmax (no online
//   rescaling), several (sequence, head) problems per block (8 warps), each problem's K/V loaded once for all its
//   query rows. These shapes are memory-bound; the kernel aims at the bandwidth of reading q (or qkv) and writing
//   out.
// - anything else (fp32 plans, odd sizes): a tiled fp32 SIMT kernel (no tensor cores), the same semantics.
//
// Optionally q and/or k get the per-head RMSNorm (weight ⊙ x / √(mean(x²) + eps)) and then the rotary embedding
// over interleaved pairs at position position_offset + row, applied as the rows are loaded into shared memory
// (nothing is written back: the qkv activation stays as the linear left it).
//
// Two optional arguments: `lse`, each query's log-sum-exp (ring attention merges per-block partial outputs with
// it), written by all three kernels; and the sequence decomposition `seq_inner` (sequences laid out with an outer
// and an inner stride: STDiT's temporal attention read in the spatial row order, without the permutes around it),
// read by the single-tile and SIMT kernels (a decomposed layout with more than 128 keys runs on the SIMT kernel).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "plan/plan.h"

namespace od::cuda {

struct QkTransform {
  const void* norm_weight = nullptr;  // [head_dim] in norm_dtype, or null: no RMSNorm
  DType norm_dtype = DType::F32;
  float eps = 0;
  bool rope = false;            // rotary embedding over interleaved pairs (needs an even head_dim)
  int64_t position_offset = 0;  // row i of a sequence sits at position position_offset + i
};

struct AttentionArgs {
  // Element pointers at column 0 of head 0 of their part (packed qkv: qkv, qkv + D, qkv + 2D); head h's columns
  // are h·head_dim .. h·head_dim + head_dim − 1 of every row.
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  DType q_dtype = DType::BF16, kv_dtype = DType::BF16, out_dtype = DType::BF16;
  int64_t q_stride = 0, kv_stride = 0, out_stride = 0;  // elements between consecutive rows
  int64_t batch = 0, heads = 0, head_dim = 0;
  int64_t queries = 0;  // query (and out) rows per sequence
  int64_t kv_rows = 0;  // K/V rows per sequence (sequence b's rows start at b·kv_rows)
  int64_t keys = 0;     // keys attended: rows [0, keys) of each sequence (valid_keys), ≤ kv_rows
  const int32_t* mask = nullptr;  // [batch, kv_rows] i32, 0 = masked; null = every key
  double scale = 1;
  QkTransform q_tf, k_tf;
  double rope_theta = 10000;  // freq_j = theta^(−2j/head_dim), computed in double on the host
  // Streaming-kernel variant (the spatial path: bf16/f16, > 64 queries, keys > 128, head dim 33..80): 0 .. 
  // kAttentionVariants − 1 (attention_kernel.cu, kTcVariants, lists them); −1 = the environment variable
  // OPENDIT_ATTENTION_VARIANT (read once per process) if set to one, else the build's default (0 unless
  // -DOD_ATTENTION_DEFAULT_VARIANT=n). Where the variant does not apply, variant 0 runs; attention_kernel_name
  // says which ran ("... v5 bn=64 st=1 minb=2 fast").
  int variant = -1;
  // Optional: each query's log-sum-exp, the natural log of Σ_j exp(scale·q_i·k_j) over the keys it attends
  // (−inf for a query with no key), [batch, heads, queries] fp32 (index (n·heads + h)·queries + i): what merging
  // attentions over disjoint key sets needs (ring attention, cuda/ring_fold.cuh). Null: not written, no cost.
  float* lse = nullptr;
  // Optional sequence decomposition (STDiT's temporal attention read in the spatial [B, T, S] row order, so the
  // permutes around it are not needed: cuda/permute_fold.h): with seq_inner > 0, sequence n is the pair
  // (n / seq_inner, n % seq_inner) and its row i of q sits at element q_seq.outer·(n / seq_inner) +
  // q_seq.inner·(n % seq_inner) + i·q_stride, of k and v at the kv_seq strides (+ i·kv_stride), of out at the
  // out_seq strides (+ i·out_stride). 0 (the default): sequences are contiguous, sequence n's rows start at
  // n·queries (q, out) and n·kv_rows (k, v); the *_seq strides are ignored. The mask (if any) stays indexed by n.
  struct SeqStrides {
    int64_t outer = 0, inner = 0;
  };
  int64_t seq_inner = 0;
  SeqStrides q_seq, kv_seq, out_seq;
};

// Number of streaming-kernel variants (AttentionArgs::variant).
constexpr int kAttentionVariants = 10;

// Enqueues the attention on `stream` (no synchronisation). Fails (od::Error) on a launch error or on sizes no
// kernel covers (head_dim > 256).
void launch_attention(const AttentionArgs& a, cudaStream_t stream);

// Which kernel launch_attention picks for these arguments ("tensor-core bf16 hdp=80 warps=8",
// "tensor-core bf16 hdp=80 1-tile bn=16 warps=8 (8x1)" = single-tile kernel, 8 problems of 1 warp per block,
// "simt fp32"), for tests and logs.
const char* attention_kernel_name(const AttentionArgs& a);

// The kv_cache pre-pass of self_attention: for each sequence b, own row i and head h, k (after tf: norm, rope at
// tf.position_offset + i) and v go to cache rows b·cache_keys + cache_offset + i (key at h·hd + d, value at
// D + h·hd + d, D = heads·hd) in the cache's dtype. Also the q/k pre-pass of long attention with norms or RoPE
// (cuda/self_attention.cu): there `cache_row_stride` D and `v` null write the transformed q alone.
struct KvCacheWriteArgs {
  const void* k = nullptr;
  const void* v = nullptr;
  DType src_dtype = DType::BF16;
  int64_t src_stride = 0;
  void* cache = nullptr;
  DType cache_dtype = DType::BF16;
  int64_t batch = 0, seq = 0, heads = 0, head_dim = 0, cache_keys = 0, cache_offset = 0;
  QkTransform k_tf;
  double rope_theta = 10000;
  int64_t cache_row_stride = 0;  // elements between cache rows; 0: 2·D (key then value)
};
void launch_kv_cache_write(const KvCacheWriteArgs& a, cudaStream_t stream);

}  // namespace od::cuda
