// `group_norm` on the device (compiler/plan/ops.ts GroupNormOp; cpu/group_norm.cpp is the reference): the op's
// launcher over cuda/group_norm_kernel.cu (cuda/decode_kernels.h). With `reduce` (patch-parallel decode: each member
// of the group holds a band of the image's rows), the statistics cover the whole image: each member's (sum, sum of
// squares, count) triples per (frame, group), doubles in scratch, are summed over the group by one in-place
// ncclAllReduce on the stream between the statistics and the normalisation, so every member normalises its band
// with the whole frame's mean and variance. The sums are double, in NCCL's order rather than the CPU's global row
// order, so the result matches whole-frame decode within rounding of the doubles, far below the storage dtype's.
#include <cstdint>
#include <string>

#if OPENDIT_WITH_NCCL
#include <nccl.h>
#endif

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/decode_kernels.h"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

GroupNormArgs sizes_of(const GroupNormOp& op) {
  GroupNormArgs a;
  a.frames = op.frames;
  a.height = op.height;
  a.width = op.width;
  a.channels = op.channels;
  a.groups = op.groups;
  a.eps = op.eps;
  a.silu = op.silu;
  return a;
}

// The triples of this band summed over the `reduce` group, in place.
void sum_over_group(const GroupNormOp& op, double* totals, Context& ctx, const std::string& where) {
  const std::string& axis = op.reduce->axis;
  const int members = static_cast<int>(ctx.host->group(axis, where).size());
  if (members <= 1) return;
  OD_CHECK(ctx.nccl, where + ": its statistics are summed over the " + std::to_string(members) + " members of the `" + axis +
                         "` group, and this run has no NCCL communicators",
           nccl_built() ? "a CUDA backend defect: multi-rank CUDA runs create their communicators at prepare"
                        : std::string("this build has no NCCL (") + nccl_reason() + "): decode with split whole or tiled, or run with --backend cpu");
#if OPENDIT_WITH_NCCL
  const size_t count = static_cast<size_t>(op.frames * op.groups * 3);
  void* comm = nccl_comm(*ctx.nccl, axis);
  // Non-blocking communicators (cuda/nccl.cu): nccl_settle waits out ncclInProgress, bounded by the run's timeout.
  nccl_settle(*ctx.nccl, comm, ncclAllReduce(totals, totals, count, ncclDouble, ncclSum, static_cast<ncclComm_t>(comm), ctx.stream),
              "ncclAllReduce of the group statistics");
#else
  (void)totals;
  OD_FAIL(where + ": the group statistics need NCCL, which this build does not have", nccl_reason());
#endif
}

}  // namespace

size_t group_norm_scratch_bytes(const GroupNormOp& op, const Memory&) { return group_norm_layout(sizes_of(op)).bytes; }

void run_group_norm(const GroupNormOp& op, Context& ctx) {
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& w = ctx.buf(op.weight);
  const DeviceSlot& b = ctx.buf(op.bias);
  const DeviceSlot& out = ctx.buf(op.out);
  GroupNormArgs a = sizes_of(op);
  a.x = x.ptr;
  a.x_dtype = x.dtype;
  a.weight = w.ptr;
  a.weight_dtype = w.dtype;
  a.bias = b.ptr;
  a.bias_dtype = b.dtype;
  a.out = out.ptr;
  a.out_dtype = out.dtype;
  const std::string& where = ctx.host->name(op.out);
  const size_t need = group_norm_layout(a).bytes;
  OD_CHECK(ctx.scratch && ctx.scratch_bytes >= need,
           "group_norm into `" + where + "` needs " + std::to_string(need) + " bytes of scratch, the backend holds " +
               std::to_string(ctx.scratch_bytes),
           "a CUDA backend defect: check_op must declare group_norm_scratch_bytes");
  double* totals = group_norm_statistics(a, ctx.scratch, ctx.stream);
  if (op.reduce) sum_over_group(op, totals, ctx, where);
  group_norm_apply(a, ctx.scratch, ctx.stream);
}

}  // namespace od::cuda
