// all_to_all on the device, mirroring cpu/all_to_all.cpp (runtime/reference/collectives/all-to-all.ts) over NCCL:
// x viewed as dims [d0, d1, d2, d3] splits along `scatter` into R parts (part j to member j); out, viewed as dims
// with d[scatter]/R and d[gather]·R, holds member j's part at gather indices [j·d[gather], (j + 1)·d[gather]).
//
// The parts are packed into the staging area (one copy_blocks: R × A runs of d[scatter]/R · I values), exchanged
// by one grouped NCCL call (a send and a receive per member, this rank's own part included), and unpacked into
// out (one copy_blocks: R × B runs of d[gather] · J values). Where scatter leaves the parts contiguous in x (A = 1)
// and x does not overlap out, they are sent from x; where the received parts are already out's layout (B = 1),
// they land in out directly. Everything is read before out is written (stream order), so out may alias x. Values
// move in their storage dtype (exact). A group of one rank copies x to out.
#include <cstdint>

#include "cuda/block_copy.h"
#include "cuda/collective_support.h"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

int64_t product(const Dims4& d, int64_t from, int64_t to) {
  int64_t n = 1;
  for (int64_t a = from; a < to; a++) n *= d[static_cast<size_t>(a)];
  return n;
}

}  // namespace

void run_all_to_all(const AllToAllOp& op, Context& ctx) {
  const DeviceSlot& x = ctx.buf(op.x);
  const DeviceSlot& out = ctx.buf(op.out);
  const int64_t count = product(op.dims, 0, 4);
  const int64_t value = dtype_bytes(x.dtype);
  const int64_t bytes = count * value;
  const int64_t R = group_size(ctx, op.axis);
  if (R == 1) {
    local_copy(x.ptr, out.ptr, bytes, ctx);
    return;
  }
  if (count == 0) return;
  const int64_t part = count / R;
  char* sent = static_cast<char*>(ctx.scratch);
  char* received = sent + staging_round(bytes);

  // Pack: part i is x at scatter indices [i·sp, (i + 1)·sp), row-major.
  const size_t sc = static_cast<size_t>(op.scatter);
  const int64_t A = product(op.dims, 0, op.scatter), S = op.dims[sc], sp = S / R, I = product(op.dims, op.scatter + 1, 4);
  const void* send = x.ptr;
  if (A != 1 || overlaps(x.ptr, bytes, out.ptr, bytes)) {
    BlockCopy pack;
    pack.outer = R;
    pack.inner = A;
    pack.length = sp * I * value;
    pack.src_outer = sp * I * value;
    pack.src_inner = S * I * value;
    pack.dst_outer = part * value;
    pack.dst_inner = sp * I * value;
    copy_blocks(x.ptr, sent, pack, ctx.stream);
    send = sent;
  }

  // Member j's part (dims with d[scatter]/R) goes to gather indices [j·Gd, (j + 1)·Gd) of out.
  Dims4 dims = op.dims;
  dims[sc] = sp;
  const int64_t B = product(dims, 0, op.gather), Gd = dims[static_cast<size_t>(op.gather)], J = product(dims, op.gather + 1, 4);
  void* recv = B == 1 ? out.ptr : static_cast<void*>(received);
  nccl_all_to_all(*ctx.nccl, op.axis, send, recv, part, x.dtype, ctx.stream);
  if (B == 1) return;
  BlockCopy unpack;
  unpack.outer = R;
  unpack.inner = B;
  unpack.length = Gd * J * value;
  unpack.src_outer = part * value;
  unpack.src_inner = Gd * J * value;
  unpack.dst_outer = Gd * J * value;
  unpack.dst_inner = Gd * R * J * value;
  copy_blocks(received, out.ptr, unpack, ctx.stream);
}

}  // namespace od::cuda
