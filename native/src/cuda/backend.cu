// The CUDA backend (runtime/backend.h): one device, one non-blocking stream, cuBLASLt for the linears
// (cuda/gemm.h) and a kernel file per op kind (cuda/ops.h). check_op prepares every linear's GEMM and sums up the
// scratch the kernels need; prepare() allocates the device memory (cuda/device_memory.h), uploads the weights and
// the host-filled buffers and allocates the scratch; run_op only enqueues; download and synchronize wait.
//
// CUDA graphs: the first step of each distinct step pattern is captured (begin_step … end_step: its run_op calls
// recorded by stream capture, instantiated, then launched), and every later step of that pattern is one
// cudaGraphLaunch. What changes between steps stays outside the graph, ordered before it on the stream: the
// timestep inputs (upload_inputs) and the device step index (begin_step copies it from pinned memory), through
// which the solver reads its step's row of the per-step table built at prepare. Off with OPENDIT_CUDA_GRAPHS=0,
// under OPENDIT_CUDA_PROFILE=1, and for runs with captures (set_graphs_allowed). A capture that fails (a call
// that cannot be captured, an instantiation error) turns graphs off for the run with a note on stderr, and the
// recorded ops run directly.
//
// Multi-rank runs (cuda/nccl.h): prepare joins the NCCL mesh before the upload; the collectives and transfers
// enqueue NCCL calls like any kernel; a pattern's first step runs directly and its second is captured; the waits
// (synchronize, download) are polled, bounded by the collective timeout and aborting every communicator on a
// timeout, an NCCL error or a cancel; a backend destroyed while a failure unwinds aborts them first. An all_to_all
// and the ops up to the next one on its axis run chunked by sample, the exchanges on the comm stream beside the
// compute (cuda/overlap.h; OPENDIT_CUDA_OVERLAP=0 turns it off).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/collective_support.h"
#include "cuda/device_memory.h"
#include "cuda/fusion.h"
#include "cuda/overlap.h"
#include "cuda/permute_fold.h"
#include "cuda/gemm.h"
#include "cuda/nccl.h"
#include "cuda/ops.h"
#include "runtime/backend.h"

namespace od {
namespace cuda {

size_t scratch_bytes(const Op& op, const Memory& host) {
  if (const auto* linear = std::get_if<LinearOp>(&op.body)) return linear_scratch_bytes(*linear, host);
  if (const auto* attention = std::get_if<SelfAttentionOp>(&op.body)) return self_attention_scratch_bytes(*attention, host);
  // The VAE decode's kernels (cuda/decode_kernels.h): im2col chunks, group statistics, the GEMM attention's scores.
  if (const auto* conv = std::get_if<Conv2dOp>(&op.body)) return conv2d_scratch_bytes(*conv, host);
  if (const auto* norm = std::get_if<GroupNormOp>(&op.body)) return group_norm_scratch_bytes(*norm, host);
  if (const auto* cross = std::get_if<CrossAttentionOp>(&op.body)) return cross_attention_scratch_bytes(*cross, host);
  // The collectives' staging (cuda/collective_support.cu); the other kernels keep their temporaries in registers
  // and shared memory.
  return collective_scratch_bytes(op, host);
}

namespace {

constexpr size_t kScratchAlign = 256;
const std::string kQueuedOps = "the queued ops";  // what synchronize waits for (no allocation per step)

// The group axis an op exchanges data over (collectives, transfers, ring attention), or null.
const std::string* exchange_axis(const Op& op) {
  if (const auto* a = std::get_if<AllToAllOp>(&op.body)) return &a->axis;
  if (const auto* g = std::get_if<AllGatherOp>(&op.body)) return &g->axis;
  if (const auto* s = std::get_if<SendOp>(&op.body)) return &s->axis;
  if (const auto* r = std::get_if<RecvOp>(&op.body)) return &r->axis;
  if (const auto* attention = std::get_if<SelfAttentionOp>(&op.body); attention && attention->ring) return &*attention->ring;
  return nullptr;
}

// A collective's or transfer's buffers move in their storage dtype: x and out must share it (cuda/collective_support.h).
void check_exchange_dtypes(const Op& op, const Memory& mem) {
  if (const auto* a = std::get_if<AllToAllOp>(&op.body)) cuda::exchange_value_bytes(mem, a->x, a->out);
  if (const auto* g = std::get_if<AllGatherOp>(&op.body)) cuda::exchange_value_bytes(mem, g->x, g->out);
  if (const auto* s = std::get_if<SendOp>(&op.body)) cuda::exchange_value_bytes(mem, s->x, s->x);
  if (const auto* r = std::get_if<RecvOp>(&op.body)) cuda::exchange_value_bytes(mem, r->out, r->out);
}

// The buffers of plan.inputs of one source ("" = every source), deduplicated, in plan order.
std::vector<std::string> input_buffers(const Plan& plan, const char* source) {
  std::vector<std::string> names;
  for (const PlanInput& in : plan.inputs) {
    if (source && in.source != source) continue;
    if (std::find(names.begin(), names.end(), in.buffer) == names.end()) names.push_back(in.buffer);
  }
  return names;
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    int count = 0;
    const cudaError_t st = cudaGetDeviceCount(&count);
    OD_CHECK(st == cudaSuccess, std::string("CUDA: no usable GPU: ") + cudaGetErrorString(st),
             "check the NVIDIA driver (nvidia-smi), or run with --backend cpu");
    OD_CHECK(device >= 0 && device < count,
             "CUDA device " + std::to_string(device) + " does not exist: this machine has " + std::to_string(count) + " GPU" +
                 (count == 1 ? "" : "s"),
             "pick a device in [0, " + std::to_string(count) + ")");
    OD_CUDA_CHECK(cudaSetDevice(device));
    OD_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    try {
      gemm_ = std::make_unique<cuda::Gemm>();
    } catch (...) {
      cudaStreamDestroy(stream_);
      throw;
    }
  }

  ~CudaBackend() override {
    // No checks: destructors must not throw. Queued work finishes before its memory goes.
    cudaSetDevice(device_);
    abandon_capture();  // an error or a cancel inside a captured step left it open
    // A run that failed or was cancelled (this destructor runs while its exception unwinds) may have NCCL work
    // queued that its peers will never match: abort the communicators so the waiting kernels return.
    if (nccl_ && std::uncaught_exceptions() > 0) cuda::nccl_mesh_abort(*nccl_, "the run stopped");
    if (stream_) cudaStreamSynchronize(stream_);
    if (comm_stream_) cudaStreamSynchronize(comm_stream_);
    cuda::nccl_mesh_destroy(nccl_);  // finalised once both streams are idle (or already aborted)
    nccl_ = nullptr;
    if (comm_stream_) cudaStreamDestroy(comm_stream_);
    if (profile_) profile_report();
    for (auto& [pattern, graph] : graphs_)
      if (graph.exec) cudaGraphExecDestroy(graph.exec);
    graphs_.clear();
    overlap_.reset();
    fusion_.reset();
    dev_.reset();
    if (scratch_) cudaFree(scratch_);
    if (tables_) cudaFree(tables_);
    if (step_device_) cudaFree(step_device_);
    if (step_host_) cudaFreeHost(step_host_);
    gemm_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  const char* name() const override { return "cuda"; }

  void set_run_controls(int64_t collective_timeout_ms, const std::atomic<bool>* cancel, int steps) override {
    collective_timeout_ms_ = collective_timeout_ms;
    cancel_ = cancel;
    run_steps_ = steps;
    if (nccl_) cuda::nccl_watch(*nccl_, cancel_);
  }

  void check_op(const Op& op, Memory& mem) override {
    if (const std::string* axis = exchange_axis(op)) {
      // A group of one rank is a local copy; a larger one needs NCCL and the run's transport to bootstrap it.
      const std::vector<int>& group = mem.group(*axis, describe_op(op) + "'s " + *axis + " group");
      if (group.size() > 1) {
        OD_CHECK(cuda::nccl_built(),
                 describe_op(op) + ": exchanging data between GPU ranks needs NCCL, which this build does not have: " + cuda::nccl_reason(),
                 "run with --backend cpu, or rebuild where NCCL 2.18 or later is found (NCCL_ROOT)");
        OD_CHECK(mem.comm(),
                 describe_op(op) + ": runs over the " + *axis + " group of " + std::to_string(group.size()) +
                     " ranks but this run has no communicator to set NCCL up with",
                 "run every rank of the plan's mesh with a transport (opendit launch, or run({..., transport}))");
      }
      ::od::with_context(describe_op(op), [&] { check_exchange_dtypes(op, mem); });
    }
    if (const auto* linear = std::get_if<LinearOp>(&op.body)) cuda::prepare_linear(*linear, mem, *gemm_, describe_op(op));
    if (const auto* attention = std::get_if<SelfAttentionOp>(&op.body))
      ::od::with_context(describe_op(op), [&] { cuda::prepare_self_attention(*attention, mem); });
    if (const auto* conv = std::get_if<Conv2dOp>(&op.body)) cuda::prepare_conv2d(*conv, mem, *gemm_, describe_op(op));
    if (const auto* cross = std::get_if<CrossAttentionOp>(&op.body)) cuda::prepare_cross_attention(*cross, mem, *gemm_, describe_op(op));
    scratch_need_ = std::max(scratch_need_, cuda::scratch_bytes(op, mem));
  }

  void prepare(Memory& mem) override {
    OD_CUDA_CHECK(cudaSetDevice(device_));
    const Plan& plan = mem.plan();
    // NCCL first (cuda/nccl.h), before the weights upload: every rank of a plan that exchanges data joins the
    // mesh, which waits for the slowest rank to get here (bounded by the collective timeout).
    if (mem.comm() && plan.mesh.world > 1 && cuda::plan_exchanges(plan)) {
      nccl_ = cuda::nccl_mesh_create(*mem.comm(), mem, device_, collective_timeout_ms_, cancel_);
      OD_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking));
      ctx_.nccl = nccl_;
      ctx_.comm_stream = comm_stream_;
    }
    dev_ = std::make_unique<cuda::DeviceMemory>(mem);
    if (scratch_need_ > 0) {
      scratch_bytes_ = (scratch_need_ + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
      const cudaError_t st = cudaMalloc(&scratch_, scratch_bytes_);
      if (st != cudaSuccess) {
        scratch_ = nullptr;
        OD_FAIL("CUDA: cannot allocate " + std::to_string(scratch_bytes_) + " bytes of kernel scratch: " + cudaGetErrorString(st),
                "the plan needs more GPU memory than is free");
      }
    }
    ctx_.stream = stream_;
    ctx_.lt = gemm_->handle();
    ctx_.workspace = gemm_->workspace();
    ctx_.workspace_bytes = gemm_->workspace_bytes();
    ctx_.scratch = scratch_;
    ctx_.scratch_bytes = scratch_bytes_;
    ctx_.dev = dev_.get();
    ctx_.host = &mem;
    prepare_step_tables(mem);

    // What the host filled: every buffer an input entry feeds, and every input or state buffer (zeros unless fed,
    // as on the device, but uploading them keeps the two alike whatever the host did).
    std::vector<std::string> names = input_buffers(plan, nullptr);
    for (const PlanBuffer& b : plan.buffers)
      if ((b.role == BufferRole::Input || b.role == BufferRole::State) && std::find(names.begin(), names.end(), b.name) == names.end())
        names.push_back(b.name);
    for (const std::string& name : names) {
      const int id = id_of(plan, name);
      const Slot* slot = mem.find(name);
      if (id < 0 || !slot) continue;  // no op reads it
      dev_->upload(*slot, BufRef{id}, stream_);
    }
    // The per-step uploads, resolved once.
    for (const std::string& name : input_buffers(plan, "timestep")) {
      const int id = id_of(plan, name);
      const Slot* slot = mem.find(name);
      if (id >= 0 && slot) timestep_inputs_.push_back({slot, BufRef{id}});
    }
    for (const std::string& name : input_buffers(plan, nullptr)) {
      const int id = id_of(plan, name);
      const Slot* slot = mem.find(name);
      if (id >= 0 && slot) all_inputs_.push_back({slot, BufRef{id}});
    }
  }

  void upload_inputs(Memory& mem, bool timestep_only) override {
    OD_CHECK(dev_, "inputs uploaded before the CUDA backend was prepared", "a runtime defect");
    ctx_.host = &mem;
    for (const auto& [slot, ref] : timestep_only ? timestep_inputs_ : all_inputs_) dev_->upload(*slot, ref, stream_);
  }

  void set_graphs_allowed(bool allowed) override {
    graphs_allowed_ = allowed;
    // Fusion, like graphs, only where no capture reads a buffer mid-step (a fused op's output is never written).
    const char* fuse = std::getenv("OPENDIT_CUDA_FUSE");
    fusion_.reset();
    folds_.clear();
    if (allowed && !(fuse && std::string(fuse) == "0") && ctx_.host) {
      fusion_.plan(*ctx_.host, ctx_, *gemm_);
      // The temporal permutes folded into the attention's layout, where the residual fusion left them (P2 of a
      // chain it runs as one GEMM stays with it).
      folds_.plan(*ctx_.host, *gemm_, [this](const Op& o) { return fusion_.at(o) != nullptr; }, nullptr);
    }
    // The all-to-alls chunked by sample against the ops between them (cuda/overlap.h), over what the fusions and
    // folds left; also only without captures, and only with NCCL (its second stream, groups of several ranks).
    const char* overlap = std::getenv("OPENDIT_CUDA_OVERLAP");
    overlap_.reset();
    if (allowed && !(overlap && std::string(overlap) == "0") && ctx_.host && nccl_) {
      overlap_hooks_.launch = [this](const Op& o, const cuda::SequenceLayout* layout) {
        if (!layout) {
          launch(o);
          return;
        }
        if (profile_) profile_begin(profile_key(o) + " (folded layout)");
        cuda::run_self_attention_in_layout(std::get<SelfAttentionOp>(o.body), *layout, ctx_);
        if (profile_) profile_end();
      };
      overlap_hooks_.profile_begin = nullptr;
      overlap_hooks_.profile_end = nullptr;
      if (profile_) {
        overlap_hooks_.profile_begin = [this](const std::string& key, cudaStream_t on) { profile_begin(key, on); };
        overlap_hooks_.profile_end = [this](cudaStream_t on) { profile_end(on); };
      }
      overlap_.plan(*ctx_.host, ctx_, *gemm_, [this](size_t k) { return planned_op(k); });
    }
  }

  // What enqueue runs at step op k once the fusions and folds are planned (cuda/overlap.h PlannedOp).
  cuda::PlannedOp planned_op(size_t k) const {
    const Op& op = ctx_.host->plan().step[k];
    cuda::PlannedOp p;
    p.op = &op;
    p.taken = fusion_.at(op) != nullptr;
    if (folds_.active()) {
      p.skipped = folds_.skipped(op);
      if (const Op* rewritten = folds_.rewritten(op)) p.op = rewritten;
      if (folds_.folded_attention(op))
        for (const cuda::PermuteFold& f : folds_.folds())
          if (f.attention == static_cast<int>(k)) p.layout = f.layout;
    }
    return p;
  }

  bool begin_step(int pattern, int step) override {
    OD_CHECK(dev_, "a step began before the CUDA backend was prepared", "a runtime defect");
    in_step_ = true;
    OD_CHECK(!capturing_, "a step began inside another step's capture", "a runtime defect");
    OD_CHECK(step >= 0 && step < step_count_,
             "step " + std::to_string(step) + " is not in the plan's " + std::to_string(step_count_) + " steps", "");
    // The step index first, outside any graph: the graph (or the ops) after it on the stream read it.
    OD_CUDA_CHECK(cudaMemcpyAsync(step_device_, step_host_ + step, sizeof(int), cudaMemcpyHostToDevice, stream_));
    last_step_ = run_steps_ >= 0 && step + 1 >= run_steps_;
    profile_steps_begun_++;
    if (!graphs_enabled_ || !graphs_allowed_ || profile_) return false;
    PatternGraph& graph = graphs_[pattern];
    if (graph.exec) {
      // The launcher's host checks of a step's solver coefficients, which a replay does not run.
      for (const Op* op : graph.solvers) {
        const SolverTable* table = ctx_.solver_table(std::get<SolverOp>(op->body));
        if (table && !table->errors[static_cast<size_t>(step)].empty())
          throw Error(describe_op(*op) + ": " + table->errors[static_cast<size_t>(step)]);
      }
      OD_CUDA_CHECK(cudaGraphLaunch(graph.exec, stream_));
      if (nccl_ && !last_step_) cuda::nccl_reissue(*nccl_, graph.deferred);  // the replay's wrap-around sends (cuda/nccl.h)
      return true;
    }
    // With NCCL, a pattern's first step runs its ops directly, making every connection and registration its
    // NCCL calls need outside any capture; its second step is captured.
    if (nccl_ && !graph.ran_directly) {
      graph.ran_directly = true;
      return false;
    }
    // The pattern's first (with NCCL: second) step: record its ops; end_step instantiates and launches them.
    OD_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    capturing_ = true;
    recorded_.clear();
    return false;
  }

  void end_step(int pattern, int step) override {
    try {
      end_capture(pattern, step);
      if (nccl_) issue_deferred(nullptr);  // a step run directly: its wrap-around sends
    } catch (...) {
      in_step_ = false;
      throw;
    }
    in_step_ = false;
  }

  void end_capture(int pattern, int) {
    if (!capturing_) return;
    capturing_ = false;
    cudaGraph_t captured = nullptr;
    cudaGraphExec_t exec = nullptr;
    cudaError_t st = cudaStreamEndCapture(stream_, &captured);
    if (st == cudaSuccess) st = cudaGraphInstantiate(&exec, captured, 0);
    if (captured) cudaGraphDestroy(captured);  // the executable graph keeps what it needs
    if (st != cudaSuccess) {
      if (exec) cudaGraphExecDestroy(exec);
      graphs_off_and_run_recorded(std::string("capturing the step's graph failed: ") + cudaGetErrorString(st));
      return;
    }
    PatternGraph& graph = graphs_[pattern];
    graph.exec = exec;
    for (const auto& [op, mem] : recorded_)
      if (std::holds_alternative<SolverOp>(op->body)) graph.solvers.push_back(op);
    recorded_.clear();
    OD_CUDA_CHECK(cudaGraphLaunch(graph.exec, stream_));
    if (nccl_) issue_deferred(&graph.deferred);  // kept for the replays
  }

  void run_op(const Op& op, Memory& mem) override {
    if (!dev_) OD_FAIL(describe_op(op) + " ran before the CUDA backend was prepared", "a runtime defect");
    if (!capturing_) {
      enqueue(op, mem);
      return;
    }
    recorded_.push_back({&op, &mem});
    try {
      enqueue(op, mem);
    } catch (const std::exception& e) {
      // Nothing recorded has run yet: give the capture up and run the recorded ops (this one included) directly.
      // A genuine error of an op fails again there, as it would have without graphs.
      abandon_capture();
      graphs_off_and_run_recorded(describe_op(op) + " could not be captured: " + e.what());
    }
  }

  void enqueue(const Op& op, Memory& mem) {
    ctx_.host = &mem;
    if (in_step_ && overlap_.active()) {
      if (const cuda::OverlapSpan* span = overlap_.starting_at(op)) {
        overlap_.run(*span, ctx_, overlap_hooks_);  // the span's ops, sample by sample, on both streams
        return;
      }
      if (overlap_.inside(op)) return;  // ran with its span
    }
    if (in_step_ && folds_.active()) {
      if (folds_.skipped(op)) return;  // a permute folded into its attention's layout
      if (const Op* rewritten = folds_.rewritten(op)) {
        launch(*rewritten);
        return;
      }
      if (folds_.folded_attention(op)) {
        if (profile_) profile_begin(profile_key(op) + " (folded layout)");
        folds_.run_attention(op, ctx_);
        if (profile_) profile_end();
        return;
      }
    }
    if (const cuda::Fusion::Site* site = in_step_ && fusion_.active() ? fusion_.at(op) : nullptr) {
      if (site->kind == cuda::Fusion::Site::Kind::Skip) return;  // computed by the fused site that ends its chain
      if (profile_) profile_begin(site->profile_key);
      const bool fused = fusion_.run(*site, ctx_);
      if (profile_) profile_end();
      if (fused) return;
      launch(*site->unfused);  // the gated add's vectorised pass does not apply: the two ops as they are, in order
    }
    launch(op);
  }

  void launch(const Op& op) {
    if (profile_) profile_begin(profile_key(op));
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, TimestepEmbedOp>) cuda::run_timestep_embed(body, ctx_);
          else if constexpr (std::is_same_v<T, LinearOp>) cuda::run_linear(body, ctx_);
          else if constexpr (std::is_same_v<T, SiluOp>) cuda::run_silu(body, ctx_);
          else if constexpr (std::is_same_v<T, AddOp>) cuda::run_add(body, ctx_);
          else if constexpr (std::is_same_v<T, EmbeddingOp>) cuda::run_embedding(body, ctx_);
          else if constexpr (std::is_same_v<T, PatchEmbedOp>) cuda::run_patch_embed(body, ctx_);
          else if constexpr (std::is_same_v<T, SinCos2dOp>) cuda::run_sincos_2d(body, ctx_);
          else if constexpr (std::is_same_v<T, SinCos1dOp>) cuda::run_sincos_1d(body, ctx_);
          else if constexpr (std::is_same_v<T, ConstantOp>) cuda::run_constant(body, ctx_);
          else if constexpr (std::is_same_v<T, ConcatOp>) cuda::run_concat(body, ctx_);
          else if constexpr (std::is_same_v<T, AddRowsOp>) cuda::run_add_rows(body, ctx_);
          else if constexpr (std::is_same_v<T, ModulationOp>) cuda::run_modulation(body, ctx_);
          else if constexpr (std::is_same_v<T, LayerNormModulateOp>) cuda::run_layernorm_modulate(body, ctx_);
          else if constexpr (std::is_same_v<T, GateOp>) cuda::run_gate(body, ctx_);
          else if constexpr (std::is_same_v<T, PermuteOp>) cuda::run_permute(body, ctx_);
          else if constexpr (std::is_same_v<T, SelfAttentionOp>) cuda::run_self_attention(body, ctx_);
          else if constexpr (std::is_same_v<T, CrossAttentionOp>) cuda::run_cross_attention(body, ctx_);
          else if constexpr (std::is_same_v<T, UnpatchifyOp>) cuda::run_unpatchify(body, ctx_);
          else if constexpr (std::is_same_v<T, GuidanceOp>) cuda::run_guidance(body, ctx_);
          else if constexpr (std::is_same_v<T, SolverOp>) cuda::run_solver_update(body, ctx_);
          else if constexpr (std::is_same_v<T, AllToAllOp>) cuda::run_all_to_all(body, ctx_);
          else if constexpr (std::is_same_v<T, AllGatherOp>) cuda::run_all_gather(body, ctx_);
          else if constexpr (std::is_same_v<T, SendOp>) cuda::run_send(body, ctx_);
          else if constexpr (std::is_same_v<T, RecvOp>) cuda::run_recv(body, ctx_);
          else if constexpr (std::is_same_v<T, Conv2dOp>) cuda::run_conv2d(body, ctx_);
          else if constexpr (std::is_same_v<T, GroupNormOp>) cuda::run_group_norm(body, ctx_);
          else if constexpr (std::is_same_v<T, UpsampleNearestOp>) cuda::run_upsample_nearest(body, ctx_);
          else
            OD_FAIL(describe_op(op) + ": the CUDA backend has no kernel for this kind of op in the step program",
                    "a CUDA backend defect");
        },
        op.body);
    if (profile_) profile_end();
  }

  void download(const Memory&, const Slot& slot, float* out) override {
    OD_CHECK(dev_, "a download before the CUDA backend was prepared", "a runtime defect");
    OD_CHECK(!capturing_, "a download inside a captured step", "a CUDA backend defect: runs with captures use no graphs");
    if (nccl_) cuda::nccl_wait(*nccl_, stream_, 0, "the ops before a download");  // bounded, unlike the copy's own wait
    dev_->download(*slot.name, out, slot.count, stream_);
  }

  void synchronize() override {
    OD_CHECK(!capturing_, "a synchronisation inside a captured step", "a runtime defect: end_step comes first");
    // With NCCL a polled wait, bounded by the collective timeout and aborting every communicator past it; the
    // mesh's deferred sends are not waited for (cuda/nccl.h).
    if (nccl_)
      cuda::nccl_wait(*nccl_, stream_, 0, kQueuedOps);
    else
      OD_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (profile_) profile_collect();
  }

  int64_t device_bytes() const override {
    return (dev_ ? dev_->bytes() : 0) + gemm_->device_bytes() + static_cast<int64_t>(scratch_bytes_) +
           static_cast<int64_t>(tables_bytes_) + (step_device_ ? static_cast<int64_t>(sizeof(int)) : 0) + fusion_.device_bytes() +
           overlap_.device_bytes();
  }

  FusionCounts fusions() const override { return fusion_.counts(); }
  OverlapCounts overlap() const override { return overlap_.counts(); }

 private:
  // The device step index (0 until the first step: setup runs as step 0, as on the host), its pinned sources (one
  // int per step, never rewritten, so no copy can read a value meant for another step), and every solver op's
  // per-step table, uploaded once (prepare runs before the loop: these allocations and copies are not in it).
  void prepare_step_tables(const Memory& mem) {
    const Plan& plan = mem.plan();
    step_count_ = static_cast<int>(plan.steps.size());
    const size_t sources = std::max<size_t>(1, plan.steps.size());
    OD_CUDA_CHECK(cudaMallocHost(&step_host_, sources * sizeof(int)));
    for (size_t i = 0; i < sources; i++) step_host_[i] = static_cast<int>(i);
    OD_CUDA_CHECK(cudaMalloc(&step_device_, sizeof(int)));
    OD_CUDA_CHECK(cudaMemcpy(step_device_, step_host_, sizeof(int), cudaMemcpyHostToDevice));
    ctx_.step_index = step_device_;
    recorded_.reserve(plan.step.size());

    const int64_t stage = mem.stage();
    std::vector<std::pair<const SolverOp*, size_t>> solvers;  // op, byte offset in the tables
    size_t bytes = 0;
    for (const std::vector<Op>* program : {&plan.setup, &plan.step})
      for (const Op& op : *program) {
        const auto* solver = std::get_if<SolverOp>(&op.body);
        if (!solver || (op.stage && *op.stage != stage)) continue;
        solvers.push_back({solver, bytes});
        bytes += (cuda::solver_table_bytes(*solver, mem) + kScratchAlign - 1) / kScratchAlign * kScratchAlign;
      }
    ctx_.solver_tables = &solver_tables_;
    if (bytes == 0) return;
    std::vector<uint8_t> host(bytes, 0);
    for (const auto& [solver, offset] : solvers)
      cuda::build_solver_table(*solver, mem, host.data() + offset, solver_tables_[solver].errors);
    const cudaError_t st = cudaMalloc(&tables_, bytes);
    if (st != cudaSuccess) {
      tables_ = nullptr;
      OD_FAIL("CUDA: cannot allocate " + std::to_string(bytes) + " bytes of solver step tables: " + cudaGetErrorString(st),
              "the plan needs more GPU memory than is free");
    }
    tables_bytes_ = bytes;
    OD_CUDA_CHECK(cudaMemcpy(tables_, host.data(), bytes, cudaMemcpyHostToDevice));
    for (const auto& [solver, offset] : solvers) solver_tables_[solver].rows = static_cast<const uint8_t*>(tables_) + offset;
  }

  // Ends an open capture and drops what it recorded (nothing of it ran). Clears the error a failed capture left.
  void abandon_capture() {
    if (!capturing_ || !stream_) return;
    capturing_ = false;
    cudaGraph_t captured = nullptr;
    cudaStreamEndCapture(stream_, &captured);
    if (captured) cudaGraphDestroy(captured);
    cudaGetLastError();
  }

  // Graphs off for the rest of the run; the ops recorded for the failed capture run directly now, in order.
  void graphs_off_and_run_recorded(const std::string& why) {
    graphs_enabled_ = false;
    cudaGetLastError();
    // NCCL calls recorded into the abandoned graph advanced NCCL's own bookkeeping with the peers: running them
    // again would not match theirs, so a multi-rank run stops here instead.
    if (nccl_) {
      cuda::nccl_drop_deferred(*nccl_);
      OD_FAIL("CUDA graphs: " + why + ", in a run with NCCL, whose recorded calls cannot be run again",
              "run with OPENDIT_CUDA_GRAPHS=0");
    }
    std::vector<std::pair<const Op*, Memory*>> ops;
    ops.swap(recorded_);
    for (const auto& [op, mem] : ops) enqueue(*op, *mem);
    std::fprintf(stderr, "opendit: CUDA graphs off for this run: %s\n", why.c_str());
  }

  struct PatternGraph {
    cudaGraphExec_t exec = nullptr;
    std::vector<const Op*> solvers;  // its solver ops: their step's coefficients are checked before each replay
    std::vector<const SendOp*> deferred;  // its wrap-around sends, issued after each launch (cuda/nccl.h)
    bool ran_directly = false;            // with NCCL: the pattern's first step ran without a graph
  };
  static bool graphs_from_env() {
    const char* v = std::getenv("OPENDIT_CUDA_GRAPHS");
    return !(v && std::string(v) == "0");
  }
  bool graphs_enabled_ = graphs_from_env();
  bool graphs_allowed_ = true;
  bool in_step_ = false;
  cuda::Fusion fusion_;  // the step ops run fused (cuda/fusion.h), planned in set_graphs_allowed
  cuda::PermuteFolds folds_;  // the temporal permutes folded away (cuda/permute_fold.h), planned after fusion_
  cuda::Overlap overlap_;     // the all-to-alls chunked against the ops between them (cuda/overlap.h), planned last
  cuda::OverlapHooks overlap_hooks_;  // its way back into launch() and the profile
  bool capturing_ = false;
  std::map<int, PatternGraph> graphs_;
  std::vector<std::pair<const Op*, Memory*>> recorded_;  // the run_op calls of the capture under way
  int step_count_ = 0;
  int* step_host_ = nullptr;    // pinned: step_host_[i] = i
  int* step_device_ = nullptr;  // the step being run
  void* tables_ = nullptr;
  size_t tables_bytes_ = 0;
  std::map<const SolverOp*, SolverTable> solver_tables_;

  static int id_of(const Plan& plan, const std::string& name) {
    for (size_t id = 0; id < plan.names.size(); ++id)
      if (plan.names[id] == name) return static_cast<int>(id);
    return -1;
  }

  // OPENDIT_CUDA_PROFILE=1: device time per kind of op (events around every op, read at each synchronize), printed
  // to stderr when the backend goes. A diagnostic mode: its events are created as ops first run. The setup program
  // and the run's first step are kept apart as warm-up (NCCL connects its peers and cuDNN builds its plans inside
  // them), so the table is the steady state: its rows sum the steps after the first, which the header counts.
  struct ProfileRow {
    double ms = 0;
    int64_t calls = 0;
  };
  static std::string profile_key(const Op& op) {
    std::string key = op.kind;
    if (!op.block_kind.empty()) key += " (" + op.block_kind + ")";
    if (const auto* l = std::get_if<LinearOp>(&op.body))
      key += " " + std::to_string(l->rows) + "x" + std::to_string(l->in_features) + "->" + std::to_string(l->out_features);
    if (const auto* a = std::get_if<SelfAttentionOp>(&op.body))
      key += " " + std::to_string(a->batch) + "x" + std::to_string(a->seq) + " h" + std::to_string(a->heads);
    if (const auto* c = std::get_if<Conv2dOp>(&op.body))
      key += " k" + std::to_string(c->kernel) + " " + std::to_string(c->height) + "x" + std::to_string(c->width) + " " +
             std::to_string(c->in_channels) + "->" + std::to_string(c->out_channels);
    if (const auto* g = std::get_if<GroupNormOp>(&op.body))
      key += " " + std::to_string(g->height) + "x" + std::to_string(g->width) + "x" + std::to_string(g->channels);
    return key;
  }
  // Events around an op on `on` (null: the main stream; the overlapped all-to-alls time theirs on the comm stream).
  void profile_begin(const std::string& key, cudaStream_t on = nullptr) {
    if (profile_next_ == profile_events_.size()) {
      cudaEvent_t a, b;
      OD_CUDA_CHECK(cudaEventCreate(&a));
      OD_CUDA_CHECK(cudaEventCreate(&b));
      profile_events_.push_back({a, b});
      profile_keys_.emplace_back();
    }
    profile_keys_[profile_next_] = key;
    profile_warmup_.resize(profile_events_.size());
    profile_warmup_[profile_next_] = profile_steps_begun_ <= 1;
    OD_CUDA_CHECK(cudaEventRecord(profile_events_[profile_next_].first, on ? on : stream_));
  }
  void profile_end(cudaStream_t on = nullptr) {
    OD_CUDA_CHECK(cudaEventRecord(profile_events_[profile_next_++].second, on ? on : stream_));
  }
  void profile_collect() {
    for (size_t i = 0; i < profile_next_; i++) {
      float ms = 0;
      OD_CUDA_CHECK(cudaEventElapsedTime(&ms, profile_events_[i].first, profile_events_[i].second));
      ProfileRow& row = (profile_warmup_[i] ? profile_warmup_rows_ : profile_rows_)[profile_keys_[i]];
      row.ms += ms;
      row.calls++;
    }
    profile_next_ = 0;
  }
  void profile_report() const {
    // A run of one step (or a decode, which has no steps) has no steady state: its table is everything.
    const int steady = profile_steps_begun_ > 1 ? profile_steps_begun_ - 1 : 0;
    const auto& source = steady > 0 ? profile_rows_ : profile_warmup_rows_;
    std::vector<std::pair<std::string, ProfileRow>> rows(source.begin(), source.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    double total = 0, warmup = 0;
    for (const auto& r : rows) total += r.second.ms;
    for (const auto& r : profile_warmup_rows_) warmup += r.second.ms;
    if (steady > 0)
      std::fprintf(stderr, "opendit cuda profile: %.1f ms of device time in ops over %d steps (setup and the first step, %.1f ms, left out as warm-up)\n",
                   total, steady, warmup);
    else
      std::fprintf(stderr, "opendit cuda profile: %.1f ms of device time in ops (no step after the first: everything)\n", total);
    for (const auto& r : rows)
      std::fprintf(stderr, "  %9.2f ms %5.1f%% %7lld calls  %s\n", r.second.ms, total > 0 ? 100 * r.second.ms / total : 0.0,
                   static_cast<long long>(r.second.calls), r.first.c_str());
    for (const auto& e : profile_events_) {
      cudaEventDestroy(e.first);
      cudaEventDestroy(e.second);
    }
  }

  bool profile_ = std::getenv("OPENDIT_CUDA_PROFILE") != nullptr && std::string(std::getenv("OPENDIT_CUDA_PROFILE")) == "1";
  std::vector<std::pair<cudaEvent_t, cudaEvent_t>> profile_events_;
  std::vector<std::string> profile_keys_;
  size_t profile_next_ = 0;
  std::map<std::string, ProfileRow> profile_rows_;
  std::map<std::string, ProfileRow> profile_warmup_rows_;  // the setup program's and the first step's
  std::vector<bool> profile_warmup_;                        // per event: recorded in the setup or the first step
  int profile_steps_begun_ = 0;

  int device_;
  cudaStream_t stream_ = nullptr;
  // Multi-rank runs (cuda/nccl.h): the communicators, ring attention's second stream, and what bounds the waits.
  cuda::NcclMesh* nccl_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;
  int64_t collective_timeout_ms_ = 0;
  const std::atomic<bool>* cancel_ = nullptr;
  int run_steps_ = -1;  // the steps this run runs (-1: not said): the last one's wrap-around sends have no receiver
  bool last_step_ = false;

  // The wrap-around sends the step's ops recorded (cuda/nccl.h): issued, except on the run's last step, whose
  // receiver (the first stage's next step) never runs: a run stopped early sends nothing no rank receives.
  void issue_deferred(std::vector<const SendOp*>* keep) {
    if (last_step_)
      cuda::nccl_drop_deferred(*nccl_);
    else
      cuda::nccl_issue_deferred(*nccl_, keep);
  }
  std::unique_ptr<cuda::Gemm> gemm_;
  std::unique_ptr<cuda::DeviceMemory> dev_;
  size_t scratch_need_ = 0;
  size_t scratch_bytes_ = 0;
  void* scratch_ = nullptr;
  cuda::Context ctx_;
  std::vector<std::pair<const Slot*, BufRef>> timestep_inputs_, all_inputs_;
};

}  // namespace
}  // namespace cuda

#ifdef OPENDIT_WITH_CUDA
std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<cuda::CudaBackend>(device); }
#endif

}  // namespace od
