// One round of ring attention on the GPU, without any communication: which K/V block a member attends in a round,
// and how that block's attention is folded into the running state (cuda/ring_attention.cu runs the rounds around
// the ring with NCCL; native/test/cuda_ring_test.cu folds the blocks of one sequence on one GPU and compares with
// full attention in fp64). The math is cpu/ring_attention.cpp's online softmax, done per block instead of per key:
//
//   the block's attention gives a partial output P (softmax over the block's valid keys only) and each query's
//   log-sum-exp λ = ln Σ_j exp(scale·q·k_j) (AttentionArgs::lse); the state is (O, Λ), fp32, with Λ = −inf while
//   nothing is folded. Folding: Λ' = ln(e^Λ + e^λ), O' = e^(Λ − Λ')·O + e^(λ − Λ')·P. A query no block gave a key
//   keeps Λ = −inf and O = 0: zeros, as the reference gives.
//
// The partial output P is stored in the q dtype (bf16/f16 plans: the tensor-core kernels write only their input
// dtype, and the fp32 SIMT kernel would cost far more than the one rounding of P, ≤ 2^-9 relative in bf16, which
// the fp32 merge then weights by e^(λ − Λ') ≤ 1); the state and the merge are fp32, and the last merge writes the
// final output in its own dtype.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/attention_kernel.cuh"
#include "plan/plan.h"

namespace od::cuda {

// Round t of member r of a ring of R members whose sequences hold `seq` tokens each: the K/V block held then came
// from member (r − t) mod R (`source`), its keys sit at global positions source·seq + j, and `keys` =
// clamp(valid_keys − source·seq, 0, seq) of them are valid (valid_keys counts over the whole ring sequence).
struct RingRound {
  int64_t source = 0;
  int64_t keys = 0;
};
RingRound ring_round(int64_t members, int64_t member, int64_t round, int64_t seq, int64_t valid_keys);

// What round t's fold does, given which rounds have valid keys at all.
enum class RingFoldMode {
  Skip,    // no valid key in this block: nothing runs (the block still travels on)
  Zero,    // round 0 when no block of the ring has a valid key: the output is zeros
  Only,    // the one block with valid keys: its attention writes the final output directly (no state)
  First,   // the first of several: P and λ become the state
  Middle,  // folded into the state
  Last,    // folded with the state, the result written as the final output
};
RingFoldMode ring_fold_mode(int64_t members, int64_t member, int64_t round, int64_t seq, int64_t valid_keys);

// The state and the buffers of a fold. rows = batch·queries, width = heads·head_dim (both taken from the block's
// AttentionArgs); the partial and the state are dense [rows, width] and the log-sum-exps [batch, heads, queries].
struct RingFoldBuffers {
  void* partial = nullptr;       // P, in the q dtype
  float* partial_lse = nullptr;  // λ
  float* state = nullptr;        // O, fp32
  float* state_lse = nullptr;    // Λ
  void* out = nullptr;           // the final output [rows, width] at row stride out_stride, in out_dtype
  DType out_dtype = DType::BF16;
  int64_t out_stride = 0;
};

// Bytes of each buffer for `rows` query rows of `width` columns, `lse_count` = batch·heads·queries, q dtype of
// `q_bytes` bytes an element.
int64_t ring_partial_bytes(int64_t rows, int64_t width, int64_t q_bytes);
int64_t ring_state_bytes(int64_t rows, int64_t width);
int64_t ring_lse_bytes(int64_t lse_count);

// Enqueues round `mode`'s work on `stream`: `block` is the attention of the local queries over the round's K/V
// block (q, k, v, dtypes, strides, batch, heads, head_dim, queries, kv_rows, keys, scale, q/k transforms with the
// rows' global positions); its out, out_dtype, out_stride and lse are ignored and set here from `buffers` and the
// mode. Contiguous sequences only (block.seq_inner == 0). Fails (od::Error) where a launch fails.
void ring_fold(const AttentionArgs& block, RingFoldMode mode, const RingFoldBuffers& buffers, cudaStream_t stream);

}  // namespace od::cuda
