// The CPU backend: one kernel per op kind of the plan (compiler/plan/ops.ts), plain fp32 C++ that is the
// numerical reference for every other backend. Each kind has
//   check_<kind>(op, mem): once, before the step loop: every buffer it touches holds the values the op's sizes
//                          need (sizes in mem.count), buffers are float or i32 as needed, and the scratch it
//                          needs is declared (mem.need_scratch). Fails with a message naming the buffer.
//   run_<kind>(op, mem):   computes; never allocates. Uses parallel_for (core/parallel.h) where the work is large.
// The semantics of each op are those of its runtime/reference/ops/<kind>.ts file (float64 there, fp32 storage
// here with fp32 or wider accumulation), which each .cpp names in its header comment.
#pragma once
#include "plan/plan.h"
#include "runtime/memory.h"

namespace od::cpu {

#define OD_CPU_OP(Kind, Struct)                   \
  void check_##Kind(const Struct& op, Memory& mem); \
  void run_##Kind(const Struct& op, Memory& mem);

OD_CPU_OP(timestep_embed, TimestepEmbedOp)
OD_CPU_OP(linear, LinearOp)
OD_CPU_OP(silu, SiluOp)
OD_CPU_OP(add, AddOp)
OD_CPU_OP(embedding, EmbeddingOp)
OD_CPU_OP(patch_embed, PatchEmbedOp)
OD_CPU_OP(sincos_2d, SinCos2dOp)
OD_CPU_OP(sincos_1d, SinCos1dOp)
OD_CPU_OP(constant, ConstantOp)
OD_CPU_OP(concat, ConcatOp)
OD_CPU_OP(add_rows, AddRowsOp)
OD_CPU_OP(modulation, ModulationOp)
OD_CPU_OP(layernorm_modulate, LayerNormModulateOp)
OD_CPU_OP(gate, GateOp)
OD_CPU_OP(permute, PermuteOp)
OD_CPU_OP(self_attention, SelfAttentionOp)
OD_CPU_OP(cross_attention, CrossAttentionOp)
OD_CPU_OP(unpatchify, UnpatchifyOp)
OD_CPU_OP(guidance, GuidanceOp)
OD_CPU_OP(solver_update, SolverOp)
// Data between ranks, through mem.comm() (comm/communicator.h), semantics of runtime/reference/collectives/.
OD_CPU_OP(all_to_all, AllToAllOp)
OD_CPU_OP(all_gather, AllGatherOp)
OD_CPU_OP(send, SendOp)
OD_CPU_OP(recv, RecvOp)
// The VAE decoder's (plan.decode.program); with `halo` / `reduce` they exchange rows or statistics with the
// other members of the decode group through mem.comm().
OD_CPU_OP(conv2d, Conv2dOp)
OD_CPU_OP(group_norm, GroupNormOp)
OD_CPU_OP(upsample_nearest, UpsampleNearestOp)

#undef OD_CPU_OP

// Shared by kernels: checks that `ref` is a float buffer or weight of at least `needed` values.
void require_f32(const Memory& mem, BufRef ref, int64_t needed, const char* role);
// The same for an i32 buffer.
void require_i32(const Memory& mem, BufRef ref, int64_t needed, const char* role);

// The channel of a PipeFusion transfer: messages travelling to the `next` member of an axis's ring share one
// channel, those to the `prev` member another, so a send to next matches the receiver's recv from prev.
int transfer_channel(const Plan& plan, const std::string& axis, bool towards_next);

// Runs one op. check_op before the step loop, run_op inside it. A collective, point-to-point or ring-attention op
// on a run without a communicator (one rank) fails its check, naming the op and its axis.
void check_op(const Op& op, Memory& mem);
void run_op(const Op& op, Memory& mem);

}  // namespace od::cpu
