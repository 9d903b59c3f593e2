// NCCL for the CUDA backend's multi-rank runs (cuda/nccl.cu; built where CMake finds nccl.h and libnccl 2.18 or
// later, which defines OPENDIT_WITH_NCCL=1). One NCCL communicator per group this rank exchanges data in, created
// once before the step loop, in the same order on every rank; the collectives (cuda/all_to_all.cu, all_gather.cu,
// send.cu, recv.cu) and ring attention (cuda/ring_attention.cu) enqueue NCCL calls on the backend's streams, so
// they are captured into the per-pattern CUDA graphs like every other op.
//
// Bootstrapping: the launcher already connected the CPU transport between the ranks (comm/communicator.h); rank 0
// of the world makes an ncclUniqueId and sends it to every other rank over it (channel kNcclBootstrapChannel,
// which no op uses), every rank joins the world communicator (non-blocking config: the wait for the peers is
// polled and bounded by the timeout), then one ncclCommSplit of it per group axis an op of the plan exchanges
// over (all_to_all, all_gather, send, recv, ring self-attention; in the axes' name order, the same on every
// rank, every rank taking part in each split: color = the first member of its group on the axis, key = its
// position in the group, NCCL_SPLIT_NOCOLOR where it is alone), so a communicator's NCCL rank is the position in
// mem.group(axis). An axis with send/recv ops gets a second communicator for the transfers that wrap around the
// ring (below).
//
// Every NCCL call is made through this file, which waits while a non-blocking call is still in progress (bounded
// by the timeout) and turns NCCL errors into od::Error naming this rank and the call.
//
// Hangs: NCCL kernels wait on their peers forever. The backend's waits (synchronize, download) go through
// nccl_wait, which polls the stream and NCCL's asynchronous errors; past the run's collective timeout, on an
// error, when the run is cancelled (nccl_watch) or after nccl_mesh_abort, it aborts every communicator
// (ncclCommAbort: the waiting kernels return) and fails naming this rank and what it was waiting for.
//
// PipeFusion's wrap-around transfers (the latent ring: the last stage's send to `next`, stage 0's recv from
// `prev`) cross a step boundary: the last stage sends band m's latent rows in step t, stage 0 receives them in
// step t + 1, after it has sent step t + 1's earlier bands on. NCCL point-to-point is blocking in stream order
// (a send completes only once its receive runs), so sending them in the last stage's stream order would deadlock
// (it waits for stage 0's next step, which waits for the last stage's next step's receives). The CPU transport
// buffers such messages; here the send is deferred instead: the op copies its message into a slot of its own
// (device memory allocated with the mesh) and records an event; once the step's work is enqueued (end of the
// step, or after its graph's launch) nccl_issue_deferred sends the slots on a stream of the mesh's own, waiting
// for those events, over the axis's second communicator (NCCL runs one communicator's operations in issue order,
// so they must not share one with the in-step transfers). Neither the step's stream nor its synchronisation
// waits for these sends; stage 0's receive of step t + 1 completes them. A slot is rewritten one step later,
// after the last stage has received band m's activations of that step, which stage 0 computed only after its
// receive of the slot's previous message completed, so a slot is never overwritten before it was read.
//
// This header needs neither nccl.h nor a build with NCCL: communicators travel as void* (ncclComm_t), and without
// NCCL nccl_mesh_create fails with nccl_reason().
#pragma once
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "plan/plan.h"

namespace od {
class Communicator;
class Memory;
}  // namespace od

namespace od::cuda {

// The CPU transport's channel of the bootstrap (the ncclUniqueId): 0 is the collectives', 1..14 PipeFusion's,
// -1 the barrier's.
constexpr int kNcclBootstrapChannel = -2;

// Whether this build has NCCL, and the configure summary's words for it ("NCCL 2.27.7, /usr/lib/.../libnccl.so",
// or why not).
bool nccl_built();
const char* nccl_reason();

class NcclMesh;

// Whether the plan exchanges data between ranks at all (a collective, transfer or ring attention op over any
// group, on any stage): every rank of such a plan creates the mesh, since the splits are collective.
bool plan_exchanges(const Plan& plan);

// The communicators of this rank (global rank mem.rank() of plan.mesh.world) on `device`, bootstrapped over
// `boot`. Only axes whose group holding this rank has more than one member get a communicator. `timeout_ms`
// bounds the initialisation and is the default of nccl_wait; `cancel` (the run's flag, may be null) stops the
// waits (as nccl_watch). Also allocates the wrap-around sends' slots.
NcclMesh* nccl_mesh_create(Communicator& boot, const Memory& mem, int device, int64_t timeout_ms,
                           const std::atomic<bool>* cancel = nullptr);
void nccl_mesh_destroy(NcclMesh* mesh);  // null-safe; finalises (or aborts, after an abort) every communicator

// The communicator (ncclComm_t) of this rank's group on `axis` (a key of plan.mesh.groups: a mesh axis or
// "sequence"), whose NCCL ranks are the positions in mem.group(axis); fails naming the axis when the group has one
// member or the axis has no communicator.
void* nccl_comm(const NcclMesh& mesh, const std::string& axis);
// This rank's position in its group on `axis`, and the group's size (0 and 1 where it is alone).
int nccl_position(const NcclMesh& mesh, const std::string& axis);
int nccl_group_size(const NcclMesh& mesh, const std::string& axis);

// After an NCCL call on `comm` made outside this file (ring attention): `result` (an ncclResult_t) is success, or
// in progress (waited for, bounded by the timeout), or an error (od::Error naming this rank and `what`).
void nccl_settle(NcclMesh& mesh, void* comm, int result, const char* what);

// ---- NCCL work on `stream`, counts in values of `dtype` (the buffers' storage dtype: f32, bf16, f16 or i32) ----

// All-gather over the axis's group: member j's `count` values of `send` land at recv + j·count.
void nccl_all_gather(NcclMesh& mesh, const std::string& axis, const void* send, void* recv, int64_t count, DType dtype,
                     cudaStream_t stream);
// All-to-all: part j of `send` (count_per_part values) goes to member j, member j's part lands at part j of
// `recv` (this rank's own part included); one grouped call.
void nccl_all_to_all(NcclMesh& mesh, const std::string& axis, const void* send, void* recv, int64_t count_per_part,
                     DType dtype, cudaStream_t stream);
// One ring step: `send` to the next member, the previous member's message into `recv` (grouped).
void nccl_ring_shift(NcclMesh& mesh, const std::string& axis, const void* send, void* recv, int64_t count, DType dtype,
                     cudaStream_t stream);

// Whether a transfer of `op` to or from `peer` ("next" | "prev") wraps around its axis's ring (the last member to
// the first, or back).
bool nccl_wraps(const NcclMesh& mesh, const std::string& axis, const std::string& peer);
// A send op's message: to its peer now, or, for a wrap-around send, deferred (above): `data` must then be the
// op's slot (nccl_send_slot), filled on `stream` before this call.
void nccl_send(NcclMesh& mesh, const SendOp& op, const void* data, int64_t count, DType dtype, cudaStream_t stream);
void* nccl_send_slot(NcclMesh& mesh, const SendOp& op);
// A recv op's message, into `data` (on the axis's second communicator when it wraps).
void nccl_recv(NcclMesh& mesh, const RecvOp& op, void* data, int64_t count, DType dtype, cudaStream_t stream);

// The deferred sends recorded since the last call: issued now on the mesh's transfer stream, in order (appended to
// *keep, when given, for a graph to reissue after each replay). nccl_reissue sends those of a replayed graph;
// nccl_drop_deferred forgets the recorded ones (a capture given up: its ops run again).
void nccl_issue_deferred(NcclMesh& mesh, std::vector<const SendOp*>* keep);
void nccl_reissue(NcclMesh& mesh, const std::vector<const SendOp*>& sends);
void nccl_drop_deferred(NcclMesh& mesh);

// The run's cancel flag (null: none): nccl_wait and the in-progress waits stop, aborting, when it is set.
void nccl_watch(NcclMesh& mesh, const std::atomic<bool>* cancel);

// Waits until everything enqueued on `stream` has run, polling every ~50 µs; fails (od::Error, after aborting
// every communicator) when `timeout_ms` passes first (0: the mesh's timeout), when NCCL reports an asynchronous
// error, when the run is cancelled, or after nccl_mesh_abort. `what` names the wait ("the step's ops", "the outputs").
void nccl_wait(NcclMesh& mesh, cudaStream_t stream, int64_t timeout_ms, const std::string& what);
// Aborts every communicator now (a peer failed, the run was cancelled): blocked NCCL work returns, later waits
// fail with `reason`.
void nccl_mesh_abort(NcclMesh& mesh, const std::string& reason);
// Whether the mesh was aborted.
bool nccl_aborted(const NcclMesh& mesh);

}  // namespace od::cuda
