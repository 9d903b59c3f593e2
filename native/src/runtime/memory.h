// The memory of one rank: the plan's static arena (every buffer at the plan's offset; activations share bytes by
// liveness exactly as the plan decided), the loaded weights, per-thread scratch, and the rank's mesh coordinates.
// Everything is allocated by bind(), before the setup program; the step loop allocates nothing.
//
// The CPU backend stores every floating buffer as fp32 whatever the plan's dtype: a plan whose smallest element
// is 2 bytes (bf16/f16) has its offsets and arena scaled by 2, which keeps each buffer inside the scaled image
// of its own bytes, so buffers that did not overlap in the plan do not overlap here.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "checkpoint/weights.h"
#include "comm/communicator.h"
#include "plan/plan.h"

namespace od {

struct Slot {
  const std::string* name = nullptr;
  std::vector<int64_t> shape;
  int64_t count = 0;
  bool is_int = false;     // i32 buffer
  bool is_weight = false;  // read-only checkpoint tensor
  float* f = nullptr;
  int32_t* i = nullptr;
};

class Memory {
 public:
  // Binds every name of the plan to its buffer or weight and allocates the arena and scratch (zeroed).
  // rank: the global rank whose coordinates pick shards, cfg rows and pipeline stage. Fails naming the op that
  // used a name that is neither a plan buffer nor a loaded weight.
  Memory(const Plan& plan, LoadedWeights weights, int rank);

  const Plan& plan() const { return *plan_; }
  int rank() const { return rank_; }
  // The rank's coordinate on a mesh axis (0 for axes of degree 1).
  int64_t coord(const std::string& axis) const;
  // The rank's index among a shard's parts: its coordinate on the axis, or for "sequence" the combined
  // coordinate over dsp, ulysses and ring (innermost fastest, as the mesh orders them). Fails naming `where`.
  int64_t shard_index(const std::string& axis, int64_t parts, const std::string& where) const;
  int64_t stage() const { return coord("pipefusion"); }

  // The step being run (set by the interpreter; solver ops read plan().steps[step()]).
  int step() const { return step_; }
  void set_step(int step) { step_ = step; }

  const Slot& slot(BufRef ref) const;
  // A floating buffer or weight (fails naming it when it is i32 or unbound).
  float* f32(BufRef ref) const;
  // An i32 buffer.
  int32_t* i32(BufRef ref) const;
  int64_t count(BufRef ref) const { return slot(ref).count; }
  const std::string& name(BufRef ref) const { return plan_->name_of(ref); }
  // A slot by buffer or weight name (nullptr when absent): for inputs and outputs.
  const Slot* find(const std::string& name) const;

  // Per-thread scratch: kernels declare their need in check (floats per thread); bind-time allocation.
  void need_scratch(int64_t floats_per_thread);
  float* scratch(int thread) const;
  // Allocates the scratch and staging declared so far (the interpreter calls it after every op's check).
  void allocate_scratch(int threads);

  // The communicator of a multi-rank run (nullptr on one rank): the collective and point-to-point kernels use it.
  Communicator* comm() const { return comm_; }
  void set_comm(Communicator* comm) { comm_ = comm; }
  // The group of `axis` (a key of plan.mesh.groups: a mesh axis or "sequence") holding this rank, members in
  // coordinate order; {rank} when the plan has no groups for the axis (degree 1). Fails naming `where` when the
  // groups do not contain the rank.
  const std::vector<int>& group(const std::string& axis, const std::string& where) const;

  // Staging bytes shared by the collective kernels (packed send parts, received parts, ring attention's K/V
  // blocks and accumulators): each op declares its need in check, allocate_scratch allocates the largest once
  // (8-byte aligned, zeroed), and an op uses it from the start during its own run only.
  void need_staging(int64_t bytes);
  void* staging() const { return staging_.empty() ? nullptr : const_cast<double*>(staging_.data()); }

  // The op being checked or run (set by cpu::check_op / run_op): kernels name it in messages to the peers.
  const Op* current_op() const { return op_; }
  void set_current_op(const Op* op) { op_ = op; }

  int64_t arena_bytes() const { return arena_bytes_; }  // the scaled arena, without the alignment slack
  int64_t weight_bytes() const { return static_cast<int64_t>(weights_.storage.size() * sizeof(float)); }

 private:
  const Plan* plan_;
  int rank_;
  int step_ = 0;
  LoadedWeights weights_;
  // Zeroed by calloc, 64-byte aligned base below: a large calloc maps pages the system zeroes when first touched,
  // so a backend that keeps buffers on its device (CUDA) pays only for the host buffers it fills or reads (a PAB
  // plan's caches made a zero-filled arena of 16 GiB per rank take 9 s before the first step).
  struct FreeArena {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, FreeArena> arena_;
  uint8_t* base_ = nullptr;
  int64_t arena_bytes_ = 0;
  std::vector<Slot> buffer_slots_;  // one per plan buffer, then one per loaded weight
  std::vector<const Slot*> by_id_;  // Plan::names index -> slot
  int64_t scratch_floats_ = 0;
  std::vector<float> scratch_;
  int scratch_threads_ = 0;
  Communicator* comm_ = nullptr;
  mutable std::map<std::string, std::vector<int>> groups_;  // filled by bind: this rank's group per axis
  int64_t staging_bytes_ = 0;
  std::vector<double> staging_;
  const Op* op_ = nullptr;
};

}  // namespace od
