// recv (compiler/plan/ops.ts RecvOp): PipeFusion's point-to-point transfer into a rank, the semantics of
// runtime/reference/collectives/point-to-point.ts deliver. It waits for the next message from its peer on its
// channel (a recv from `prev` takes what travelled towards next; cpu/send.cpp) and writes it into its view of out
// (the whole 4-D view or its slice, row-major). The transport buffers what arrives early, so every receive is in
// effect posted in advance, and a rank blocks only where the data it needs has not been sent yet.
#include <cstring>
#include <string>

#include "comm/communicator.h"
#include "core/error.h"
#include "cpu/comm_support.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_recv(const RecvOp& op, Memory& mem) { check_transfer(mem, op.axis, op.peer, op.dims, op.slice, op.out, "out"); }

void run_recv(const RecvOp& op, Memory& mem) {
  const std::vector<int>& group = mem.group(op.axis, "the " + op.axis + " group");
  const TransferRuns runs = transfer_runs(op.dims, op.slice);
  float* out = mem.f32(op.out);
  float* message = runs.outer > 1 ? static_cast<float*>(mem.staging()) : out + runs.start;
  const int peer = peer_of(group, mem.rank(), op.peer);
  // A recv from `prev` takes what travelled towards next; one from `next`, what travelled towards prev.
  mem.comm()->recv(peer, transfer_channel(mem.plan(), op.axis, op.peer == "prev"), message,
                   runs.values() * static_cast<int64_t>(sizeof(float)), comm_what(mem, op.axis, group) + " from rank " + std::to_string(peer));
  if (runs.outer > 1) {
    for (int64_t o = 0; o < runs.outer; o++)
      std::memcpy(out + o * runs.stride + runs.start, message + o * runs.length, static_cast<size_t>(runs.length) * sizeof(float));
  }
}

}  // namespace od::cpu
