// cuDNN's fused attention forward through its backend graph API (cuDNN 9), for self_attention where it fits
// (cuda/cudnn_attention.h says what fits and what the graph is). Built only with OPENDIT_WITH_CUDNN=1.
//
// The operation graph is the one cuDNN's runtime fusion engines recognise as flash-attention forward (the pattern
// the cuDNN frontend's SDPA node lowers to for inference): every intermediate tensor virtual, fp32 except the
// softmax output P, which carries the I/O dtype into the second matmul; the softmax statistics (max + log Σexp)
// computed into a virtual tensor as the fused kernels expect. Tensor UIDs:
//   1 Q [b, h, s, d]      strides [s·q_stride, d, q_stride, 1]          (I/O dtype, device)
//   2 Kᵀ [b, h, d, s]     strides [s·kv_stride, d, 1, kv_stride]        (K read transposed in place)
//   3 V [b, h, s, d]      strides [s·kv_stride, d, kv_stride, 1]
//   4 O [b, h, s, d]      strides [s·out_stride, d, out_stride, 1]
//   5 scale [1, 1, 1, 1]  fp32 by value (a host float in the variant pack)
//   100 S = Q·Kᵀ, 101 S·scale, 102 max, 103 S·scale − max, 104 exp, 105 Σexp, 106 log Σexp, 107 stats,
//   108 P = exp / Σexp (I/O dtype): [b, h, s, s] packed, the row statistics [b, h, s, 1] packed.
// Plans are cached per (device, dtype, sizes, strides); the pointers and the scale go in the variant pack of each
// run. One handle per device, one workspace per device grown to the largest plan's need (at prepare, never under
// capture). Handles and workspaces live until the process ends (destroying them from static destructors would run
// after the CUDA runtime has gone).
#include "cuda/cudnn_attention.h"

#include <cudnn.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"

namespace od::cuda {
namespace {

constexpr const char* kHint = "run with OPENDIT_ATTENTION=own (the own attention kernel), or check the cuDNN install (cuDNN 9)";

std::string status_text(cudnnStatus_t s) {
  std::string msg = cudnnGetErrorString(s);
  char detail[4096] = {0};
  cudnnGetLastErrorString(detail, sizeof detail);
  if (detail[0]) msg += std::string(" (") + detail + ")";
  return msg;
}

void check(cudnnStatus_t s, const char* what, const char* file, int line) {
  if (s != CUDNN_STATUS_SUCCESS) ::od::fail(file, line, std::string("cuDNN: ") + what + " failed: " + status_text(s), kHint);
}
#define OD_CUDNN_CHECK(call) check((call), #call, __FILE__, __LINE__)

// An owned backend descriptor.
struct Desc {
  cudnnBackendDescriptor_t d = nullptr;
  Desc() = default;
  explicit Desc(cudnnBackendDescriptorType_t type) { OD_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d)); }
  ~Desc() {
    if (d) cudnnBackendDestroyDescriptor(d);
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  Desc(Desc&& o) noexcept : d(o.d) { o.d = nullptr; }
  Desc& operator=(Desc&& o) noexcept {
    std::swap(d, o.d);
    return *this;
  }
};

void set(const Desc& x, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* values,
         const char* what) {
  const cudnnStatus_t s = cudnnBackendSetAttribute(x.d, name, type, count, values);
  if (s != CUDNN_STATUS_SUCCESS) OD_FAIL(std::string("cuDNN: setting ") + what + " failed: " + status_text(s), kHint);
}
void set_desc(const Desc& x, cudnnBackendAttributeName_t name, const Desc& value, const char* what) {
  set(x, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &value.d, what);
}
void finalize(const Desc& x, const char* what) {
  const cudnnStatus_t s = cudnnBackendFinalize(x.d);
  if (s != CUDNN_STATUS_SUCCESS) OD_FAIL(std::string("cuDNN: finalizing ") + what + " failed: " + status_text(s), kHint);
}

enum Uid : int64_t { kQ = 1, kK = 2, kV = 3, kO = 4, kScale = 5, kVirtual = 100 };

using Key = std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

struct Plan {
  std::vector<Desc> keep;  // tensors, op descriptors, ops, graph, engine config: alive as long as the plan
  Desc plan;
  int64_t workspace = 0;
  std::string text;
};

struct DeviceState {
  cudnnHandle_t handle = nullptr;
  void* workspace = nullptr;
  int64_t workspace_bytes = 0;
};

std::mutex g_mutex;
std::map<Key, std::unique_ptr<Plan>> g_plans;
std::map<int, DeviceState> g_devices;

int current_device() {
  int dev = 0;
  OD_CUDA_CHECK(cudaGetDevice(&dev));
  return dev;
}

cudnnDataType_t io_type(DType t) { return t == DType::F16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16; }

Key key_of(const AttentionArgs& a, int dev) {
  return Key{dev, static_cast<int>(a.q_dtype), a.batch, a.heads, a.head_dim, a.queries, a.kv_rows, a.q_stride, a.kv_stride, a.out_stride};
}

std::string shape_text(const AttentionArgs& a) {
  return std::to_string(a.batch) + "x" + std::to_string(a.heads) + "h x" + std::to_string(a.queries) + " hd" + std::to_string(a.head_dim) +
         (a.q_dtype == DType::BF16 ? " bf16" : a.q_dtype == DType::F16 ? " f16" : " other") + " (row strides q " +
         std::to_string(a.q_stride) + ", kv " + std::to_string(a.kv_stride) + ", out " +
         std::to_string(a.out_stride) + ")";
}

DeviceState& device_state(int dev) {
  DeviceState& st = g_devices[dev];
  if (!st.handle) OD_CUDNN_CHECK(cudnnCreate(&st.handle));
  return st;
}

// Builds the graph, asks the heuristics (mode A) for engine configs and keeps the first that finalizes into an
// execution plan.
std::unique_ptr<Plan> build(const AttentionArgs& a, cudnnHandle_t handle) {
  auto p = std::make_unique<Plan>();
  std::vector<Desc>& keep = p->keep;
  keep.reserve(64);
  const int64_t b = a.batch, h = a.heads, s = a.queries, d = a.head_dim, skv = a.kv_rows;
  const cudnnDataType_t io = io_type(a.q_dtype), f32 = CUDNN_DATA_FLOAT;

  auto tensor = [&](int64_t uid, cudnnDataType_t type, std::array<int64_t, 4> dims, std::array<int64_t, 4> strides, bool is_virtual,
                    bool by_value) -> const Desc& {
    Desc t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    const int64_t alignment = 16;
    set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "CUDNN_ATTR_TENSOR_DATA_TYPE");
    set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data(), "CUDNN_ATTR_TENSOR_DIMENSIONS");
    set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data(), "CUDNN_ATTR_TENSOR_STRIDES");
    set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "CUDNN_ATTR_TENSOR_UNIQUE_ID");
    set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, "CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT");
    if (is_virtual) {
      const bool yes = true;
      set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &yes, "CUDNN_ATTR_TENSOR_IS_VIRTUAL");
    }
    if (by_value) {
      const bool yes = true;
      set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes, "CUDNN_ATTR_TENSOR_IS_BY_VALUE");
    }
    finalize(t, ("tensor " + std::to_string(uid)).c_str());
    keep.push_back(std::move(t));
    return keep.back();
  };
  std::vector<cudnnBackendDescriptor_t> ops;
  auto matmul = [&](const Desc& A, const Desc& B, const Desc& C, const char* name) {
    Desc mm(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    set(mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32, "CUDNN_ATTR_MATMUL_COMP_TYPE");
    finalize(mm, "matmul descriptor");
    Desc op(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    set_desc(op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, A, "CUDNN_ATTR_OPERATION_MATMUL_ADESC");
    set_desc(op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, B, "CUDNN_ATTR_OPERATION_MATMUL_BDESC");
    set_desc(op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, C, "CUDNN_ATTR_OPERATION_MATMUL_CDESC");
    set_desc(op, CUDNN_ATTR_OPERATION_MATMUL_DESC, mm, "CUDNN_ATTR_OPERATION_MATMUL_DESC");
    finalize(op, name);
    keep.push_back(std::move(mm));
    ops.push_back(op.d);
    keep.push_back(std::move(op));
  };
  auto pointwise = [&](cudnnPointwiseMode_t mode, const Desc& X, const Desc* B, const Desc& Y, const char* name) {
    Desc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, "CUDNN_ATTR_POINTWISE_MODE");
    set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &f32, "CUDNN_ATTR_POINTWISE_MATH_PREC");
    finalize(pw, "pointwise descriptor");
    Desc op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw, "CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR");
    set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, X, "CUDNN_ATTR_OPERATION_POINTWISE_XDESC");
    if (B) set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *B, "CUDNN_ATTR_OPERATION_POINTWISE_BDESC");
    set_desc(op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, Y, "CUDNN_ATTR_OPERATION_POINTWISE_YDESC");
    finalize(op, name);
    keep.push_back(std::move(pw));
    ops.push_back(op.d);
    keep.push_back(std::move(op));
  };
  auto reduction = [&](cudnnReduceTensorOp_t mode, const Desc& X, const Desc& Y, const char* name) {
    Desc r(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    set(r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode, "CUDNN_ATTR_REDUCTION_OPERATOR");
    set(r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32, "CUDNN_ATTR_REDUCTION_COMP_TYPE");
    finalize(r, "reduction descriptor");
    Desc op(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    set_desc(op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, r, "CUDNN_ATTR_OPERATION_REDUCTION_DESC");
    set_desc(op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, X, "CUDNN_ATTR_OPERATION_REDUCTION_XDESC");
    set_desc(op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, Y, "CUDNN_ATTR_OPERATION_REDUCTION_YDESC");
    finalize(op, name);
    keep.push_back(std::move(r));
    ops.push_back(op.d);
    keep.push_back(std::move(op));
  };

  // keep is reserved: the references tensor() returns stay valid while it grows (64 > the 40-odd descriptors).
  const Desc& Q = tensor(kQ, io, {b, h, s, d}, {s * a.q_stride, d, a.q_stride, 1}, false, false);
  const Desc& KT = tensor(kK, io, {b, h, d, skv}, {skv * a.kv_stride, d, 1, a.kv_stride}, false, false);
  const Desc& V = tensor(kV, io, {b, h, skv, d}, {skv * a.kv_stride, d, a.kv_stride, 1}, false, false);
  const Desc& O = tensor(kO, io, {b, h, s, d}, {s * a.out_stride, d, a.out_stride, 1}, false, false);
  const Desc& scale = tensor(kScale, f32, {1, 1, 1, 1}, {1, 1, 1, 1}, false, true);
  const std::array<int64_t, 4> sdim{b, h, s, skv}, sstr{h * s * skv, s * skv, skv, 1};
  const std::array<int64_t, 4> rdim{b, h, s, 1}, rstr{h * s, s, 1, 1};
  const Desc& S = tensor(kVirtual + 0, f32, sdim, sstr, true, false);
  const Desc& Ss = tensor(kVirtual + 1, f32, sdim, sstr, true, false);
  const Desc& M = tensor(kVirtual + 2, f32, rdim, rstr, true, false);
  const Desc& Sub = tensor(kVirtual + 3, f32, sdim, sstr, true, false);
  const Desc& E = tensor(kVirtual + 4, f32, sdim, sstr, true, false);
  const Desc& Z = tensor(kVirtual + 5, f32, rdim, rstr, true, false);
  const Desc& LogZ = tensor(kVirtual + 6, f32, rdim, rstr, true, false);
  const Desc& Stats = tensor(kVirtual + 7, f32, rdim, rstr, true, false);
  const Desc& P = tensor(kVirtual + 8, io, sdim, sstr, true, false);

  matmul(Q, KT, S, "matmul Q·Kᵀ");
  pointwise(CUDNN_POINTWISE_MUL, S, &scale, Ss, "pointwise MUL (scale)");
  reduction(CUDNN_REDUCE_TENSOR_MAX, Ss, M, "reduction MAX");
  pointwise(CUDNN_POINTWISE_SUB, Ss, &M, Sub, "pointwise SUB");
  pointwise(CUDNN_POINTWISE_EXP, Sub, nullptr, E, "pointwise EXP");
  reduction(CUDNN_REDUCE_TENSOR_ADD, E, Z, "reduction ADD");
  pointwise(CUDNN_POINTWISE_LOG, Z, nullptr, LogZ, "pointwise LOG");
  pointwise(CUDNN_POINTWISE_ADD, M, &LogZ, Stats, "pointwise ADD (stats)");
  pointwise(CUDNN_POINTWISE_DIV, E, &Z, P, "pointwise DIV");
  matmul(P, V, O, "matmul P·V");

  Desc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "CUDNN_ATTR_OPERATIONGRAPH_HANDLE");
  set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(ops.size()), ops.data(),
      "CUDNN_ATTR_OPERATIONGRAPH_OPS");
  finalize(graph, "the operation graph (cuDNN does not support this attention graph here)");

  Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  set_desc(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph, "CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH");
  set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "CUDNN_ATTR_ENGINEHEUR_MODE");
  finalize(heur, "the engine heuristics (mode A)");
  int64_t available = 0;
  OD_CUDNN_CHECK(cudnnBackendGetAttribute(heur.d, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available, nullptr));
  if (available <= 0)
    OD_FAIL("cuDNN: the heuristics offer no engine for the attention graph of " + shape_text(a) + ": " + status_text(CUDNN_STATUS_NOT_SUPPORTED),
            kHint);
  std::vector<Desc> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < available; i++) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(configs.back().d);
  }
  int64_t returned = 0;
  OD_CUDNN_CHECK(cudnnBackendGetAttribute(heur.d, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, available, &returned, raw.data()));
  std::string refusals;
  for (int64_t i = 0; i < returned; i++) {
    Desc plan(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    set(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "CUDNN_ATTR_EXECUTION_PLAN_HANDLE");
    set(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw[i], "CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG");
    const cudnnStatus_t st = cudnnBackendFinalize(plan.d);
    if (st != CUDNN_STATUS_SUCCESS) {
      refusals += "; config " + std::to_string(i) + ": " + status_text(st);
      continue;
    }
    int64_t ws = 0, n = 0;
    OD_CUDNN_CHECK(cudnnBackendGetAttribute(plan.d, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws));
    p->plan = std::move(plan);
    p->workspace = ws;
    p->text = cudnn_attention_version() + " sdpa fprop, heuristics config " + std::to_string(i) + " of " + std::to_string(returned) +
              ", workspace " + std::to_string(ws) + " B";
    keep.push_back(std::move(graph));
    keep.push_back(std::move(heur));
    for (Desc& c : configs) keep.push_back(std::move(c));  // the plan's config among them
    return p;
  }
  OD_FAIL("cuDNN: no engine config of the heuristics' " + std::to_string(returned) + " finalizes into an execution plan for " + shape_text(a) +
              refusals,
          kHint);
}

// The cached plan for `a` (built where missing unless `stream` is capturing), with the device's state; under
// g_mutex.
Plan& plan_for(const AttentionArgs& a, cudaStream_t stream, bool may_build, DeviceState*& state) {
  const int dev = current_device();
  const Key key = key_of(a, dev);
  auto it = g_plans.find(key);
  if (it != g_plans.end()) {
    state = &device_state(dev);
    return *it->second;
  }
  if (!may_build) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    OD_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
    if (capture != cudaStreamCaptureStatusNone)
      OD_FAIL("cuDNN attention for " + shape_text(a) + " was not prepared before a CUDA graph capture (a plan cannot be built inside one)",
              "a CUDA backend defect (cudnn_attention_prepare missed this shape); OPENDIT_CUDA_GRAPHS=0 or OPENDIT_ATTENTION=own avoid it");
  }
  DeviceState& st = device_state(dev);
  std::unique_ptr<Plan> p = build(a, st.handle);
  if (p->workspace > st.workspace_bytes) {
    if (st.workspace) {
      OD_CUDA_CHECK(cudaDeviceSynchronize());  // earlier plans' runs may still use it
      OD_CUDA_CHECK(cudaFree(st.workspace));
      st.workspace = nullptr;
      st.workspace_bytes = 0;
    }
    const cudaError_t e = cudaMalloc(&st.workspace, static_cast<size_t>(p->workspace));
    if (e != cudaSuccess) {
      st.workspace = nullptr;
      OD_FAIL("CUDA: cannot allocate the cuDNN attention workspace of " + std::to_string(p->workspace) + " bytes: " + cudaGetErrorString(e),
              "the GPU is out of memory; OPENDIT_ATTENTION=own needs none");
    }
    st.workspace_bytes = p->workspace;
  }
  state = &st;
  return *(g_plans[key] = std::move(p));
}

bool aligned16(const void* ptr) { return ptr == nullptr || reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

// The library loaded at run time can run the graph: cuDNN 9, not 9.10.0/9.10.1 (whose fp16/bf16 SDPA forward has
// known bugs: the cuDNN frontend refuses those versions too).
bool runtime_ok() {
  static const bool ok = [] {
    const size_t v = cudnnGetVersion();
    return v >= 90000 && v != 91000 && v != 91001;
  }();
  return ok;
}

}  // namespace

bool cudnn_attention_fits(const AttentionArgs& a) {
  const bool io = (a.q_dtype == DType::BF16 || a.q_dtype == DType::F16) && a.kv_dtype == a.q_dtype && a.out_dtype == a.q_dtype;
  const bool plain = !a.q_tf.norm_weight && !a.k_tf.norm_weight && !a.q_tf.rope && !a.k_tf.rope && !a.mask;
  const bool whole = a.keys == a.kv_rows && a.kv_rows == a.queries && a.queries > 128 && a.batch > 0 && a.heads > 0;
  const bool dims = a.head_dim > 0 && a.head_dim % 8 == 0 && a.head_dim <= 128;
  const bool strides = a.q_stride % 8 == 0 && a.kv_stride % 8 == 0 && a.out_stride % 8 == 0 && a.q_stride >= a.heads * a.head_dim &&
                       a.kv_stride >= a.heads * a.head_dim && a.out_stride >= a.heads * a.head_dim;
  const bool ptrs = aligned16(a.q) && aligned16(a.k) && aligned16(a.v) && aligned16(a.out);
  return io && plain && whole && dims && strides && ptrs && runtime_ok();
}

void cudnn_attention_prepare(const AttentionArgs& a) {
  OD_CHECK(cudnn_attention_fits(a), "cuDNN attention prepared for arguments it does not fit: " + shape_text(a), "a CUDA backend defect");
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceState* st = nullptr;
  plan_for(a, nullptr, true, st);
}

void cudnn_attention_run(const AttentionArgs& a, cudaStream_t stream) {
  OD_CHECK(cudnn_attention_fits(a), "cuDNN attention run on arguments it does not fit: " + shape_text(a), "a CUDA backend defect");
  std::lock_guard<std::mutex> lock(g_mutex);
  DeviceState* st = nullptr;
  Plan& p = plan_for(a, stream, false, st);
  float scale = static_cast<float>(a.scale);
  int64_t uids[5] = {kQ, kK, kV, kO, kScale};
  void* ptrs[5] = {const_cast<void*>(a.q), const_cast<void*>(a.k), const_cast<void*>(a.v), a.out, &scale};
  void* workspace = p.workspace > 0 ? st->workspace : nullptr;
  Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 5, uids, "CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS");
  set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 5, ptrs, "CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS");
  set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace, "CUDNN_ATTR_VARIANT_PACK_WORKSPACE");
  finalize(pack, "the variant pack");
  OD_CUDNN_CHECK(cudnnSetStream(st->handle, stream));
  const cudnnStatus_t s = cudnnBackendExecute(st->handle, p.plan.d, pack.d);
  if (s != CUDNN_STATUS_SUCCESS)
    OD_FAIL("cuDNN: executing the attention plan for " + shape_text(a) + " (" + p.text + ") failed: " + status_text(s), kHint);
}

std::string cudnn_attention_version() {
  const size_t v = cudnnGetVersion();  // cuDNN 9: major·10000 + minor·100 + patch
  return "cuDNN " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

std::string cudnn_attention_describe(const AttentionArgs& a) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const auto it = g_plans.find(key_of(a, current_device()));
  return it == g_plans.end() ? std::string() : it->second->text;
}

}  // namespace od::cuda
