// send (compiler/plan/ops.ts SendOp): PipeFusion's point-to-point transfer out of a rank, the semantics of
// runtime/reference/collectives/point-to-point.ts messageOf / peerOf. The message is x viewed as the op's 4-D dims,
// or only its `slice` along one dimension, in row-major order (cpu/comm_support.h TransferRuns). The peer is the
// next or previous member of the rank's group on the op's axis, in ring order; a send to `next` travels on the
// axis's "towards next" channel (transfer_channel), where the next member's recv from `prev` takes it, so the two
// directions between two stages never mix. A send returns once the communicator has copied the message: a
// contiguous view goes straight from x, a strided slice is packed into the staging area first.
#include <cstring>
#include <string>

#include "comm/communicator.h"
#include "core/error.h"
#include "cpu/comm_support.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_send(const SendOp& op, Memory& mem) { check_transfer(mem, op.axis, op.peer, op.dims, op.slice, op.x, "x"); }

void run_send(const SendOp& op, Memory& mem) {
  const std::vector<int>& group = mem.group(op.axis, "the " + op.axis + " group");
  const TransferRuns runs = transfer_runs(op.dims, op.slice);
  const float* x = mem.f32(op.x);
  const float* message = x + runs.start;
  if (runs.outer > 1) {
    float* packed = static_cast<float*>(mem.staging());
    for (int64_t o = 0; o < runs.outer; o++)
      std::memcpy(packed + o * runs.length, x + o * runs.stride + runs.start, static_cast<size_t>(runs.length) * sizeof(float));
    message = packed;
  }
  const int peer = peer_of(group, mem.rank(), op.peer);
  mem.comm()->send(peer, transfer_channel(mem.plan(), op.axis, op.peer == "next"), message,
                   runs.values() * static_cast<int64_t>(sizeof(float)), comm_what(mem, op.axis, group) + " to rank " + std::to_string(peer));
}

}  // namespace od::cpu
