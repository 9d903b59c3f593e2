// The plan interpreter of one rank (as runtime/reference/interpret.ts), its ops run by a Backend
// (runtime/backend.h: the CPU, fp32, or CUDA where built), chosen per run by RunOptions::backend:
//
//   weights <- the checkpoint or checkpoint: random (checkpoint/weights.h)
//   memory  <- the static arena, every name bound, every op checked once (runtime/memory.h, cpu/ops.h)
//   inputs  <- noise, text, masks, labels (runtime/inputs.h)
//   setup program, once
//   for each step: the step's timestep, then the step program less the ops its pattern skips; every N-th step
//                  (preview_every) the latent copied into the step's progress event (runtime/latent_preview.h)
//   outputs <- copies of plan.outputs
//   decode  <- plan.decode on a fresh memory and backend, after the DiT's are released (runtime/decode.h)
//
// An op runs on a step when compiler/plan/pattern-runs.ts `runsIn` says so: not when its `pab` kind is reused by
// the step's pattern, not when it is an `mlp` op of a block the pattern reuses ("<blockKind>:<block>" in
// mlp_reuse), not when its `phase` differs from the pattern's, not a latent-ring recv on a pattern without
// latent_in nor a latent-ring send without latent_out; and an op with a `stage` only on that stage's ranks.
//
// The host Memory is the source of truth for sizes whatever the backend: every op's CPU check runs, then the
// backend's own. The backend is called in this order (and only so): make (before the weights load, so a backend
// the build lacks fails at once), check_op for every op of this rank, prepare once after the host inputs are
// filled, run_op for each setup op then synchronize, set_graphs_allowed (false when the run has captures); each
// step: upload_inputs(timestep_only = true) after the host's timestep is filled, begin_step (true: the backend
// replays the step pattern's captured graph, and the step's run_op calls are skipped), run_op for each op the step
// runs (download after an op with a capture), end_step, synchronize at the end of the step (its time is taken
// after it), download of the output `latents` after a step to preview (RunOptions::preview_every); download of each
// output; device_bytes.
// Collectives (all_to_all, all_gather, send, recv, ring self_attention) run on the CPU backend over the transport,
// and on the CUDA backend over NCCL where it was built (cuda/nccl.h, bootstrapped over the transport).
//
// Many ranks: each rank's process runs run_plan with its rank and a communicator (RunOptions::comm) connected to
// the others. Collectives (all_to_all, all_gather, ring self_attention) meet their group's members at the same op;
// PipeFusion's send returns once its message is copied, and a recv waits for its message (the transport buffers
// what arrives early: every receive is in effect pre-posted), so ranks of different stages run their own op
// sequences with no further coordination. Only the last stage returns the outputs that carry a stage.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint/weights.h"
#include "comm/communicator.h"
#include "plan/plan.h"
#include "runtime/backend.h"
#include "runtime/inputs.h"
#include "runtime/latent_preview.h"

namespace od {

// Copy the buffer `buffer` after step-program op `op_id` runs, on every step it runs (tests: block outputs);
// with program "decode", after plan.decode.program's op `op_id`, on every pass (runtime/decode.h).
struct CaptureSpec {
  int op_id = 0;
  std::string buffer;
  std::string program = "step";  // "step" | "decode"
};

struct RunOptions {
  int rank = 0;
  std::optional<int> steps;  // run only the first N steps
  int threads = 0;           // 0: default (core/parallel.h)
  std::vector<CaptureSpec> captures;
  Communicator* comm = nullptr;  // multi-rank runs: the connected transport
  std::string backend = "cpu";   // "cpu" or "cuda" (runtime/backend.h)
  int device = 0;                // the CUDA device index (backend "cuda")
  int64_t collective_timeout_ms = 0;  // multi-rank runs: how long a wait on other ranks may take (transport.timeoutMs)
  bool decode = true;            // run plan.decode after the steps (false: latents only)
  // The VAE's weights; absent: plan.decode's checkpoint as written (a path, or "random" with its weightsSeed).
  std::optional<WeightsSource> decode_weights;
  // After every N-th step (N >= 1; 0: never), the step's progress event carries the output `latents` as it is then
  // (runtime/latent_preview.h). Only on the ranks that hold it: with PipeFusion, the last stage's.
  int preview_every = 0;
};

struct Progress {
  std::string phase;  // "load", "setup", "step", "decode", "done"
  int step = 0;       // steps finished (decode: passes finished)
  int steps = 0;      // steps to run (decode: passes to run, samples × plan.decode.passes)
  double seconds = 0; // since the run began
  // "step" events after every RunOptions::preview_every-th step: the latent then (null otherwise). Shared with the
  // run's pool of snapshots: drop it once read, so that the run can fill it again.
  std::shared_ptr<const LatentSnapshot> latent;
};
using ProgressFn = std::function<void(const Progress&)>;

struct OutputTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

struct Timings {
  double load = 0, bind = 0, inputs = 0, setup = 0, steps = 0, outputs = 0;  // seconds
  double decode = 0;  // seconds of the VAE decode (0 without one)
  std::vector<double> per_step;
};

struct RunResult {
  std::vector<OutputTensor> outputs;
  // captures[i]: every value captured for spec i, step after step (steps x count).
  std::vector<std::vector<float>> captures;
  Timings timings;
  int64_t arena_bytes = 0, weight_bytes = 0;
  int threads = 1;
  std::string backend;         // the backend that ran the ops: "cpu" or "cuda"
  int64_t device_bytes = 0;    // device memory the backend held (0 on the CPU)
  FusionCounts fusions;        // step ops the backend ran fused (none on the CPU)
  OverlapCounts overlap;       // spans whose all-to-alls the backend overlapped with compute (none on the CPU)
};

// Runs the plan on one rank. `cancel` (may be null) is polled between ops: when set, the run stops with
// od::Error("cancelled"). Errors name the op and step they happened in. With plan.decode (and options.decode),
// the DiT's memory and backend are released after its outputs and the rank decodes (runtime/decode.h), adding
// the `video` output where it returns one.
RunResult run_plan(const Plan& plan, const WeightsSource& weights, const RunInputs& inputs, const RunOptions& options,
                   const ProgressFn& progress, const std::atomic<bool>* cancel);

// Whether `op` runs on a step of `pattern` (nullptr: a setup op) on a rank of pipeline stage `stage`.
bool op_runs(const Op& op, const PlanPattern* pattern, int64_t stage);

}  // namespace od
