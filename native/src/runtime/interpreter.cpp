// The plan interpreter of one rank (runtime/interpreter.h): runtime/reference/interpret.ts runPlan, its ops run
// by the backend the run asked for (runtime/backend.h), with op_runs mirroring compiler/plan/pattern-runs.ts runsIn and interpret.ts opRuns. Everything
// is allocated and every op checked before the setup program; the step loop only runs kernels and copies
// captures and latent previews (runtime/latent_preview.h) into storage sized up front.
#include "runtime/interpreter.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "build_info.h"
#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"
#include "runtime/backend.h"
#include "runtime/decode.h"
#include "runtime/memory.h"

namespace od {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// interpret.ts inOpContext: prefixes "<program> op N (kind, ...)[ on step S]: " unless the message already names
// the op (a kernel that said it itself).
template <class F>
void in_op_context(const Op& op, const char* program, int step, bool with_step, F&& run) {
  try {
    run();
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (what.find("op " + std::to_string(op.id) + " (") != std::string::npos) throw Error(what);
    std::string context = std::string(program) + " " + describe_op(op);
    if (with_step) context += " on step " + std::to_string(step);
    throw Error(context + ": " + what);
  }
}

void poll_cancel(const std::atomic<bool>* cancel) {
  if (cancel && cancel->load(std::memory_order_relaxed)) throw Error("cancelled");
}

// One run at a time per process: the thread pool and its per-thread scratch are process-wide, and two runs would
// only share the same cores. A second run waits here (still cancellable).
std::mutex g_run_mutex;

std::unique_lock<std::mutex> wait_turn(const std::atomic<bool>* cancel) {
  std::unique_lock<std::mutex> lock(g_run_mutex, std::defer_lock);
  while (!lock.try_lock()) {
    poll_cancel(cancel);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return lock;
}

const PlanBuffer* buffer_spec(const Plan& plan, const std::string& name) {
  for (const PlanBuffer& b : plan.buffers)
    if (b.name == name) return &b;
  return nullptr;
}

std::unique_ptr<Backend> make_backend(const RunOptions& options) {
  if (options.backend == "cpu") return make_cpu_backend();
  if (options.backend == "cuda") {
    OD_CHECK(options.device >= 0, "the CUDA device index must be 0 or more, not " + std::to_string(options.device), "");
    return make_cuda_backend(options.device);
  }
  OD_FAIL("there is no backend `" + options.backend + "`", "the backends are cpu and cuda");
}

// The group axis an op exchanges data over with other ranks (collectives, transfers, ring attention), or null.
// Off the CPU they need NCCL (cuda/nccl.h) where the group has more than one rank.
const std::string* exchange_axis(const Op& op) {
  if (const auto* a = std::get_if<AllToAllOp>(&op.body)) return &a->axis;
  if (const auto* g = std::get_if<AllGatherOp>(&op.body)) return &g->axis;
  if (const auto* s = std::get_if<SendOp>(&op.body)) return &s->axis;
  if (const auto* r = std::get_if<RecvOp>(&op.body)) return &r->axis;
  if (const auto* attention = std::get_if<SelfAttentionOp>(&op.body); attention && attention->ring) return &*attention->ring;
  return nullptr;
}

// A capture resolved before the loop: which op, which slot, where the next copy goes.
struct Capture {
  int op_id = 0;
  const Slot* slot = nullptr;
  std::vector<float>* storage = nullptr;
  size_t next = 0;
};

}  // namespace

bool op_runs(const Op& op, const PlanPattern* pattern, int64_t stage) {
  // interpret.ts opRuns: an op with a stage runs only on that stage's ranks; setup ops have no pattern.
  if (op.stage && *op.stage != stage) return false;
  if (!pattern) return true;
  // pattern-runs.ts inPhase.
  if (!op.phase.empty() && op.phase != pattern->phase) return false;
  if (op.latent_ring && op.kind == "send" && !pattern->latent_out) return false;
  if (op.latent_ring && op.kind == "recv" && !pattern->latent_in) return false;
  // pattern-runs.ts skippedBy. TypeScript spells an absent blockKind "undefined" in the template string.
  if (!op.pab.empty() && contains(pattern->reuse, op.pab)) return false;
  if (op.mlp && op.block) {
    const std::string key = (op.block_kind.empty() ? std::string("undefined") : op.block_kind) + ":" + std::to_string(*op.block);
    if (contains(pattern->mlp_reuse, key)) return false;
  }
  return true;
}

// The DiT: weights to outputs. Its memory and backend are released when it returns (before any decode).
static RunResult run_dit(const Plan& plan, const WeightsSource& weights, const RunInputs& inputs, const RunOptions& options,
                         const ProgressFn& progress, const std::atomic<bool>* cancel, Clock::time_point begin) {
  RunResult result;
  Timings& time = result.timings;

  // ---- what to run: steps, rank, each step's pattern ----
  const int total = static_cast<int>(plan.steps.size());
  const int steps = options.steps ? *options.steps : total;
  OD_CHECK(steps >= 0 && steps <= total,
           "cannot run " + std::to_string(steps) + " steps of a plan of " + std::to_string(total), "");
  OD_CHECK(options.rank >= 0 && static_cast<size_t>(options.rank) < plan.mesh.ranks.size(),
           "the plan's mesh has " + std::to_string(plan.mesh.world) + " ranks, not a rank " + std::to_string(options.rank), "");
  std::vector<const PlanPattern*> patterns(static_cast<size_t>(steps));
  for (int i = 0; i < steps; i++) {
    const int p = plan.steps[static_cast<size_t>(i)].pattern;
    OD_CHECK(p >= 0 && static_cast<size_t>(p) < plan.patterns.size(),
             "step " + std::to_string(i) + " runs pattern " + std::to_string(p) + ", which the plan does not have", "");
    patterns[static_cast<size_t>(i)] = &plan.patterns[static_cast<size_t>(p)];
  }
  const auto& coords = plan.mesh.ranks[static_cast<size_t>(options.rank)].coords;
  const auto pf = coords.find("pipefusion");
  const int64_t stage = pf == coords.end() ? 0 : pf->second;
  auto report = [&](const char* phase, int step) {
    if (progress) progress(Progress{phase, step, steps, seconds_since(begin), nullptr});
  };

  // ---- the backend, before the weights: one this build lacks fails at once ----
  std::unique_ptr<Backend> backend = make_backend(options);
  backend->set_run_controls(options.collective_timeout_ms, cancel, steps);
  const bool on_cpu = options.backend == "cpu";

  // ---- weights (the pool first: drawing random weights uses both cores) ----
  set_threads(options.threads);
  Clock::time_point t = Clock::now();
  LoadedWeights loaded = load_weights(plan, weights, stage);
  time.load = seconds_since(t);
  report("load", 0);
  poll_cancel(cancel);

  // ---- memory, threads, every op checked once, scratch, captures ----
  t = Clock::now();
  Memory mem(plan, std::move(loaded), options.rank);
  // The backend goes before the host memory it mirrors (and may have pinned), on return and on error alike.
  struct ReleaseFirst {
    std::unique_ptr<Backend>& backend;
    ~ReleaseFirst() { backend.reset(); }
  } release_backend_first{backend};
  if (options.comm) {
    OD_CHECK(options.comm->world() == plan.mesh.world && options.comm->rank() == options.rank,
             "the communicator is rank " + std::to_string(options.comm->rank()) + " of " + std::to_string(options.comm->world()) +
                 ", but this run is rank " + std::to_string(options.rank) + " of the plan's " + std::to_string(plan.mesh.world),
             "open the transport with the plan's world and the run's rank");
  }
  mem.set_comm(options.comm);  // before the checks: a collective over several ranks needs it
  // The CPU checks validate every op's sizes for every backend; then the backend's own checks.
  auto cpu_check = [&](const Op& op, const char* program) {
    if (op.stage && *op.stage != stage) return;
    in_op_context(op, program, 0, false, [&] {
      // Before the CPU check asks for a communicator: without NCCL, the reason this build cannot run it at all.
      if (const std::string* axis = on_cpu || OPENDIT_NCCL_BUILT ? nullptr : exchange_axis(op)) {
        OD_CHECK(mem.group(*axis, "the " + *axis + " group").size() <= 1,
                 std::string("exchanging data between GPU ranks needs NCCL, which this build does not have: ") + OPENDIT_NCCL_REASON,
                 "run with --backend cpu");
      }
      cpu::check_op(op, mem);
    });
  };
  for (const Op& op : plan.setup) cpu_check(op, "setup");
  for (const Op& op : plan.step) cpu_check(op, "step");
  for (const Op& op : plan.setup)
    if (!op.stage || *op.stage == stage) in_op_context(op, "setup", 0, false, [&] { backend->check_op(op, mem); });
  for (const Op& op : plan.step)
    if (!op.stage || *op.stage == stage) in_op_context(op, "step", 0, false, [&] { backend->check_op(op, mem); });
  mem.allocate_scratch(thread_count());

  // Which step ops each used pattern runs, decided once (runsIn builds strings; the loop should not).
  std::vector<std::vector<char>> runs(plan.patterns.size());
  for (const PlanPattern* p : patterns) {
    auto& r = runs[static_cast<size_t>(p - plan.patterns.data())];
    if (!r.empty() || plan.step.empty()) continue;
    r.resize(plan.step.size());
    for (size_t k = 0; k < plan.step.size(); k++) r[k] = op_runs(plan.step[k], p, stage) ? 1 : 0;
  }

  result.captures.resize(options.captures.size());
  std::vector<Capture> captures;
  std::vector<std::vector<Capture*>> captures_after(plan.step.size());
  captures.reserve(options.captures.size());
  for (size_t c = 0; c < options.captures.size(); c++) {
    const CaptureSpec& spec = options.captures[c];
    if (spec.program == "decode") continue;  // filled by run_decode
    size_t k = 0;
    while (k < plan.step.size() && plan.step[k].id != spec.op_id) k++;
    OD_CHECK(k < plan.step.size(), "capture " + std::to_string(c) + ": the step program has no op " + std::to_string(spec.op_id),
             "captures name a step-program op id and a buffer");
    const Slot* slot = mem.find(spec.buffer);
    OD_CHECK(slot && !slot->is_weight,
             "capture " + std::to_string(c) + ": the plan has no buffer `" + spec.buffer + "` (after op " +
                 std::to_string(spec.op_id) + ")",
             "");
    int64_t times = 0;
    for (int i = 0; i < steps; i++)
      times += runs[static_cast<size_t>(patterns[static_cast<size_t>(i)] - plan.patterns.data())][k];
    result.captures[c].assign(static_cast<size_t>(times * slot->count), 0.0f);
    captures.push_back(Capture{spec.op_id, slot, &result.captures[c], 0});
  }
  for (Capture& c : captures) {  // captures no longer grows: the pointers stay valid
    size_t k = 0;
    while (plan.step[k].id != c.op_id) k++;
    captures_after[k].push_back(&c);
  }
  // The previews' host snapshots, before the loop (only where someone receives the events).
  std::unique_ptr<LatentPreviews> previews;
  if (options.preview_every > 0 && progress)
    previews = std::make_unique<LatentPreviews>(plan, mem, options.rank, stage, options.preview_every, steps);
  time.bind = seconds_since(t);
  poll_cancel(cancel);

  // ---- inputs (filled on the host; the backend then takes the weights and inputs) ----
  t = Clock::now();
  fill_inputs(mem, inputs);
  backend->prepare(mem);
  time.inputs = seconds_since(t);

  // ---- setup program ----
  t = Clock::now();
  mem.set_step(0);
  for (const Op& op : plan.setup) {
    if (!op_runs(op, nullptr, stage)) continue;
    poll_cancel(cancel);
    in_op_context(op, "setup", 0, false, [&] { backend->run_op(op, mem); });
  }
  try {
    backend->synchronize();
  } catch (const std::exception& e) {
    throw Error(std::string("setup (waiting for its ops): ") + e.what());
  }
  time.setup = seconds_since(t);
  report("setup", 0);

  // ---- the steps ----
  // A backend may record a pattern's step once and replay it (CUDA graphs), unless captures download mid-step.
  backend->set_graphs_allowed(captures.empty());
  const Clock::time_point loop = Clock::now();
  time.per_step.reserve(static_cast<size_t>(steps));
  for (int i = 0; i < steps; i++) {
    const Clock::time_point s = Clock::now();
    const PlanPattern* pattern = patterns[static_cast<size_t>(i)];
    const std::vector<char>& run = runs[static_cast<size_t>(pattern - plan.patterns.data())];
    mem.set_step(i);
    fill_timestep(mem, i, inputs);
    backend->upload_inputs(mem, true);
    const int pattern_id = plan.steps[static_cast<size_t>(i)].pattern;
    bool replayed = false;
    poll_cancel(cancel);
    try {
      replayed = backend->begin_step(pattern_id, i);
    } catch (const std::exception& e) {
      throw Error("step " + std::to_string(i) + ": " + e.what());
    }
    for (size_t k = 0; k < plan.step.size() && !replayed; k++) {
      if (!run[k]) continue;
      const Op& op = plan.step[k];
      poll_cancel(cancel);
      in_op_context(op, "step", i, true, [&] {
        backend->run_op(op, mem);
        for (Capture* c : captures_after[k]) {
          backend->download(mem, *c->slot, c->storage->data() + c->next);
          c->next += static_cast<size_t>(c->slot->count);
        }
      });
    }
    try {
      backend->end_step(pattern_id, i);
    } catch (const std::exception& e) {
      throw Error("step " + std::to_string(i) + ": " + e.what());
    }
    try {
      backend->synchronize();
    } catch (const std::exception& e) {
      throw Error("step " + std::to_string(i) + " (waiting for its ops): " + e.what());
    }
    time.per_step.push_back(seconds_since(s));
    if (previews && previews->due(i + 1)) {
      // Between steps (the step synchronised, no graph capturing): the latent into the event, outside the step's time.
      Progress event{"step", i + 1, steps, 0, previews->take(*backend, mem, cancel)};
      event.seconds = seconds_since(begin);
      progress(event);
    } else {
      report("step", i + 1);
    }
  }
  time.steps = seconds_since(loop);

  // ---- outputs (interpret.ts rankOutputs) ----
  t = Clock::now();
  for (const PlanOutput& out : plan.outputs) {
    if (out.stage && *out.stage != stage) continue;
    const PlanBuffer* spec = buffer_spec(plan, out.buffer);
    const Slot* slot = mem.find(out.buffer);
    OD_CHECK(spec && slot && !slot->is_weight,
             "output " + out.name + " names buffer " + out.buffer + ", which the plan does not have", "");
    OutputTensor tensor;
    tensor.name = out.name;
    tensor.shape = spec->shape;
    tensor.data.resize(static_cast<size_t>(slot->count));
    with_context("output " + out.name, [&] { backend->download(mem, *slot, tensor.data.data()); });
    result.outputs.push_back(std::move(tensor));
  }
  time.outputs = seconds_since(t);
  result.arena_bytes = mem.arena_bytes();
  result.weight_bytes = mem.weight_bytes();
  result.threads = thread_count();
  result.backend = backend->name();
  result.device_bytes = backend->device_bytes();
  result.fusions = backend->fusions();
  result.overlap = backend->overlap();
  return result;
}

RunResult run_plan(const Plan& plan, const WeightsSource& weights, const RunInputs& inputs, const RunOptions& options,
                   const ProgressFn& progress, const std::atomic<bool>* cancel) {
  auto turn = wait_turn(cancel);
  const Clock::time_point begin = Clock::now();
  const bool decoding = options.decode && plan.decode.has_value();
  if (decoding) check_decode(plan, options);  // a decode this run cannot do fails before the steps
  RunResult result = run_dit(plan, weights, inputs, options, progress, cancel, begin);
  const int steps = static_cast<int>(result.timings.per_step.size());
  if (decoding) {
    const Clock::time_point t = Clock::now();
    run_decode(plan, options, result, [&](int pass, int passes) {
      if (progress) progress(Progress{"decode", pass, passes, seconds_since(begin), nullptr});
    }, cancel);
    result.timings.decode = seconds_since(t);
  }
  if (progress) progress(Progress{"done", steps, steps, seconds_since(begin), nullptr});
  return result;
}

}  // namespace od
