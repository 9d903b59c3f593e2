// check_op / run_op (cpu/ops.h): the one place that maps an op's kind to its kernel, by std::visit over Op::body,
// so a new kind in plan.h fails to compile here until it has a kernel (as runtime/reference/dispatch.ts RUNNERS
// fails to type-check). The collectives and point-to-point ops (all_to_all, all_gather, send, recv) exchange data
// with the other ranks of a mesh group through mem.comm(); their checks fail, naming the group, on a run without
// a communicator whose group has other ranks. The op is recorded in the memory (current_op) so that those kernels
// name it to the communicator. No error context here: the interpreter prefixes the op and step.
#include <string>
#include <variant>

#include "core/error.h"
#include "cpu/ops.h"

namespace od::cpu {
namespace {

// One overload per body type: `Check` picks check_<kind>, `Run` run_<kind>.
struct Check {
  const Op& op;
  Memory& mem;
  void operator()(const TimestepEmbedOp& b) const { check_timestep_embed(b, mem); }
  void operator()(const LinearOp& b) const { check_linear(b, mem); }
  void operator()(const SiluOp& b) const { check_silu(b, mem); }
  void operator()(const AddOp& b) const { check_add(b, mem); }
  void operator()(const EmbeddingOp& b) const { check_embedding(b, mem); }
  void operator()(const PatchEmbedOp& b) const { check_patch_embed(b, mem); }
  void operator()(const SinCos2dOp& b) const { check_sincos_2d(b, mem); }
  void operator()(const SinCos1dOp& b) const { check_sincos_1d(b, mem); }
  void operator()(const ConstantOp& b) const { check_constant(b, mem); }
  void operator()(const ConcatOp& b) const { check_concat(b, mem); }
  void operator()(const AddRowsOp& b) const { check_add_rows(b, mem); }
  void operator()(const ModulationOp& b) const { check_modulation(b, mem); }
  void operator()(const LayerNormModulateOp& b) const { check_layernorm_modulate(b, mem); }
  void operator()(const GateOp& b) const { check_gate(b, mem); }
  void operator()(const PermuteOp& b) const { check_permute(b, mem); }
  void operator()(const SelfAttentionOp& b) const { check_self_attention(b, mem); }
  void operator()(const CrossAttentionOp& b) const { check_cross_attention(b, mem); }
  void operator()(const UnpatchifyOp& b) const { check_unpatchify(b, mem); }
  void operator()(const GuidanceOp& b) const { check_guidance(b, mem); }
  void operator()(const SolverOp& b) const { check_solver_update(b, mem); }
  void operator()(const AllToAllOp& b) const { check_all_to_all(b, mem); }
  void operator()(const AllGatherOp& b) const { check_all_gather(b, mem); }
  void operator()(const SendOp& b) const { check_send(b, mem); }
  void operator()(const RecvOp& b) const { check_recv(b, mem); }
  void operator()(const Conv2dOp& b) const { check_conv2d(b, mem); }
  void operator()(const GroupNormOp& b) const { check_group_norm(b, mem); }
  void operator()(const UpsampleNearestOp& b) const { check_upsample_nearest(b, mem); }
};

struct Run {
  const Op& op;
  Memory& mem;
  void operator()(const TimestepEmbedOp& b) const { run_timestep_embed(b, mem); }
  void operator()(const LinearOp& b) const { run_linear(b, mem); }
  void operator()(const SiluOp& b) const { run_silu(b, mem); }
  void operator()(const AddOp& b) const { run_add(b, mem); }
  void operator()(const EmbeddingOp& b) const { run_embedding(b, mem); }
  void operator()(const PatchEmbedOp& b) const { run_patch_embed(b, mem); }
  void operator()(const SinCos2dOp& b) const { run_sincos_2d(b, mem); }
  void operator()(const SinCos1dOp& b) const { run_sincos_1d(b, mem); }
  void operator()(const ConstantOp& b) const { run_constant(b, mem); }
  void operator()(const ConcatOp& b) const { run_concat(b, mem); }
  void operator()(const AddRowsOp& b) const { run_add_rows(b, mem); }
  void operator()(const ModulationOp& b) const { run_modulation(b, mem); }
  void operator()(const LayerNormModulateOp& b) const { run_layernorm_modulate(b, mem); }
  void operator()(const GateOp& b) const { run_gate(b, mem); }
  void operator()(const PermuteOp& b) const { run_permute(b, mem); }
  void operator()(const SelfAttentionOp& b) const { run_self_attention(b, mem); }
  void operator()(const CrossAttentionOp& b) const { run_cross_attention(b, mem); }
  void operator()(const UnpatchifyOp& b) const { run_unpatchify(b, mem); }
  void operator()(const GuidanceOp& b) const { run_guidance(b, mem); }
  void operator()(const SolverOp& b) const { run_solver_update(b, mem); }
  void operator()(const AllToAllOp& b) const { run_all_to_all(b, mem); }
  void operator()(const AllGatherOp& b) const { run_all_gather(b, mem); }
  void operator()(const SendOp& b) const { run_send(b, mem); }
  void operator()(const RecvOp& b) const { run_recv(b, mem); }
  void operator()(const Conv2dOp& b) const { run_conv2d(b, mem); }
  void operator()(const GroupNormOp& b) const { run_group_norm(b, mem); }
  void operator()(const UpsampleNearestOp& b) const { run_upsample_nearest(b, mem); }
};

}  // namespace

void check_op(const Op& op, Memory& mem) {
  mem.set_current_op(&op);
  std::visit(Check{op, mem}, op.body);
}

void run_op(const Op& op, Memory& mem) {
  mem.set_current_op(&op);
  std::visit(Run{op, mem}, op.body);
}

}  // namespace od::cpu
