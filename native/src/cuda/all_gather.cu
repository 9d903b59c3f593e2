// all_gather on the device, mirroring cpu/all_gather.cpp (runtime/reference/collectives/all-gather.ts) over NCCL:
// out, viewed as dims with d[dim]·R, is the members' views of x concatenated along `dim` in group order.
//
// ncclAllGather gathers the members' whole views member-major into the staging area, then one copy_blocks
// interleaves them into out (for each of the `outer` runs of inner = d[dim]·(dims after dim) values: member 0's
// run, member 1's, ...). Where dim is the outermost non-trivial dimension (outer = 1) the member-major layout is
// out's, and the views are gathered into out directly unless out overlaps x. Everything is read before out is
// written (stream order), so out may alias x. Values move in their storage dtype (exact). A group of one rank copies.
#include <cstdint>

#include "cuda/block_copy.h"
#include "cuda/collective_support.h"
#include "cuda/ops.h"

namespace od::cuda {

void run_all_gather(const AllGatherOp& op, Context& ctx) {
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& out = ctx.buf(op.out);
  const int64_t count = op.dims[0] * op.dims[1] * op.dims[2] * op.dims[3];
  const int64_t value = dtype_bytes(x.dtype);
  const int64_t bytes = count * value;
  const int64_t R = group_size(ctx, op.axis);
  if (R == 1) {
    local_copy(x.ptr, out.ptr, bytes, ctx);
    return;
  }
  if (count == 0) return;
  int64_t inner = 1;
  for (int64_t a = op.dim; a < 4; a++) inner *= op.dims[static_cast<size_t>(a)];
  const int64_t outer = count / inner;
  if (outer == 1 && !overlaps(x.ptr, bytes, out.ptr, R * bytes)) {
    nccl_all_gather(*ctx.nccl, op.axis, x.ptr, out.ptr, count, x.dtype, ctx.stream);
    return;
  }
  nccl_all_gather(*ctx.nccl, op.axis, x.ptr, ctx.scratch, count, x.dtype, ctx.stream);
  BlockCopy interleave;
  interleave.outer = R;
  interleave.inner = outer;
  interleave.length = inner * value;
  interleave.src_outer = count * value;
  interleave.src_inner = inner * value;
  interleave.dst_outer = inner * value;
  interleave.dst_inner = R * inner * value;
  copy_blocks(ctx.scratch, out.ptr, interleave, ctx.stream);
}

}  // namespace od::cuda
