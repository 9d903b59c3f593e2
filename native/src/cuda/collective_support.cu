// The pieces the CUDA collectives share (cuda/collective_support.h) and collective_scratch_bytes (cuda/ops.h): the
// staging each op needs, in bytes of its storage dtype —
//   all_to_all  the packed parts and the received parts, each 256-byte aligned (2 × the view); a group of one rank
//               the view (a copy between overlapping x and out goes through it)
//   all_gather  the members' gathered views (R × the view), or the view for a group of one rank
//   send, recv  a strided slice's packed message (a whole view or a contiguous slice moves in place; a wrap-around
//               send's message lives in its slot of the NCCL mesh instead, cuda/nccl.h)
#include "cuda/collective_support.h"

#include <algorithm>
#include <variant>

#include "core/error.h"
#include "cpu/comm_support.h"
#include "cuda/check.h"

namespace od::cuda {
namespace {

const PlanBuffer& plan_buffer(const Memory& host, BufRef ref) {
  const Plan& plan = host.plan();
  const std::string& name = plan.name_of(ref);
  for (const PlanBuffer& b : plan.buffers)
    if (b.name == name) return b;
  OD_FAIL("`" + name + "` is not a plan buffer: a collective moves activations, not weights", "recompile the plan");
}

int64_t view_values(const Dims4& d) { return d[0] * d[1] * d[2] * d[3]; }

int64_t members(const Memory& host, const std::string& axis) {
  return static_cast<int64_t>(host.group(axis, "the " + axis + " group").size());
}

}  // namespace

int group_size(const Context& ctx, const std::string& axis) { return ctx.nccl ? nccl_group_size(*ctx.nccl, axis) : 1; }

bool overlaps(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes) {
  const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return a_bytes > 0 && b_bytes > 0 && pa < pb + static_cast<uintptr_t>(b_bytes) && pb < pa + static_cast<uintptr_t>(a_bytes);
}

void local_copy(const void* x, void* out, int64_t bytes, Context& ctx) {
  if (x == out || bytes <= 0) return;
  if (!overlaps(x, bytes, out, bytes)) {
    OD_CUDA_CHECK(cudaMemcpyAsync(out, x, static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice, ctx.stream));
    return;
  }
  OD_CHECK(ctx.scratch && static_cast<int64_t>(ctx.scratch_bytes) >= bytes, "the copy's staging was not allocated",
           "a CUDA backend defect: collective_scratch_bytes declares it");
  OD_CUDA_CHECK(cudaMemcpyAsync(ctx.scratch, x, static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice, ctx.stream));
  OD_CUDA_CHECK(cudaMemcpyAsync(out, ctx.scratch, static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice, ctx.stream));
}

int64_t exchange_value_bytes(const Memory& host, BufRef x, BufRef out) {
  const PlanBuffer& a = plan_buffer(host, x);
  const PlanBuffer& b = plan_buffer(host, out);
  OD_CHECK(a.dtype == b.dtype,
           "`" + a.name + "` is " + dtype_name(a.dtype) + " but `" + b.name + "` is " + dtype_name(b.dtype) +
               ": the CUDA collectives move values as they are stored",
           "recompile the plan");
  return dtype_bytes(a.dtype);
}

size_t collective_scratch_bytes(const Op& op, const Memory& host) {
  if (const auto* a = std::get_if<AllToAllOp>(&op.body)) {
    const int64_t bytes = view_values(a->dims) * dtype_bytes(plan_buffer(host, a->x).dtype);
    return static_cast<size_t>(members(host, a->axis) > 1 ? 2 * staging_round(bytes) : bytes);
  }
  if (const auto* g = std::get_if<AllGatherOp>(&op.body)) {
    const int64_t bytes = view_values(g->dims) * dtype_bytes(plan_buffer(host, g->x).dtype);
    return static_cast<size_t>(std::max<int64_t>(1, members(host, g->axis)) * bytes);
  }
  if (const auto* s = std::get_if<SendOp>(&op.body)) {
    const cpu::TransferRuns runs = cpu::transfer_runs(s->dims, s->slice);
    return runs.outer > 1 ? static_cast<size_t>(runs.values() * dtype_bytes(plan_buffer(host, s->x).dtype)) : 0;
  }
  if (const auto* r = std::get_if<RecvOp>(&op.body)) {
    const cpu::TransferRuns runs = cpu::transfer_runs(r->dims, r->slice);
    return runs.outer > 1 ? static_cast<size_t>(runs.values() * dtype_bytes(plan_buffer(host, r->out).dtype)) : 0;
  }
  return 0;
}

}  // namespace od::cuda
