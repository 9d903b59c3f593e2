// Where a rank's ops execute. The interpreter (runtime/interpreter.cpp) owns the loop and the host Memory (every
// buffer bound, every op's sizes checked by the CPU checks, inputs filled on the host); a Backend runs the ops.
//
// - The CPU backend (runtime/cpu_backend.cpp) computes in the host Memory itself: prepare, upload and download are
//   no-ops or copies.
// - The CUDA backend (cuda/, built only where nvcc, the CUDA runtime and cuBLASLt are found) mirrors the plan's
//   arena on the device at the plan's own offsets and dtypes (bf16 plans store bf16; fp32 accumulation inside
//   every kernel), uploads the weights once in the plan's dtype, runs each op as its kernels on one stream, and
//   copies back only what the host asks for (captures, outputs). No allocation and no host synchronisation happen
//   inside the step loop; `download` synchronises. Each distinct step pattern is captured once into a CUDA graph
//   and replayed on its later steps (begin_step / end_step; off with OPENDIT_CUDA_GRAPHS=0).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "plan/plan.h"
#include "runtime/memory.h"

namespace od {

// Step ops a backend runs inside other ops' kernels, by kind of fusion (the CUDA backend's cuda/fusion.h; none on
// the CPU, and none with fusion off): sites in this rank's step program, each counted once however many steps run it.
struct FusionCounts {
  int64_t gemm_residual = 0;  // a linear, and the gate after it, whose residual add runs in the GEMM's epilogue
  int64_t gated_add = 0;      // a gate run inside the add that consumes it
};

// Communication a backend overlapped with compute (the CUDA backend's cuda/overlap.h; none on the CPU, and none with
// OPENDIT_CUDA_OVERLAP=0): spans of this rank's step program (an all_to_all, the ops up to the next one on its axis,
// and that one) that ran chunked by sample, each counted once however many steps ran it.
struct OverlapCounts {
  int64_t spans = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // Right after make: how long a wait on other ranks may take (ms; 0 when the run has no transport), the run's
  // cancel flag (may be null) and how many steps it runs, for a backend whose own waits on peers must stay bounded,
  // stop on a cancel and send nothing meant for a step that will not run (the CUDA backend's NCCL, cuda/nccl.h).
  virtual void set_run_controls(int64_t /*collective_timeout_ms*/, const std::atomic<bool>* /*cancel*/, int /*steps*/) {}
  // Before the step loop, after the CPU checks of every op: backend-specific checks and workspace needs.
  virtual void check_op(const Op& op, Memory& mem) = 0;
  // After the host inputs are filled: allocate device memory, upload the weights and every input buffer.
  virtual void prepare(Memory& mem) = 0;
  // The timestep inputs of this step changed on the host (fill_timestep): make the backend's copies current.
  virtual void upload_inputs(Memory& mem, bool timestep_only) = 0;
  virtual void run_op(const Op& op, Memory& mem) = 0;
  // Before the step loop: whether this run lets the backend replay a step from a recording (CUDA graphs). The
  // interpreter forbids it when the run has captures (they download between a step's ops).
  virtual void set_graphs_allowed(bool) {}
  // Around each step's ops, after fill_timestep and upload_inputs: begin_step returns true when the backend
  // replays a recording of the step's pattern itself; the interpreter then calls no run_op for the step, and
  // calls end_step in either case. `pattern` is plan.steps[step].pattern.
  virtual bool begin_step(int /*pattern*/, int /*step*/) { return false; }
  virtual void end_step(int /*pattern*/, int /*step*/) {}
  // The current values of a buffer as fp32 (i32 buffers converted), count = slot.count. Waits for queued work.
  virtual void download(const Memory& mem, const Slot& slot, float* out) = 0;
  // Waits for every queued op (the end of a step's timing, errors surfaced).
  virtual void synchronize() = 0;
  // Device bytes held (arena + weights + workspaces); 0 on the CPU.
  virtual int64_t device_bytes() const { return 0; }
  // The fusions this run used (after the step loop).
  virtual FusionCounts fusions() const { return {}; }
  // The communication this run overlapped (after the step loop).
  virtual OverlapCounts overlap() const { return {}; }
};

std::unique_ptr<Backend> make_cpu_backend();
// Fails naming the reason the build gave (OPENDIT_CUDA_REASON) when the CUDA backend was not built.
std::unique_ptr<Backend> make_cuda_backend(int device);
// Whether this build has the CUDA backend, and why not.
bool cuda_backend_built();
const char* cuda_backend_reason();

}  // namespace od
