// One round of ring attention without communication (cuda/ring_fold.cuh says what and why): the round's block
// and fold mode, and the log-sum-exp merge kernel.
#include "cuda/ring_fold.cuh"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/dtype.cuh"

namespace od::cuda {

RingRound ring_round(int64_t members, int64_t member, int64_t round, int64_t seq, int64_t valid_keys) {
  RingRound r;
  r.source = ((member - round) % members + members) % members;
  r.keys = std::clamp<int64_t>(valid_keys - r.source * seq, 0, seq);
  return r;
}

RingFoldMode ring_fold_mode(int64_t members, int64_t member, int64_t round, int64_t seq, int64_t valid_keys) {
  int64_t first = -1, last = -1, active = 0;
  for (int64_t t = 0; t < members; t++) {
    if (ring_round(members, member, t, seq, valid_keys).keys == 0) continue;
    if (first < 0) first = t;
    last = t;
    active++;
  }
  if (active == 0) return round == 0 ? RingFoldMode::Zero : RingFoldMode::Skip;
  if (ring_round(members, member, round, seq, valid_keys).keys == 0) return RingFoldMode::Skip;
  if (active == 1) return RingFoldMode::Only;
  if (round == first) return RingFoldMode::First;
  return round == last ? RingFoldMode::Last : RingFoldMode::Middle;
}

namespace {

constexpr int64_t kAlign = 256;  // every part of the scratch starts on its own 256-byte boundary

int64_t aligned(int64_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

struct MergeParams {
  const void* partial;
  DType partial_dtype;
  const float* partial_lse;
  float* state;
  float* state_lse;
  void* out;
  DType out_dtype;
  int64_t out_stride;
  int64_t tasks;  // rows·heads (one warp each)
  int64_t heads, queries, width;
  int hd;
  int first, last;  // RingFoldMode First (the state is not read) / Last (the result goes to out, the state is left)
};

// One warp per (query row, head): the weights of the state and of the partial from the two log-sum-exps, then the
// head's head_dim columns (lanes stride over them), then Λ' (after every lane has read Λ: __syncwarp).
__global__ void ring_merge(const MergeParams p) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t task = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); task < p.tasks; task += warps) {
    const int64_t row = task / p.heads, h = task % p.heads;
    const int64_t b = row / p.queries, i = row % p.queries;
    const int64_t li = (b * p.heads + h) * p.queries + i;
    const float lp = p.partial_lse[li];
    const float ls = p.first ? -INFINITY : p.state_lse[li];
    const float m = fmaxf(lp, ls);
    float wp = 0.0f, ws = 0.0f, lnew = -INFINITY;
    if (m != -INFINITY) {
      const float ep = expf(lp - m), es = expf(ls - m);  // one of them is 1; e^(−inf) = 0
      const float sum = ep + es;
      lnew = m + logf(sum);
      wp = ep / sum;
      ws = es / sum;
    }
    const int64_t col0 = row * p.width + h * p.hd;
    for (int d = lane; d < p.hd; d += 32) {
      float o = wp * load_f(p.partial, p.partial_dtype, col0 + d);
      if (!p.first) o += ws * p.state[col0 + d];
      if (p.last)
        store_f(p.out, p.out_dtype, row * p.out_stride + h * p.hd + d, o);
      else
        p.state[col0 + d] = o;
    }
    __syncwarp();
    if (lane == 0 && !p.last) p.state_lse[li] = lnew;
  }
}

}  // namespace

int64_t ring_partial_bytes(int64_t rows, int64_t width, int64_t q_bytes) { return aligned(rows * width * q_bytes); }
int64_t ring_state_bytes(int64_t rows, int64_t width) { return aligned(rows * width * static_cast<int64_t>(sizeof(float))); }
int64_t ring_lse_bytes(int64_t lse_count) { return aligned(lse_count * static_cast<int64_t>(sizeof(float))); }

void ring_fold(const AttentionArgs& block, RingFoldMode mode, const RingFoldBuffers& buffers, cudaStream_t stream) {
  OD_CHECK(block.seq_inner == 0, "ring attention over decomposed sequences", "a CUDA backend defect: ring blocks are contiguous");
  const int64_t rows = block.batch * block.queries, width = block.heads * block.head_dim;
  if (mode == RingFoldMode::Skip || rows == 0 || width == 0) return;
  if (mode == RingFoldMode::Zero) {
    // The output is a float dtype (f32, bf16, f16); plan/plan.h's dtype_bytes is not linked into the GPU tests.
    const size_t esz = buffers.out_dtype == DType::F32 ? 4 : 2;
    OD_CUDA_CHECK(cudaMemset2DAsync(buffers.out, static_cast<size_t>(buffers.out_stride) * esz, 0, static_cast<size_t>(width) * esz,
                                    static_cast<size_t>(rows), stream));
    return;
  }
  AttentionArgs a = block;
  if (mode == RingFoldMode::Only) {
    a.out = buffers.out;
    a.out_dtype = buffers.out_dtype;
    a.out_stride = buffers.out_stride;
    a.lse = nullptr;
    launch_attention(a, stream);
    return;
  }
  a.out = buffers.partial;
  a.out_dtype = block.q_dtype;
  a.out_stride = width;
  a.lse = buffers.partial_lse;
  launch_attention(a, stream);

  MergeParams p{};
  p.partial = buffers.partial;
  p.partial_dtype = block.q_dtype;
  p.partial_lse = buffers.partial_lse;
  p.state = buffers.state;
  p.state_lse = buffers.state_lse;
  p.out = buffers.out;
  p.out_dtype = buffers.out_dtype;
  p.out_stride = buffers.out_stride;
  p.tasks = rows * block.heads;
  p.heads = block.heads;
  p.queries = block.queries;
  p.width = width;
  p.hd = static_cast<int>(block.head_dim);
  p.first = mode == RingFoldMode::First ? 1 : 0;
  p.last = mode == RingFoldMode::Last ? 1 : 0;
  constexpr int kWarps = 8;
  const int64_t blocks = std::min<int64_t>((p.tasks + kWarps - 1) / kWarps, int64_t{1} << 20);
  ring_merge<<<static_cast<unsigned>(blocks), kWarps * 32, 0, stream>>>(p);
  OD_CUDA_LAUNCHED(ring_merge);
}

}  // namespace od::cuda
