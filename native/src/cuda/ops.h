// The CUDA backend's kernels: one launcher per op kind of the plan (compiler/plan/ops.ts), each computing what
// its CPU kernel (cpu/<kind>.cpp, the reference) computes, on the plan's storage dtype (f32, bf16 or f16; i32 for
// ids and masks) with fp32 arithmetic inside, enqueued on ctx.stream and never synchronising. Each .cu holds a
// kernel and its launcher together. Sizes were checked by the CPU checks before the loop; the launchers trust them.
#pragma once
#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

#include "cuda/device_memory.h"
#include "cuda/nccl.h"
#include "plan/plan.h"
#include "runtime/memory.h"

namespace od::cuda {

// A solver op's per-step device table (solver_update.cu): one row per plan step, built and uploaded at prepare.
// errors[i] is the message of step i's refused coefficients ("" when valid), raised when step i runs.
struct SolverTable {
  const void* rows = nullptr;
  std::vector<std::string> errors;
};

// A buffer seen through a view (cuda/overlap.h runs an op on one sample's rows): the slot Context::buf returns for
// buffer `id` while a list of views is set.
struct BufferView {
  int id = -1;
  DeviceSlot slot;
};

struct Context {
  cudaStream_t stream = nullptr;
  void* lt = nullptr;         // cublasLtHandle_t (opaque here so kernels build without cuBLASLt's headers)
  void* workspace = nullptr;  // cuBLASLt workspace
  size_t workspace_bytes = 0;
  void* scratch = nullptr;    // kernel scratch, sized by the largest need declared in check (scratch_bytes)
  size_t scratch_bytes = 0;
  DeviceMemory* dev = nullptr;
  const Memory* host = nullptr;  // plan, rank coordinates (shard indices), step index
  // Device int: the index of the step being run, written by the backend on the stream before each step's work
  // (0 in setup). Kernels whose values depend on the step read it (or their table row by it) on the device, never
  // the host's step: a captured CUDA graph replays the same launches on every step of its pattern.
  const int* step_index = nullptr;
  const std::map<const SolverOp*, SolverTable>* solver_tables = nullptr;
  // Multi-rank runs (cuda/nccl.h): the communicators, and a second stream for transfers that overlap compute
  // (ring attention's K/V exchange), forked from and joined back into `stream` with events (graph-capturable).
  // Both null on one rank.
  NcclMesh* nccl = nullptr;
  cudaStream_t comm_stream = nullptr;
  // Views of some buffers (null but while cuda/overlap.cu runs an op on one chunk of samples): buf() returns the
  // view of a buffer listed there, the buffer's own slot otherwise.
  const std::vector<BufferView>* views = nullptr;
  const DeviceSlot& buf(BufRef ref) const {
    if (views)
      for (const BufferView& v : *views)
        if (v.id == ref.id) return v.slot;
    return dev->slot(ref);
  }
  const SolverTable* solver_table(const SolverOp& op) const {
    if (!solver_tables) return nullptr;
    const auto it = solver_tables->find(&op);
    return it == solver_tables->end() ? nullptr : &it->second;
  }
};

// Bytes of scratch an op's kernels need (0 for most); the backend allocates the largest once.
size_t scratch_bytes(const Op& op, const Memory& host);
// The collectives' device staging (packed all_to_all parts, gathered all_gather views, strided send/recv
// slices; cuda/all_to_all.cu and friends) and ring attention's K/V blocks, partial outputs and log-sum-exp
// state (cuda/ring_attention.cu): parts of scratch_bytes.
size_t collective_scratch_bytes(const Op& op, const Memory& host);
size_t ring_attention_scratch_bytes(const SelfAttentionOp& op, const Memory& host);
// A self_attention's scratch: ring attention's, or the q/k pre-pass's (cuda/self_attention.cu), else 0.
size_t self_attention_scratch_bytes(const SelfAttentionOp& op, const Memory& host);

// The solver's per-step table: its size, and its rows filled on the host (`rows`: solver_table_bytes bytes) with
// every plan step's coefficients and noise-name state; `errors` as SolverTable's. The backend uploads it at prepare.
size_t solver_table_bytes(const SolverOp& op, const Memory& host);
void build_solver_table(const SolverOp& op, const Memory& host, void* rows, std::vector<std::string>& errors);

// The VAE decode's kernels (cuda/conv2d.cu, group_norm.cu, cross_attention.cu over cuda/decode_kernels.h): their
// scratch (conv2d: the im2col chunk, the tap-major weights and the halo rows; group_norm: the statistics;
// cross_attention with head_dim > 256: K, Vᵀ, the score and probability chunks), and the check-time preparation
// of their cuBLASLt GEMMs (on the backend's Gemm, outside any CUDA graph capture).
class Gemm;
size_t conv2d_scratch_bytes(const Conv2dOp& op, const Memory& host);
void prepare_conv2d(const Conv2dOp& op, const Memory& host, Gemm& gemm, const std::string& where);
size_t group_norm_scratch_bytes(const GroupNormOp& op, const Memory& host);
size_t cross_attention_scratch_bytes(const CrossAttentionOp& op, const Memory& host);
void prepare_cross_attention(const CrossAttentionOp& op, const Memory& host, Gemm& gemm, const std::string& where);

// Check-time preparation of a self_attention op (cuda/self_attention.cu): with OPENDIT_ATTENTION=cudnn, builds the
// cuDNN plan for its shape (outside any CUDA graph capture); fails there when cuDNN was asked for but not built.
// For an op with `ring` it calls prepare_ring_attention.
void prepare_self_attention(const SelfAttentionOp& op, const Memory& host);
// Check-time preparation of a ring self_attention (cuda/ring_attention.cu): fails when the ring has several ranks
// and the build has no NCCL; creates the two events of the ring's stream fork/join on the current device (once per
// device), outside any capture.
void prepare_ring_attention(const SelfAttentionOp& op, const Memory& host);

#define OD_CUDA_OP(Kind, Struct) void run_##Kind(const Struct& op, Context& ctx);
OD_CUDA_OP(timestep_embed, TimestepEmbedOp)
OD_CUDA_OP(linear, LinearOp)
OD_CUDA_OP(silu, SiluOp)
OD_CUDA_OP(add, AddOp)
OD_CUDA_OP(embedding, EmbeddingOp)
OD_CUDA_OP(patch_embed, PatchEmbedOp)
OD_CUDA_OP(sincos_2d, SinCos2dOp)
OD_CUDA_OP(sincos_1d, SinCos1dOp)
OD_CUDA_OP(constant, ConstantOp)
OD_CUDA_OP(concat, ConcatOp)
OD_CUDA_OP(add_rows, AddRowsOp)
OD_CUDA_OP(modulation, ModulationOp)
OD_CUDA_OP(layernorm_modulate, LayerNormModulateOp)
OD_CUDA_OP(gate, GateOp)
OD_CUDA_OP(permute, PermuteOp)
OD_CUDA_OP(self_attention, SelfAttentionOp)
OD_CUDA_OP(cross_attention, CrossAttentionOp)
OD_CUDA_OP(unpatchify, UnpatchifyOp)
OD_CUDA_OP(guidance, GuidanceOp)
OD_CUDA_OP(solver_update, SolverOp)
OD_CUDA_OP(all_to_all, AllToAllOp)
OD_CUDA_OP(all_gather, AllGatherOp)
OD_CUDA_OP(send, SendOp)
OD_CUDA_OP(recv, RecvOp)
OD_CUDA_OP(ring_attention, SelfAttentionOp)  // self_attention with `ring` (run_self_attention forwards it)
OD_CUDA_OP(conv2d, Conv2dOp)
OD_CUDA_OP(group_norm, GroupNormOp)
OD_CUDA_OP(upsample_nearest, UpsampleNearestOp)
#undef OD_CUDA_OP

// `add` of `a` fed by `gate` g (g.out one of a's operands, dead after a), as one pass: a.out = other + g.gate ⊙ g.x.
// Returns false, launching nothing, where the vectorised kernel does not apply (dtypes, alignment, width); the
// caller then runs the two ops as they are.
bool run_gated_add(const GateOp& g, const AddOp& a, Context& ctx);

}  // namespace od::cuda
