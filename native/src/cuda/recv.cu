// recv on the device, mirroring cpu/recv.cpp (runtime/reference/collectives/point-to-point.ts deliver): the next
// message from the op's peer (a recv from `prev` takes what its predecessor sent to `next`) into its view of out,
// the whole 4-D view or its slice, over NCCL (cuda/nccl.h). A contiguous view or slice receives in place; a strided
// slice (the latent rows of a band) is received into the staging area and unpacked by one copy_blocks. The
// wrap-around receive (stage 0's latent rows from the last stage) uses the axis's second communicator, which the
// last stage's deferred sends use (cuda/send.cu).
#include <cstdint>

#include "core/error.h"
#include "cpu/comm_support.h"
#include "cuda/block_copy.h"
#include "cuda/collective_support.h"
#include "cuda/ops.h"

namespace od::cuda {

void run_recv(const RecvOp& op, Context& ctx) {
  const DeviceSlot& out = ctx.buf(op.out);
  const cpu::TransferRuns runs = cpu::transfer_runs(op.dims, op.slice);
  const int64_t value = dtype_bytes(out.dtype);
  char* first = static_cast<char*>(out.ptr) + runs.start * value;
  OD_CHECK(ctx.nccl, "a receive over the " + op.axis + " group without NCCL communicators", "a CUDA backend defect: prepare makes them");
  if (runs.outer <= 1) {
    nccl_recv(*ctx.nccl, op, first, runs.values(), out.dtype, ctx.stream);
    return;
  }
  nccl_recv(*ctx.nccl, op, ctx.scratch, runs.values(), out.dtype, ctx.stream);
  BlockCopy unpack;
  unpack.outer = 1;
  unpack.inner = runs.outer;
  unpack.length = runs.length * value;
  unpack.src_inner = runs.length * value;
  unpack.dst_inner = runs.stride * value;
  copy_blocks(ctx.scratch, first, unpack, ctx.stream);
}

}  // namespace od::cuda
