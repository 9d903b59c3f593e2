// NCCL for multi-rank CUDA runs (cuda/nccl.h): the bootstrap over the CPU transport, the world communicator and one
// split per group axis the plan exchanges over, every NCCL call of the backend (non-blocking communicators: a call
// that returns ncclInProgress is waited for, bounded by the run's timeout), PipeFusion's deferred wrap-around
// sends, and the polled waits that abort every communicator instead of hanging. Built without NCCL
// (OPENDIT_WITH_NCCL unset), mesh creation fails naming the configure step's reason.
#include "cuda/nccl.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "build_info.h"
#include "comm/communicator.h"
#include "core/error.h"
#include "cpu/comm_support.h"
#include "cuda/check.h"
#include "runtime/memory.h"

#if OPENDIT_WITH_NCCL
#include <nccl.h>
#endif

namespace od::cuda {

const char* nccl_reason() { return OPENDIT_NCCL_REASON; }

namespace {

// The axes the plan's ops exchange over (every program, every stage: the same set on every rank), and those with
// point-to-point transfers.
void exchange_axes(const Plan& plan, std::set<std::string>& axes, std::set<std::string>& transfer_axes) {
  for (const std::vector<Op>* program : {&plan.setup, &plan.step})
    for (const Op& op : *program) {
      if (const auto* a = std::get_if<AllToAllOp>(&op.body)) axes.insert(a->axis);
      if (const auto* g = std::get_if<AllGatherOp>(&op.body)) axes.insert(g->axis);
      if (const auto* s = std::get_if<SendOp>(&op.body)) transfer_axes.insert(s->axis);
      if (const auto* r = std::get_if<RecvOp>(&op.body)) transfer_axes.insert(r->axis);
      if (const auto* attention = std::get_if<SelfAttentionOp>(&op.body); attention && attention->ring) axes.insert(*attention->ring);
      if (const auto* conv = std::get_if<Conv2dOp>(&op.body); conv && conv->halo) axes.insert(conv->halo->axis);
      if (const auto* norm = std::get_if<GroupNormOp>(&op.body); norm && norm->reduce) axes.insert(norm->reduce->axis);
    }
  axes.insert(transfer_axes.begin(), transfer_axes.end());
}

}  // namespace

bool plan_exchanges(const Plan& plan) {
  std::set<std::string> axes, transfer_axes;
  exchange_axes(plan, axes, transfer_axes);
  return !axes.empty();
}

#if OPENDIT_WITH_NCCL

bool nccl_built() { return true; }

namespace {

using Clock = std::chrono::steady_clock;

const char* kTimeoutHint =
    "if the work is only slow, raise the limit with --collective-timeout (OPENDIT_COLLECTIVE_TIMEOUT, the run request's "
    "transport.timeoutMs); otherwise the other ranks' logs say which stopped first (NCCL_DEBUG=WARN adds NCCL's own)";

std::string seconds_text(int64_t ms) {
  std::ostringstream out;
  if (ms % 1000 == 0)
    out << ms / 1000 << " s";
  else
    out << static_cast<double>(ms) / 1000.0 << " s";
  return out.str();
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::BF16: return ncclBfloat16;
    case DType::F16: return ncclFloat16;
    case DType::I32: return ncclInt32;
    case DType::F32: break;
  }
  return ncclFloat32;
}

// The communicators of one group axis.
struct AxisComms {
  ncclComm_t comm = nullptr;  // this rank's group (null: alone on the axis)
  ncclComm_t wrap = nullptr;  // the same group again, for the wrap-around transfers (axes with send/recv ops)
  int position = 0, size = 1;
};

// A wrap-around send op of this rank: its slot, the event its message is complete at, and where it goes.
struct DeferredSend {
  const SendOp* op = nullptr;
  void* slot = nullptr;
  int64_t count = 0;
  DType dtype = DType::F32;
  cudaEvent_t packed = nullptr;
  ncclComm_t comm = nullptr;
  int peer = 0;  // position in the group
};

}  // namespace

class NcclMesh {
 public:
  int rank = 0, world = 1;
  int64_t timeout_ms = 0;
  ncclComm_t world_comm = nullptr;
  std::map<std::string, AxisComms> axes;
  std::vector<ncclComm_t> comms;  // every communicator, in creation order (the world first)
  std::vector<DeferredSend> deferred;
  std::vector<size_t> pending;  // the deferred sends the current step recorded (indices), in order
  cudaStream_t transfers = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  bool aborted = false;
  std::string abort_reason;

  std::string me() const { return "rank " + std::to_string(rank); }

  // Aborts every communicator (null-safe, once): blocked NCCL kernels return.
  void abort_all(const std::string& reason) {
    if (aborted) return;
    aborted = true;
    abort_reason = reason;
    for (auto it = comms.rbegin(); it != comms.rend(); ++it)
      if (*it) ncclCommAbort(*it);
    comms.clear();
    world_comm = nullptr;
    for (auto& [axis, a] : axes) a.comm = a.wrap = nullptr;
    for (DeferredSend& d : deferred) d.comm = nullptr;
  }

  [[noreturn]] void fail_aborting(const std::string& what, const std::string& hint) {
    abort_all(what);
    OD_FAIL(what, hint);
  }

  void check_usable(const char* call) const {
    OD_CHECK(!aborted, me() + ": " + call + " after the run's NCCL communicators were aborted (" + abort_reason + ")", "");
  }

  // Waits while any of `list` is still working on a non-blocking call; fails (aborting) on an error, the
  // deadline or a cancel.
  void settle(const std::vector<ncclComm_t>& list, const std::string& what, Clock::time_point deadline) {
    for (int polls = 0;; polls++) {
      bool busy = false;
      for (ncclComm_t c : list) {
        if (!c) continue;
        ncclResult_t state = ncclSuccess;
        const ncclResult_t r = ncclCommGetAsyncError(c, &state);
        if (r != ncclSuccess) state = r;
        if (state == ncclInProgress) {
          busy = true;
        } else if (state != ncclSuccess) {
          const std::string last = ncclGetLastError(c);
          fail_aborting(me() + ": NCCL failed in " + what + ": " + ncclGetErrorString(state) + (last.empty() ? "" : " (" + last + ")"),
                        "NCCL_DEBUG=WARN shows NCCL's own log; a peer that stopped shows as a remote or system error");
        }
      }
      if (!busy) return;
      if (cancel && cancel->load(std::memory_order_relaxed)) fail_aborting(me() + ": cancelled during " + what, "");
      if (Clock::now() > deadline)
        fail_aborting(me() + ": timed out after " + seconds_text(timeout_ms) + " in " + what +
                          " (NCCL never finished: a peer may not have reached it, or stopped)",
                      kTimeoutHint);
      std::this_thread::sleep_for(std::chrono::microseconds(polls < 100 ? 20 : 1000));
    }
  }

  // After a call on `comm` that returned `r` (no allocation unless it is still in progress or failed).
  void check(ncclComm_t comm, ncclResult_t r, const char* what) {
    if (r == ncclSuccess) return;
    if (r == ncclInProgress) {
      settle({comm}, what, Clock::now() + std::chrono::milliseconds(timeout_ms));
      return;
    }
    const std::string last = comm ? ncclGetLastError(comm) : "";
    OD_FAIL(me() + ": NCCL " + what + " failed: " + ncclGetErrorString(r) + (last.empty() ? "" : " (" + last + ")"),
            "NCCL_DEBUG=WARN shows NCCL's own log");
  }
  void check(ncclComm_t comm, ncclResult_t r, const std::string& what) { check(comm, r, what.c_str()); }

  AxisComms& axis(const std::string& name) {
    const auto it = axes.find(name);
    OD_CHECK(it != axes.end(), me() + ": no NCCL communicator was made for the " + name + " group",
             "a CUDA backend defect: the mesh makes one for every axis an op exchanges over");
    return it->second;
  }
  const AxisComms& axis(const std::string& name) const { return const_cast<NcclMesh*>(this)->axis(name); }

  ncclComm_t comm_of(const std::string& name) {
    check_usable("an NCCL call");
    AxisComms& a = axis(name);
    OD_CHECK(a.comm, me() + " is alone in its " + name + " group: there is nothing to exchange over NCCL",
             "a CUDA backend defect: a group of one rank is a local copy");
    return a.comm;
  }

  void release_deferred() {
    for (DeferredSend& d : deferred) {
      if (d.packed) cudaEventDestroy(d.packed);
      if (d.slot) cudaFree(d.slot);
    }
    deferred.clear();
    if (transfers) cudaStreamDestroy(transfers);
    transfers = nullptr;
  }
};

namespace {

int peer_position(const AxisComms& a, const std::string& peer) {
  return peer == "next" ? (a.position + 1) % a.size : (a.position + a.size - 1) % a.size;
}

bool wraps(const AxisComms& a, const std::string& peer) {
  return a.size > 1 && ((peer == "next" && a.position == a.size - 1) || (peer == "prev" && a.position == 0));
}

const PlanBuffer* plan_buffer(const Plan& plan, BufRef ref) {
  const std::string& name = plan.name_of(ref);
  for (const PlanBuffer& b : plan.buffers)
    if (b.name == name) return &b;
  return nullptr;
}

}  // namespace

NcclMesh* nccl_mesh_create(Communicator& boot, const Memory& mem, int device, int64_t timeout_ms, const std::atomic<bool>* cancel) {
  const Plan& plan = mem.plan();
  auto mesh = std::make_unique<NcclMesh>();
  NcclMesh& m = *mesh;
  m.cancel = cancel;
  m.rank = mem.rank();
  m.world = plan.mesh.world;
  m.timeout_ms = timeout_ms > 0 ? timeout_ms : 60000;
  OD_CHECK(boot.rank() == m.rank && boot.world() == m.world,
           "the transport is rank " + std::to_string(boot.rank()) + " of " + std::to_string(boot.world()) + ", but NCCL is set up for rank " +
               std::to_string(m.rank) + " of " + std::to_string(m.world),
           "a runtime defect");

  // This rank's group on every axis first, so a plan defect fails before any rank waits in NCCL.
  std::set<std::string> axes, transfer_axes;
  exchange_axes(plan, axes, transfer_axes);
  std::map<std::string, std::vector<int>> groups;
  for (const std::string& axis : axes) groups[axis] = mem.group(axis, "NCCL's " + axis + " communicator");

  OD_CUDA_CHECK(cudaSetDevice(device));
  try {
    ncclUniqueId id{};
    if (m.rank == 0) {
      m.check(nullptr, ncclGetUniqueId(&id), "ncclGetUniqueId");
      for (int r = 1; r < m.world; r++) boot.send(r, kNcclBootstrapChannel, &id, sizeof id, "the NCCL bootstrap (rank 0's ncclUniqueId)");
    } else {
      boot.recv(0, kNcclBootstrapChannel, &id, sizeof id, "the NCCL bootstrap (rank 0's ncclUniqueId)");
    }
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(m.timeout_ms);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // every call returns at once; the waits below are polled and bounded
    ncclResult_t r = ncclCommInitRankConfig(&m.world_comm, m.world, id, m.rank, &config);
    if (m.world_comm) m.comms.push_back(m.world_comm);
    if (r != ncclSuccess && r != ncclInProgress) m.check(m.world_comm, r, "ncclCommInitRankConfig (the world communicator)");
    m.settle({m.world_comm}, "joining the NCCL world communicator of " + std::to_string(m.world) + " ranks", deadline);

    // One split per axis (and a second for transfer axes), in the set's order on every rank: collective over the
    // world, so a rank alone on the axis takes part with NCCL_SPLIT_NOCOLOR.
    auto split = [&](const std::string& axis, const std::vector<int>& group, ncclComm_t* out, const char* role) {
      const int position = static_cast<int>(std::find(group.begin(), group.end(), m.rank) - group.begin());
      const int color = group.size() > 1 ? group.front() : NCCL_SPLIT_NOCOLOR;
      ncclComm_t child = nullptr;
      const std::string what = std::string("ncclCommSplit (the ") + axis + " group " + cpu::group_text(group) + role + ")";
      const ncclResult_t s = ncclCommSplit(m.world_comm, color, position, &child, &config);
      if (child) m.comms.push_back(child);
      if (s != ncclSuccess && s != ncclInProgress) m.check(m.world_comm, s, what);
      m.settle({m.world_comm, child}, what, Clock::now() + std::chrono::milliseconds(m.timeout_ms));
      if (group.size() > 1) {
        OD_CHECK(child, m.me() + ": " + what + " made no communicator", "");
        int count = 0, user_rank = -1;
        m.check(child, ncclCommCount(child, &count), "ncclCommCount");
        m.check(child, ncclCommUserRank(child, &user_rank), "ncclCommUserRank");
        OD_CHECK(count == static_cast<int>(group.size()) && user_rank == position,
                 m.me() + ": " + what + " made a communicator of " + std::to_string(count) + " ranks with this rank at " +
                     std::to_string(user_rank) + ", not " + std::to_string(group.size()) + " with it at " + std::to_string(position),
                 "a CUDA backend defect");
      }
      *out = child;
    };
    for (const std::string& axis : axes) {
      const std::vector<int>& group = groups[axis];
      AxisComms& a = m.axes[axis];
      a.size = static_cast<int>(group.size());
      a.position = static_cast<int>(std::find(group.begin(), group.end(), m.rank) - group.begin());
      split(axis, group, &a.comm, "");
      if (transfer_axes.count(axis)) split(axis, group, &a.wrap, ", wrap-around transfers");
    }

    // The wrap-around sends of this rank's stage: a slot and an event each, and the stream they are sent on.
    const int64_t stage = mem.stage();
    for (const Op& op : plan.step) {
      const auto* send = std::get_if<SendOp>(&op.body);
      if (!send || (op.stage && *op.stage != stage)) continue;
      const AxisComms& a = m.axis(send->axis);
      if (!wraps(a, send->peer)) continue;
      const PlanBuffer* x = plan_buffer(plan, send->x);
      OD_CHECK(x, describe_op(op) + " sends `" + plan.name_of(send->x) + "`, which is not a plan buffer", "recompile the plan");
      DeferredSend d;
      d.op = send;
      d.count = cpu::transfer_runs(send->dims, send->slice).values();
      d.dtype = x->dtype;
      d.comm = a.wrap;
      d.peer = peer_position(a, send->peer);
      m.deferred.push_back(d);
      DeferredSend& kept = m.deferred.back();
      const size_t bytes = static_cast<size_t>(std::max<int64_t>(1, d.count * dtype_bytes(d.dtype)));
      const cudaError_t st = cudaMalloc(&kept.slot, bytes);
      if (st != cudaSuccess) {
        kept.slot = nullptr;
        OD_FAIL("CUDA: cannot allocate " + std::to_string(bytes) + " bytes for " + describe_op(op) + "'s message: " + cudaGetErrorString(st),
                "the plan needs more GPU memory than is free");
      }
      OD_CUDA_CHECK(cudaEventCreateWithFlags(&kept.packed, cudaEventDisableTiming));
    }
    m.pending.reserve(m.deferred.size());
    if (!m.deferred.empty()) OD_CUDA_CHECK(cudaStreamCreateWithFlags(&m.transfers, cudaStreamNonBlocking));
  } catch (...) {
    m.abort_all("NCCL set-up failed");
    m.release_deferred();
    throw;
  }
  return mesh.release();
}

void nccl_mesh_destroy(NcclMesh* mesh) {
  if (!mesh) return;
  std::unique_ptr<NcclMesh> owned(mesh);
  NcclMesh& m = *mesh;
  try {
    if (!m.aborted && m.transfers) nccl_wait(m, m.transfers, 0, "the last deferred PipeFusion sends");
    if (!m.aborted) {
      // Finalise every communicator (it flushes their work and waits until the peers are done with them), then
      // free them locally. A peer that never finalises makes this time out and abort instead.
      for (ncclComm_t c : m.comms) {
        const ncclResult_t r = ncclCommFinalize(c);
        if (r != ncclSuccess && r != ncclInProgress) m.abort_all(std::string("ncclCommFinalize failed: ") + ncclGetErrorString(r));
        if (m.aborted) break;
      }
      if (!m.aborted) m.settle(m.comms, "finalising the NCCL communicators", Clock::now() + std::chrono::milliseconds(m.timeout_ms));
      if (!m.aborted) {
        for (auto it = m.comms.rbegin(); it != m.comms.rend(); ++it) ncclCommDestroy(*it);
        m.comms.clear();
      }
    }
  } catch (...) {
    // Destruction never throws: what failed was aborted above.
  }
  m.abort_all("the mesh was destroyed");
  if (m.transfers) cudaStreamSynchronize(m.transfers);  // aborted sends have returned: the slots can go
  m.release_deferred();
}

void* nccl_comm(const NcclMesh& mesh, const std::string& axis) {
  return const_cast<NcclMesh&>(mesh).comm_of(axis);
}

int nccl_position(const NcclMesh& mesh, const std::string& axis) { return mesh.axis(axis).position; }
int nccl_group_size(const NcclMesh& mesh, const std::string& axis) { return mesh.axis(axis).size; }

void nccl_settle(NcclMesh& mesh, void* comm, int result, const char* what) {
  mesh.check(static_cast<ncclComm_t>(comm), static_cast<ncclResult_t>(result), what);
}

void nccl_all_gather(NcclMesh& mesh, const std::string& axis, const void* send, void* recv, int64_t count, DType dtype,
                     cudaStream_t stream) {
  ncclComm_t comm = mesh.comm_of(axis);
  mesh.check(comm, ncclAllGather(send, recv, static_cast<size_t>(count), nccl_type(dtype), comm, stream), "ncclAllGather");
}

void nccl_all_to_all(NcclMesh& mesh, const std::string& axis, const void* send, void* recv, int64_t count_per_part,
                     DType dtype, cudaStream_t stream) {
  ncclComm_t comm = mesh.comm_of(axis);
  const int n = mesh.axis(axis).size;
  const size_t part_bytes = static_cast<size_t>(count_per_part) * static_cast<size_t>(dtype_bytes(dtype));
  const ncclDataType_t type = nccl_type(dtype);
  mesh.check(nullptr, ncclGroupStart(), "ncclGroupStart");
  ncclResult_t r = ncclSuccess;
  for (int j = 0; j < n && r == ncclSuccess; j++) {
    r = ncclSend(static_cast<const char*>(send) + j * part_bytes, static_cast<size_t>(count_per_part), type, j, comm, stream);
    if (r == ncclSuccess) r = ncclRecv(static_cast<char*>(recv) + j * part_bytes, static_cast<size_t>(count_per_part), type, j, comm, stream);
  }
  const ncclResult_t end = ncclGroupEnd();
  mesh.check(comm, r, "ncclSend/ncclRecv of an all-to-all");
  mesh.check(comm, end, "ncclGroupEnd of an all-to-all");
}

void nccl_ring_shift(NcclMesh& mesh, const std::string& axis, const void* send, void* recv, int64_t count, DType dtype,
                     cudaStream_t stream) {
  ncclComm_t comm = mesh.comm_of(axis);
  const AxisComms& a = mesh.axis(axis);
  const ncclDataType_t type = nccl_type(dtype);
  mesh.check(nullptr, ncclGroupStart(), "ncclGroupStart");
  ncclResult_t r = ncclSend(send, static_cast<size_t>(count), type, peer_position(a, "next"), comm, stream);
  if (r == ncclSuccess) r = ncclRecv(recv, static_cast<size_t>(count), type, peer_position(a, "prev"), comm, stream);
  const ncclResult_t end = ncclGroupEnd();
  mesh.check(comm, r, "ncclSend/ncclRecv of a ring step");
  mesh.check(comm, end, "ncclGroupEnd of a ring step");
}

bool nccl_wraps(const NcclMesh& mesh, const std::string& axis, const std::string& peer) { return wraps(mesh.axis(axis), peer); }

void* nccl_send_slot(NcclMesh& mesh, const SendOp& op) {
  for (DeferredSend& d : mesh.deferred)
    if (d.op == &op) return d.slot;
  OD_FAIL(mesh.me() + ": a send to `" + op.peer + "` over the " + op.axis + " group has no slot", "a CUDA backend defect: the mesh allocates one per wrap-around send");
}

void nccl_send(NcclMesh& mesh, const SendOp& op, const void* data, int64_t count, DType dtype, cudaStream_t stream) {
  mesh.check_usable("an NCCL send");
  const AxisComms& a = mesh.axis(op.axis);
  OD_CHECK(a.comm, mesh.me() + " is alone in its " + op.axis + " group: it has no peer to send to", "");
  if (!wraps(a, op.peer)) {
    mesh.check(a.comm, ncclSend(data, static_cast<size_t>(count), nccl_type(dtype), peer_position(a, op.peer), a.comm, stream), "ncclSend");
    return;
  }
  for (size_t i = 0; i < mesh.deferred.size(); i++) {
    DeferredSend& d = mesh.deferred[i];
    if (d.op != &op) continue;
    OD_CHECK(data == d.slot && count == d.count && dtype == d.dtype, mesh.me() + ": a wrap-around send's message is not in its slot",
             "a CUDA backend defect (cuda/send.cu)");
    // Captured into a graph, the event is an external record node: each replay records it, for the transfer
    // stream waiting on it after the launch.
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    OD_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
    OD_CUDA_CHECK(cudaEventRecordWithFlags(d.packed, stream, capture == cudaStreamCaptureStatusActive ? cudaEventRecordExternal : cudaEventRecordDefault));
    mesh.pending.push_back(i);
    return;
  }
  OD_FAIL(mesh.me() + ": a wrap-around send to `" + op.peer + "` over the " + op.axis + " group was not prepared", "a CUDA backend defect");
}

void nccl_recv(NcclMesh& mesh, const RecvOp& op, void* data, int64_t count, DType dtype, cudaStream_t stream) {
  mesh.check_usable("an NCCL receive");
  const AxisComms& a = mesh.axis(op.axis);
  OD_CHECK(a.comm, mesh.me() + " is alone in its " + op.axis + " group: it has no peer to receive from", "");
  ncclComm_t comm = wraps(a, op.peer) ? a.wrap : a.comm;
  mesh.check(comm, ncclRecv(data, static_cast<size_t>(count), nccl_type(dtype), peer_position(a, op.peer), comm, stream), "ncclRecv");
}

namespace {

void issue(NcclMesh& m, const DeferredSend& d) {
  m.check_usable("a deferred NCCL send");
  OD_CUDA_CHECK(cudaStreamWaitEvent(m.transfers, d.packed, 0));
  m.check(d.comm, ncclSend(d.slot, static_cast<size_t>(d.count), nccl_type(d.dtype), d.peer, d.comm, m.transfers), "ncclSend (deferred)");
}

}  // namespace

void nccl_issue_deferred(NcclMesh& mesh, std::vector<const SendOp*>* keep) {
  for (size_t i : mesh.pending) {
    issue(mesh, mesh.deferred[i]);
    if (keep) keep->push_back(mesh.deferred[i].op);
  }
  mesh.pending.clear();
}

void nccl_reissue(NcclMesh& mesh, const std::vector<const SendOp*>& sends) {
  for (const SendOp* op : sends)
    for (const DeferredSend& d : mesh.deferred)
      if (d.op == op) issue(mesh, d);
}

void nccl_drop_deferred(NcclMesh& mesh) { mesh.pending.clear(); }

void nccl_watch(NcclMesh& mesh, const std::atomic<bool>* cancel) { mesh.cancel = cancel; }

void nccl_wait(NcclMesh& mesh, cudaStream_t stream, int64_t timeout_ms, const std::string& what) {
  OD_CHECK(!mesh.aborted, mesh.me() + ": waiting for " + what + " after the run's NCCL communicators were aborted (" + mesh.abort_reason + ")", "");
  const int64_t limit = timeout_ms > 0 ? timeout_ms : mesh.timeout_ms;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(limit);
  for (int polls = 0;; polls++) {
    const cudaError_t st = cudaStreamQuery(stream);
    if (st != cudaSuccess && st != cudaErrorNotReady)
      mesh.fail_aborting(mesh.me() + ": CUDA failed while waiting for " + what + ": " + cudaGetErrorString(st), "");
    // NCCL's asynchronous errors (a peer's connection lost, a remote abort), on every communicator.
    for (ncclComm_t c : mesh.comms) {
      ncclResult_t state = ncclSuccess;
      const ncclResult_t r = ncclCommGetAsyncError(c, &state);
      if (r != ncclSuccess) state = r;
      if (state != ncclSuccess && state != ncclInProgress) {
        const std::string last = ncclGetLastError(c);
        mesh.fail_aborting(mesh.me() + ": NCCL reported an error while waiting for " + what + ": " + ncclGetErrorString(state) +
                               (last.empty() ? "" : " (" + last + ")"),
                           "a peer that stopped shows as a remote or system error; NCCL_DEBUG=WARN shows NCCL's own log");
      }
    }
    if (st == cudaSuccess) return;
    if (mesh.cancel && mesh.cancel->load(std::memory_order_relaxed)) mesh.fail_aborting("cancelled", "");
    if (Clock::now() > deadline)
      mesh.fail_aborting(mesh.me() + ": timed out after " + seconds_text(limit) + " waiting for " + what +
                             " on the GPU (NCCL work that never completed: a peer may have stopped, failed or be stuck); every NCCL "
                             "communicator of this rank was aborted",
                         kTimeoutHint);
    std::this_thread::sleep_for(std::chrono::microseconds(polls < 2000 ? 20 : 200));
  }
}

void nccl_mesh_abort(NcclMesh& mesh, const std::string& reason) { mesh.abort_all(reason); }
bool nccl_aborted(const NcclMesh& mesh) { return mesh.aborted; }

#else  // !OPENDIT_WITH_NCCL: no mesh can exist; creating one fails with the configure step's reason.

class NcclMesh {};

bool nccl_built() { return false; }

namespace {
[[noreturn]] void no_mesh(const char* what) {
  OD_FAIL(std::string(what) + " without an NCCL mesh: this build has no NCCL (" + OPENDIT_NCCL_REASON + ")", "a CUDA backend defect");
}
}  // namespace

NcclMesh* nccl_mesh_create(Communicator&, const Memory&, int, int64_t, const std::atomic<bool>*) {
  OD_FAIL(std::string("multi-rank CUDA runs need NCCL, which this build does not have: ") + OPENDIT_NCCL_REASON,
          "run with --backend cpu, or rebuild where NCCL 2.18 or later is found (NCCL_ROOT)");
}
void nccl_mesh_destroy(NcclMesh* mesh) { delete mesh; }
void* nccl_comm(const NcclMesh&, const std::string&) { no_mesh("nccl_comm"); }
int nccl_position(const NcclMesh&, const std::string&) { no_mesh("nccl_position"); }
int nccl_group_size(const NcclMesh&, const std::string&) { no_mesh("nccl_group_size"); }
void nccl_settle(NcclMesh&, void*, int, const char*) { no_mesh("nccl_settle"); }
void nccl_all_gather(NcclMesh&, const std::string&, const void*, void*, int64_t, DType, cudaStream_t) { no_mesh("nccl_all_gather"); }
void nccl_all_to_all(NcclMesh&, const std::string&, const void*, void*, int64_t, DType, cudaStream_t) { no_mesh("nccl_all_to_all"); }
void nccl_ring_shift(NcclMesh&, const std::string&, const void*, void*, int64_t, DType, cudaStream_t) { no_mesh("nccl_ring_shift"); }
bool nccl_wraps(const NcclMesh&, const std::string&, const std::string&) { no_mesh("nccl_wraps"); }
void nccl_send(NcclMesh&, const SendOp&, const void*, int64_t, DType, cudaStream_t) { no_mesh("nccl_send"); }
void* nccl_send_slot(NcclMesh&, const SendOp&) { no_mesh("nccl_send_slot"); }
void nccl_recv(NcclMesh&, const RecvOp&, void*, int64_t, DType, cudaStream_t) { no_mesh("nccl_recv"); }
void nccl_issue_deferred(NcclMesh&, std::vector<const SendOp*>*) { no_mesh("nccl_issue_deferred"); }
void nccl_reissue(NcclMesh&, const std::vector<const SendOp*>&) { no_mesh("nccl_reissue"); }
void nccl_drop_deferred(NcclMesh&) { no_mesh("nccl_drop_deferred"); }
void nccl_watch(NcclMesh&, const std::atomic<bool>*) { no_mesh("nccl_watch"); }
void nccl_wait(NcclMesh&, cudaStream_t, int64_t, const std::string&) { no_mesh("nccl_wait"); }
void nccl_mesh_abort(NcclMesh&, const std::string&) { no_mesh("nccl_mesh_abort"); }
bool nccl_aborted(const NcclMesh&) { no_mesh("nccl_aborted"); }

#endif

}  // namespace od::cuda
