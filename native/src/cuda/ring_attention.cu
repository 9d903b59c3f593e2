// Ring self-attention on the GPU (compiler/plan/ops.ts SelfAttentionOp with `ring`; cpu/ring_attention.cpp is the
// reference, runtime/reference/collectives/ring-attention.ts the semantics). The ring group has R members; this
// rank, the r-th (its NCCL rank in the axis's communicator), holds chunk r of each of the `batch` sequences (seq
// packed qkv rows), so its token i is token r·seq + i of the whole sequence.
//
// Rounds t = 0 .. R − 1: the K/V block held in round t came from member (r − t) mod R. Its attention by the local
// queries (q RMSNorm and RoPE at positions r·seq + i, k's at the block's own global positions, both applied as the
// rows load: the block travels as raw k and v) over its valid keys (clamp(validKeys − source·seq, 0, seq)) is
// folded into a running fp32 (output, log-sum-exp) state (cuda/ring_fold.cuh: the merge, and which round writes
// the final output); a block without valid keys is not attended but still travels on.
//
// Streams: the attention runs on ctx.stream; the K/V transfers on ctx.comm_stream, each an ncclSend of the held
// block to member r + 1 and an ncclRecv of the next from member r − 1 (nccl_ring_shift: one grouped call) into
// the other of two scratch blocks, so round t's attention overlaps the transfer of round t + 1's block:
//
//   ctx.stream:   [fork]   round 0 (k, v read in place from qkv) ─ wait T0 ─ round 1 ─ wait T1 ─ round 2 ...
//   comm_stream:  wait fork ─ copy own k|v → block 0 ─ T0 (send 0, recv → 1) ─ T1 (send 1, recv → 0) ─ T2 ...
//                                                                      T(t ≥ 2) waits for round t − 1, the last
//                                                                      reader of the block it receives into
//
// Two events (created at check time by prepare_ring_attention, one pair per device, shared by every ring op: a wait
// binds to the most recent record when it is enqueued) carry the dependencies; the last transfer is waited for by
// the last round, so comm_stream is joined back into ctx.stream within the op and the whole op can be captured
// into the step's CUDA graph. Nothing is allocated; the blocks, the partial output and the state are in the
// backend's scratch (ring_attention_scratch_bytes).
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda/attention_kernel.cuh"
#include "cuda/check.h"
#include "cuda/nccl.h"
#include "cuda/ops.h"
#include "cuda/ring_fold.cuh"


namespace od::cuda {
namespace {

const std::string kWhere = "self_attention (ring)";

DType plan_dtype(const Memory& host, BufRef ref) {
  const Plan& plan = host.plan();
  const std::string& name = plan.name_of(ref);
  for (const PlanBuffer& b : plan.buffers)
    if (b.name == name) return b.dtype;
  OD_FAIL("self_attention (ring): buffer `" + name + "` is not among the plan's buffers", "a runtime defect");
}

// The scratch of a ring op, in order: two K/V blocks [batch·seq, 2·width] (k columns then v columns, the qkv dtype),
// the partial output, its log-sum-exp, the fp32 state and its log-sum-exp (cuda/ring_fold.cuh), each 256-aligned.
struct RingScratch {
  int64_t block = 0, partial = 0, lse = 0, state = 0;
  int64_t total() const { return 2 * block + partial + lse + state + lse; }
};

RingScratch scratch_layout(const SelfAttentionOp& op, int64_t esz) {
  const int64_t rows = op.batch * op.seq, width = op.heads * op.head_dim;
  RingScratch s;
  s.block = ring_partial_bytes(rows, 2 * width, esz);
  s.partial = ring_partial_bytes(rows, width, esz);
  s.lse = ring_lse_bytes(op.batch * op.heads * op.seq);
  s.state = ring_state_bytes(rows, width);
  return s;
}

struct RingEvents {
  cudaEvent_t compute = nullptr;   // recorded on ctx.stream: the fork, then after each round
  cudaEvent_t transfer = nullptr;  // recorded on comm_stream after each transfer
};
std::mutex g_events_mutex;
std::map<int, RingEvents> g_events;  // per device; kept for the process (like the cuDNN plans)

// The attention of the local queries over a K/V block whose keys start at global position `key_position`.
AttentionArgs block_args(const SelfAttentionOp& op, Context& ctx, int64_t member, const void* k, const void* v, int64_t kv_stride,
                         int64_t key_position, int64_t keys) {
  const DeviceSlot& qkv = ctx.buf(op.qkv);
  AttentionArgs a;
  a.q = qkv.ptr;
  a.q_dtype = a.kv_dtype = qkv.dtype;
  a.q_stride = 3 * op.heads * op.head_dim;
  a.k = k;
  a.v = v;
  a.kv_stride = kv_stride;
  a.batch = op.batch;
  a.heads = op.heads;
  a.head_dim = op.head_dim;
  a.queries = a.kv_rows = op.seq;
  a.keys = keys;
  a.scale = op.scale;
  a.rope_theta = op.rope_theta.value_or(10000.0);
  if (op.q_norm) {
    const DeviceSlot& w = ctx.buf(op.q_norm->weight);
    a.q_tf.norm_weight = w.ptr;
    a.q_tf.norm_dtype = w.dtype;
    a.q_tf.eps = static_cast<float>(op.q_norm->eps);
  }
  if (op.k_norm) {
    const DeviceSlot& w = ctx.buf(op.k_norm->weight);
    a.k_tf.norm_weight = w.ptr;
    a.k_tf.norm_dtype = w.dtype;
    a.k_tf.eps = static_cast<float>(op.k_norm->eps);
  }
  a.q_tf.rope = a.k_tf.rope = op.rope_theta.has_value();
  a.q_tf.position_offset = member * op.seq;
  a.k_tf.position_offset = key_position;
  return a;
}

#if OPENDIT_WITH_NCCL
const RingEvents& events_of_current_device() {
  int device = 0;
  OD_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(g_events_mutex);
  const auto it = g_events.find(device);
  OD_CHECK(it != g_events.end(), "self_attention (ring) ran on CUDA device " + std::to_string(device) + " before its events were created",
           "a CUDA backend defect: the backend's check must call prepare_self_attention for every self_attention op");
  return it->second;
}

#endif

}  // namespace

size_t ring_attention_scratch_bytes(const SelfAttentionOp& op, const Memory& host) {
  if (!op.ring || host.group(*op.ring, kWhere).size() <= 1) return 0;  // a ring of one: no block travels, no state
  return static_cast<size_t>(scratch_layout(op, dtype_bytes(plan_dtype(host, op.qkv))).total());
}

void prepare_ring_attention(const SelfAttentionOp& op, const Memory& host) {
  if (!op.ring) return;
  const size_t members = host.group(*op.ring, kWhere).size();
  OD_CHECK(members <= 1 || nccl_built(),
           "self_attention with ring attention over the `" + *op.ring + "` group of " + std::to_string(members) +
               " ranks needs NCCL on the CUDA backend, and this build has none: " + nccl_reason(),
           "install NCCL (nccl.h and libnccl) and rebuild, or run with --backend cpu");
  int device = 0;
  OD_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(g_events_mutex);
  if (g_events.count(device)) return;
  RingEvents e;
  OD_CUDA_CHECK(cudaEventCreateWithFlags(&e.compute, cudaEventDisableTiming));
  const cudaError_t st = cudaEventCreateWithFlags(&e.transfer, cudaEventDisableTiming);
  if (st != cudaSuccess) {
    cudaEventDestroy(e.compute);
    OD_CUDA_CHECK(st);
  }
  g_events[device] = e;
}

void run_ring_attention(const SelfAttentionOp& op, Context& ctx) {
  const Memory& host = *ctx.host;
  const std::string& axis = *op.ring;
  const int64_t R = static_cast<int64_t>(host.group(axis, kWhere).size());
  const int64_t S = op.seq, width = op.heads * op.head_dim;
  const int64_t valid = op.valid_keys.value_or(S * R);
  if (op.batch * S == 0 || width == 0) return;  // the same on every member: no transfer is due either
  const DeviceSlot& qkv = ctx.buf(op.qkv);
  const DeviceSlot& out = ctx.buf(op.out);
  const int64_t esz = dtype_bytes(qkv.dtype);
  const char* base = static_cast<const char*>(qkv.ptr);
  const char* own_k = base + width * esz;
  const char* own_v = base + 2 * width * esz;

  RingFoldBuffers buffers;
  buffers.out = out.ptr;
  buffers.out_dtype = out.dtype;
  buffers.out_stride = width;
  if (R == 1) {  // a ring of one rank: the whole sequence is here
    ring_fold(block_args(op, ctx, 0, own_k, own_v, 3 * width, 0, ring_round(1, 0, 0, S, valid).keys), ring_fold_mode(1, 0, 0, S, valid),
              buffers, ctx.stream);
    return;
  }
  OD_CHECK(ctx.nccl != nullptr && ctx.comm_stream != nullptr,
           "rank " + std::to_string(host.rank()) + ": self_attention with ring attention over the `" + axis + "` group of " +
               std::to_string(R) + " ranks, but the CUDA backend has no NCCL communicators for this run",
           "multi-rank CUDA runs need NCCL (the configure summary says whether it was built); or run with --backend cpu");
#if OPENDIT_WITH_NCCL
  const int64_t r = nccl_position(*ctx.nccl, axis);
  OD_CHECK(nccl_group_size(*ctx.nccl, axis) == R,
           "rank " + std::to_string(host.rank()) + ": the NCCL communicator of the `" + axis + "` axis has " +
               std::to_string(nccl_group_size(*ctx.nccl, axis)) + " ranks, the plan's group " + std::to_string(R),
           "a runtime defect: the communicators are split from plan.mesh.groups");
  const RingEvents& ev = events_of_current_device();
  const RingScratch lay = scratch_layout(op, esz);
  OD_CHECK(ctx.scratch != nullptr && ctx.scratch_bytes >= static_cast<size_t>(lay.total()),
           "self_attention (ring): " + std::to_string(lay.total()) + " bytes of scratch needed, " + std::to_string(ctx.scratch_bytes) +
               " allocated",
           "a CUDA backend defect: the scratch sizing must include ring_attention_scratch_bytes");
  char* scratch = static_cast<char*>(ctx.scratch);
  char* blocks[2] = {scratch, scratch + lay.block};
  buffers.partial = scratch + 2 * lay.block;
  buffers.partial_lse = reinterpret_cast<float*>(scratch + 2 * lay.block + lay.partial);
  buffers.state = reinterpret_cast<float*>(scratch + 2 * lay.block + lay.partial + lay.lse);
  buffers.state_lse = reinterpret_cast<float*>(scratch + 2 * lay.block + lay.partial + lay.lse + lay.state);
  const size_t block_bytes = static_cast<size_t>(op.batch * S * 2 * width * esz);
  cudaStream_t cs = ctx.comm_stream;

  // Fork: the transfers start once qkv is written; the own block is k|v copied out of qkv (on comm_stream, beside
  // round 0, which reads k and v in place).
  OD_CUDA_CHECK(cudaEventRecord(ev.compute, ctx.stream));
  OD_CUDA_CHECK(cudaStreamWaitEvent(cs, ev.compute, 0));
  OD_CUDA_CHECK(cudaMemcpy2DAsync(blocks[0], static_cast<size_t>(2 * width * esz), own_k, static_cast<size_t>(3 * width * esz),
                                  static_cast<size_t>(2 * width * esz), static_cast<size_t>(op.batch * S), cudaMemcpyDeviceToDevice, cs));
  for (int64_t t = 0; t < R; t++) {
    if (t >= 1) OD_CUDA_CHECK(cudaStreamWaitEvent(ctx.stream, ev.transfer, 0));  // transfer t − 1: this round's block
    if (t + 1 < R) {
      // Transfer t receives into the block round t − 1 read (round 0 read qkv, so transfer 1 need not wait).
      if (t >= 2) OD_CUDA_CHECK(cudaStreamWaitEvent(cs, ev.compute, 0));
      // One grouped send to the next member and receive from the previous (non-blocking communicators: nccl.cu
      // settles an in-progress result within the run's timeout).
      nccl_ring_shift(*ctx.nccl, *op.ring, blocks[t % 2], blocks[(t + 1) % 2], static_cast<int64_t>(block_bytes / esz), qkv.dtype, cs);
      OD_CUDA_CHECK(cudaEventRecord(ev.transfer, cs));
    }
    const RingRound round = ring_round(R, r, t, S, valid);
    const RingFoldMode mode = ring_fold_mode(R, r, t, S, valid);
    const char* k = t == 0 ? own_k : blocks[t % 2];
    const char* v = t == 0 ? own_v : blocks[t % 2] + width * esz;
    ring_fold(block_args(op, ctx, r, k, v, t == 0 ? 3 * width : 2 * width, round.source * S, round.keys), mode, buffers, ctx.stream);
    // Round t (t ≥ 1) read blocks[t % 2]: transfer t + 1 may receive into it once this is done.
    if (t >= 1 && t + 2 < R) OD_CUDA_CHECK(cudaEventRecord(ev.compute, ctx.stream));
  }
#else
  OD_FAIL("self_attention with ring attention over the `" + axis + "` group needs NCCL: " + std::string(nccl_reason()),
          "install NCCL (nccl.h and libnccl) and rebuild, or run with --backend cpu");
#endif
}

}  // namespace od::cuda
