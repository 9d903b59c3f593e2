// send on the device, mirroring cpu/send.cpp (runtime/reference/collectives/point-to-point.ts): PipeFusion's
// transfer of x viewed as the op's 4-D dims, or only its `slice` along one dimension (row-major), to the next or
// previous member of the rank's group on the op's axis, over NCCL (cuda/nccl.h).
//
// Within a step (a stage handing its activations to the next) the message goes at once, in stream order: straight
// from x when it is contiguous, else packed into the staging area first (one copy_blocks). NCCL's point-to-point is
// blocking in stream order (a send completes once the next stage's receive runs), which cannot deadlock here: on
// the pipefusion axis stage s receives from s − 1 and sends to s + 1 band after band, the same messages in the same
// order at both ends of every link, so a blocked send waits for its successor to finish the band before, whose own
// waits lead only further down the pipeline, to the last stage, which sends nothing within the step; and stage 0's
// receives take deferred messages, which wait for no stage. The wrap-around send (the last stage's latent rows to
// stage 0, received in the next step) would close that chain into a cycle, so it is deferred: its message is
// copied into the op's own slot of the mesh and sent after the step was enqueued, on the mesh's transfer stream
// (cuda/nccl.h says why that is safe).
#include <cstdint>

#include "core/error.h"
#include "cpu/comm_support.h"
#include "cuda/block_copy.h"
#include "cuda/collective_support.h"
#include "cuda/ops.h"

namespace od::cuda {

void run_send(const SendOp& op, Context& ctx) {
  const DeviceSlot& x = ctx.buf(op.x);
  const cpu::TransferRuns runs = cpu::transfer_runs(op.dims, op.slice);
  const int64_t value = dtype_bytes(x.dtype);
  const char* first = static_cast<const char*>(x.ptr) + runs.start * value;
  OD_CHECK(ctx.nccl, "a send over the " + op.axis + " group without NCCL communicators", "a CUDA backend defect: prepare makes them");
  NcclMesh& mesh = *ctx.nccl;
  const bool wraps = nccl_wraps(mesh, op.axis, op.peer);
  void* staging = wraps ? nccl_send_slot(mesh, op) : ctx.scratch;
  const void* message = first;
  if (wraps || runs.outer > 1) {
    BlockCopy pack;
    pack.outer = 1;
    pack.inner = runs.outer;
    pack.length = runs.length * value;
    pack.src_inner = runs.stride * value;
    pack.dst_inner = runs.length * value;
    copy_blocks(first, staging, pack, ctx.stream);
    message = staging;
  }
  nccl_send(mesh, op, message, runs.values(), x.dtype, ctx.stream);
}

}  // namespace od::cuda
