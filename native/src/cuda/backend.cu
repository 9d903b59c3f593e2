// The CUDA backend (runtime/backend.h): one device, one non-blocking stream, cuBLASLt for the linears
// (cuda/gemm.h) and a kernel file per op kind (cuda/ops.h). check_op prepares every linear's GEMM and sums up the
// scratch the kernels need; prepare() allocates the device memory (cuda/device_memory.h), uploads the weights and
// the host-filled buffers and allocates the scratch; run_op only enqueues; download and synchronize wait.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/device_memory.h"
#include "cuda/gemm.h"
#include "cuda/ops.h"
#include "runtime/backend.h"

namespace od {
namespace cuda {

size_t scratch_bytes(const Op& op, const Memory& host) {
  if (const auto* linear = std::get_if<LinearOp>(&op.body)) return linear_scratch_bytes(*linear, host);
  return 0;  // the other kernels keep their temporaries in registers and shared memory
}

namespace {

constexpr size_t kScratchAlign = 256;

bool exchanges_with_ranks(const Op& op) {
  if (std::holds_alternative<AllToAllOp>(op.body) || std::holds_alternative<AllGatherOp>(op.body) ||
      std::holds_alternative<SendOp>(op.body) || std::holds_alternative<RecvOp>(op.body))
    return true;
  if (const auto* attention = std::get_if<SelfAttentionOp>(&op.body)) return attention->ring.has_value();
  return false;
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
    if (stream_) cudaStreamSynchronize(stream_);
    if (profile_) profile_report();
    dev_.reset();
    if (scratch_) cudaFree(scratch_);
    gemm_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  const char* name() const override { return "cuda"; }

  void check_op(const Op& op, Memory& mem) override {
    OD_CHECK(!exchanges_with_ranks(op),
             describe_op(op) + ": collectives on the CUDA backend need NCCL, which is not built yet",
             "run with --backend cpu");
    if (const auto* linear = std::get_if<LinearOp>(&op.body)) cuda::prepare_linear(*linear, mem, *gemm_, describe_op(op));
    scratch_need_ = std::max(scratch_need_, cuda::scratch_bytes(op, mem));
  }

  void prepare(Memory& mem) override {
    OD_CUDA_CHECK(cudaSetDevice(device_));
    const Plan& plan = mem.plan();
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

  void run_op(const Op& op, Memory& mem) override {
    if (!dev_) OD_FAIL(describe_op(op) + " ran before the CUDA backend was prepared", "a runtime defect");
    ctx_.host = &mem;
    if (profile_) profile_begin(op);
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
          else
            OD_FAIL(describe_op(op) + ": collectives on the CUDA backend need NCCL, which is not built yet",
                    "run with --backend cpu");
        },
        op.body);
    if (profile_) profile_end();
  }

  void download(const Memory&, const Slot& slot, float* out) override {
    OD_CHECK(dev_, "a download before the CUDA backend was prepared", "a runtime defect");
    dev_->download(*slot.name, out, slot.count, stream_);
  }

  void synchronize() override {
    OD_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (profile_) profile_collect();
  }

  int64_t device_bytes() const override {
    return (dev_ ? dev_->bytes() : 0) + gemm_->device_bytes() + static_cast<int64_t>(scratch_bytes_);
  }

 private:
  static int id_of(const Plan& plan, const std::string& name) {
    for (size_t id = 0; id < plan.names.size(); ++id)
      if (plan.names[id] == name) return static_cast<int>(id);
    return -1;
  }

  // OPENDIT_CUDA_PROFILE=1: device time per kind of op (events around every op, read at each synchronize), printed
  // to stderr when the backend goes. A diagnostic mode: its events are created as ops first run.
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
    return key;
  }
  void profile_begin(const Op& op) {
    if (profile_next_ == profile_events_.size()) {
      cudaEvent_t a, b;
      OD_CUDA_CHECK(cudaEventCreate(&a));
      OD_CUDA_CHECK(cudaEventCreate(&b));
      profile_events_.push_back({a, b});
      profile_keys_.emplace_back();
    }
    profile_keys_[profile_next_] = profile_key(op);
    OD_CUDA_CHECK(cudaEventRecord(profile_events_[profile_next_].first, stream_));
  }
  void profile_end() { OD_CUDA_CHECK(cudaEventRecord(profile_events_[profile_next_++].second, stream_)); }
  void profile_collect() {
    for (size_t i = 0; i < profile_next_; i++) {
      float ms = 0;
      OD_CUDA_CHECK(cudaEventElapsedTime(&ms, profile_events_[i].first, profile_events_[i].second));
      ProfileRow& row = profile_rows_[profile_keys_[i]];
      row.ms += ms;
      row.calls++;
    }
    profile_next_ = 0;
  }
  void profile_report() const {
    std::vector<std::pair<std::string, ProfileRow>> rows(profile_rows_.begin(), profile_rows_.end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.ms > b.second.ms; });
    double total = 0;
    for (const auto& r : rows) total += r.second.ms;
    std::fprintf(stderr, "opendit cuda profile: %.1f ms of device time in ops\n", total);
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

  int device_;
  cudaStream_t stream_ = nullptr;
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
