// cuBLASLt under the `linear` op and the fused residual GEMM (cuda/gemm.h). Built only where cuBLASLt's headers and
// library are found.
#include "cuda/gemm.h"

#include <cublasLt.h>

#include <string>
#include <utility>

#include "core/error.h"
#include "cuda/check.h"

namespace od::cuda {
namespace {

// dtype names without plan/parse.cpp, so the standalone GEMM test links this file alone (with core/error.cpp).
const char* type_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
  }
  return "?";
}

int64_t dtype_size(DType t) { return t == DType::BF16 || t == DType::F16 ? 2 : 4; }

cudaDataType_t cuda_type(DType t, const std::string& where) {
  switch (t) {
    case DType::F32: return CUDA_R_32F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    default: break;
  }
  OD_FAIL(where + ": a GEMM on " + type_name(t) + " values", "the linear op computes on f32, bf16 or f16 only");
}

cublasLtEpilogue_t lt_epilogue(Epilogue e) {
  switch (e) {
    case Epilogue::Bias: return CUBLASLT_EPILOGUE_BIAS;
    case Epilogue::Gelu: return CUBLASLT_EPILOGUE_GELU;
    case Epilogue::GeluBias: return CUBLASLT_EPILOGUE_GELU_BIAS;
    default: return CUBLASLT_EPILOGUE_DEFAULT;
  }
}

bool has_bias(Epilogue e) { return e == Epilogue::Bias || e == Epilogue::GeluBias; }

const char* epilogue_name(Epilogue e) {
  switch (e) {
    case Epilogue::Bias: return "bias";
    case Epilogue::Gelu: return "gelu";
    case Epilogue::GeluBias: return "bias+gelu";
    default: return "none";
  }
}

// The heuristic's best algorithm for a described problem (C = D) whose pointers have the given alignments, within
// `workspace` bytes. Returns false, with the reason in `why`, where there is none.
bool best_algorithm(cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                    cublasLtMatrixLayout_t d, uint32_t align_a, uint32_t align_b, uint32_t align_d, uint64_t workspace,
                    cublasLtMatmulHeuristicResult_t& result, std::string& why) {
  cublasLtMatmulPreference_t pref = nullptr;
  OD_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace));
  if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a));
  if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b));
  if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof(align_d));
  if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof(align_d));
  int found = 0;
  result = cublasLtMatmulHeuristicResult_t{};
  if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, d, d, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (st == CUBLAS_STATUS_SUCCESS && found >= 1 && result.state == CUBLAS_STATUS_SUCCESS) return true;
  why = std::string("cublasLtMatmulAlgoGetHeuristic: ") +
        (st != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusName(st) : found < 1 ? "no algorithm" : cublasLtGetStatusName(result.state));
  return false;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::map<void*, Gemm*>& registry() {
  static std::map<void*, Gemm*> r;
  return r;
}

}  // namespace

uint32_t alignment_of(uintptr_t address) {
  uint32_t a = 1;
  while (a < 256 && address % (2 * a) == 0) a *= 2;
  return a;
}

std::string GemmKey::describe() const {
  return std::string(type_name(ab)) + "→" + type_name(d) + " GEMM rows " + std::to_string(rows) + ", in " +
         std::to_string(in) + ", out " + std::to_string(out) + ", ldx " + std::to_string(ldx) + ", ldy " +
         std::to_string(ldy) + ", epilogue " + epilogue_name(epilogue) + ", alignments W/x/y/bias " +
         std::to_string(align_w) + "/" + std::to_string(align_x) + "/" + std::to_string(align_y) + "/" +
         std::to_string(align_bias);
}

std::string ResidualKey::describe() const {
  std::string t = std::string(type_name(ab)) + "→" + type_name(d) + " residual GEMM rows " + std::to_string(rows) + ", in " +
                  std::to_string(in) + ", out " + std::to_string(out) + ", ldx " + std::to_string(ldx);
  if (batches > 1)
    t += ", " + std::to_string(batches) + " batches (x every " + std::to_string(batch_x) + ", y every " + std::to_string(batch_y) + ")";
  if (calls > 1)
    t += ", " + std::to_string(calls) + " calls (x every " + std::to_string(call_x) + ", y every " + std::to_string(call_y) +
         ", vectors every " + std::to_string(call_vector) + ")";
  t += alpha_vector ? ", alpha vectors " + std::to_string(vector_stride) + " apart" : std::string(", alpha 1");
  t += bias ? std::string(", bias ") + type_name(bias_type) : std::string(", no bias");
  return t + ", alignments W/x/y/bias " + std::to_string(align_w) + "/" + std::to_string(align_x) + "/" + std::to_string(align_y) + "/" +
         std::to_string(align_bias);
}

struct Gemm::Problem {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool bias = false;
  ~Problem() {
    // No checks: destructors must not throw, and a failing destroy leaks at most a descriptor.
    if (desc) cublasLtMatmulDescDestroy(desc);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (d) cublasLtMatrixLayoutDestroy(d);
  }
};

Gemm::Gemm() {
  cublasLtHandle_t h = nullptr;
  OD_CUBLAS_CHECK(cublasLtCreate(&h));
  handle_ = h;
  const cudaError_t st = cudaMalloc(&workspace_, kWorkspaceBytes);
  if (st != cudaSuccess) {
    cublasLtDestroy(h);
    handle_ = nullptr;
    workspace_ = nullptr;
    OD_FAIL(std::string("CUDA: cudaMalloc of the 64 MiB cuBLASLt workspace failed: ") + cudaGetErrorString(st),
            "the GPU is out of memory");
  }
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[handle_] = this;
}

Gemm::~Gemm() {
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    registry().erase(handle_);
  }
  problems_.clear();
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublasLtDestroy(static_cast<cublasLtHandle_t>(handle_));
}

Gemm& Gemm::of(void* lt) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  auto it = registry().find(lt);
  OD_CHECK(it != registry().end(), "no cuBLASLt GEMM state for this context's handle",
           "a CUDA backend defect: Context::lt must be the handle of the backend's cuda::Gemm");
  return *it->second;
}

Gemm::Problem& Gemm::problem(const GemmKey& key, const std::string& where) {
  auto it = problems_.find(key);
  if (it != problems_.end()) return *it->second;

  const std::string what = where + ": " + key.describe();
  OD_CHECK(key.rows > 0 && key.in > 0 && key.out > 0 && key.ldx >= key.in && key.ldy >= key.out,
           what + ": sizes cuBLASLt cannot take", "a CUDA backend defect (empty GEMMs are skipped by the caller)");
  OD_CHECK(key.d == key.ab || key.d == DType::F32, what + ": the output dtype must be W's or f32",
           "a CUDA backend defect (linear.cu stages other outputs through f32)");
  const cudaDataType_t ab = cuda_type(key.ab, what), dt = cuda_type(key.d, what);
  const bool bias = has_bias(key.epilogue);
  const cublasLtEpilogue_t epilogue = lt_epilogue(key.epilogue);
  const int32_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  const uint64_t workspace = kWorkspaceBytes;
  // The heuristic reads the bias pointer only for its alignment: an address with the key's alignment stands in.
  const void* fake_bias = reinterpret_cast<const void*>((uintptr_t{1} << 20) + key.align_bias % 256);

  // f32: the pedantic compute type first (no TF32, no reduced-precision shortcuts); plain 32F where unsupported.
  const cublasComputeType_t computes[2] = {key.ab == DType::F32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F,
                                           CUBLAS_COMPUTE_32F};
  const int tries = key.ab == DType::F32 ? 2 : 1;
  std::string last;
  for (int t = 0; t < tries; ++t) {
    auto p = std::make_unique<Problem>();
    p->bias = bias;
    if (cublasLtMatmulDescCreate(&p->desc, computes[t], CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) {
      last = "cublasLtMatmulDescCreate refused the compute type";
      continue;
    }
    OD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
    OD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
    OD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    if (bias)
      OD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &fake_bias, sizeof(fake_bias)));
    // Column-major views: A = W [in, out] (ld in, transposed by TRANSA), B = x [in, rows] (ld ldx), D = y [out, rows].
    OD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, ab, static_cast<uint64_t>(key.in), static_cast<uint64_t>(key.out), key.in));
    OD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, ab, static_cast<uint64_t>(key.in), static_cast<uint64_t>(key.rows), key.ldx));
    OD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->d, dt, static_cast<uint64_t>(key.out), static_cast<uint64_t>(key.rows), key.ldy));

    cublasLtMatmulHeuristicResult_t result{};
    if (!best_algorithm(static_cast<cublasLtHandle_t>(handle_), p->desc, p->a, p->b, p->d, key.align_w, key.align_x, key.align_y,
                        workspace, result, last))
      continue;
    OD_CHECK(result.workspaceSize <= kWorkspaceBytes, what + ": the algorithm wants more workspace than allowed",
             "a cuBLASLt defect");
    p->algo = result.algo;
    Problem& ref = *p;
    problems_.emplace(key, std::move(p));
    return ref;
  }
  OD_FAIL(what + ": cuBLASLt has no algorithm for it (" + last + ")",
          "unusual strides or alignments; a CUDA backend defect if the sizes are ordinary");
}

void Gemm::prepare(const GemmKey& key, const std::string& where) { problem(key, where); }

void Gemm::run(const GemmKey& key, const void* w, const void* x, const void* bias, void* y, cudaStream_t stream,
               const std::string& where) {
  Problem& p = problem(key, where);
  if (p.bias) {
    OD_CHECK(bias, where + ": a bias epilogue without a bias", "a CUDA backend defect");
    OD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  }
  const float alpha = 1.0f, beta = 0.0f;
  // beta = 0: C is not read; it is D itself (same layout), as cuBLASLt allows.
  OD_CUBLAS_CHECK(cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.d, y, p.d,
                                 &p.algo, workspace_, kWorkspaceBytes, stream));
}

bool Gemm::prepare_residual(const ResidualKey& key, const std::string& where, std::string& why) {
  if (residual_problems_.count(key)) return true;
  if (const auto refused = residual_refused_.find(key); refused != residual_refused_.end()) {
    why = refused->second;
    return false;
  }
  const std::string what = where + ": " + key.describe();
  const char* defect = "a CUDA backend defect (cuda/fusion.cu builds residual keys of non-empty, non-overlapping GEMMs)";
  OD_CHECK(key.rows > 0 && key.in > 0 && key.out > 0 && key.ldx >= key.in && key.batches >= 1 && key.calls >= 1,
           what + ": sizes cuBLASLt cannot take", defect);
  // Batches (and calls) write disjoint rows of y; x's batches may interleave (they are only read).
  OD_CHECK(key.batches == 1 || key.batch_y >= key.rows * key.out, what + ": the batches' outputs overlap", defect);
  OD_CHECK(key.d == key.ab || key.d == DType::F32, what + ": the residual's dtype must be W's or f32", defect);
  OD_CHECK(!key.alpha_vector || key.batches == 1 || key.vector_stride == 0 || key.vector_stride >= key.out,
           what + ": the batches' alpha vectors overlap", defect);
  const cudaDataType_t ab = cuda_type(key.ab, what), dt = cuda_type(key.d, what), bt = cuda_type(key.bias_type, what);
  const int32_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
  const cublasLtEpilogue_t epilogue = key.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  const int32_t pointer_mode = key.alpha_vector ? CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST : CUBLASLT_POINTER_MODE_HOST;
  const int32_t bias_type = static_cast<int32_t>(bt);
  const int64_t vector_stride = key.vector_stride;
  const int32_t batches = static_cast<int32_t>(key.batches);
  const void* fake_bias = reinterpret_cast<const void*>((uintptr_t{1} << 20) + key.align_bias % 256);

  const cublasComputeType_t computes[2] = {key.ab == DType::F32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F,
                                           CUBLAS_COMPUTE_32F};
  const int tries = key.ab == DType::F32 ? 2 : 1;
  std::string last;
  for (int t = 0; t < tries; ++t) {
    auto p = std::make_unique<Problem>();
    p->bias = key.bias;
    if (cublasLtMatmulDescCreate(&p->desc, computes[t], CUDA_R_32F) != CUBLAS_STATUS_SUCCESS) {
      last = "cublasLtMatmulDescCreate refused the compute type";
      continue;
    }
    OD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof(transa)));
    OD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof(transb)));
    OD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    // The attributes of this variant a cuBLASLt version may refuse: a refusal means no algorithm, not a failure.
    cublasStatus_t st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pointer_mode, sizeof(pointer_mode));
    if (st == CUBLAS_STATUS_SUCCESS && key.bias)
      st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &fake_bias, sizeof(fake_bias));
    if (st == CUBLAS_STATUS_SUCCESS && key.bias && key.bias_type != key.d)
      st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type));
    if (st == CUBLAS_STATUS_SUCCESS && key.batches > 1 && key.alpha_vector)
      st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_ALPHA_VECTOR_BATCH_STRIDE, &vector_stride, sizeof(vector_stride));
    if (st == CUBLAS_STATUS_SUCCESS && key.batches > 1 && key.bias)
      st = cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, &vector_stride, sizeof(vector_stride));
    // Column-major views of one batch: A = W [in, out] (transposed), B = x [in, rows] (ld ldx), C = D = y [out, rows].
    OD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, ab, static_cast<uint64_t>(key.in), static_cast<uint64_t>(key.out), key.in));
    OD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, ab, static_cast<uint64_t>(key.in), static_cast<uint64_t>(key.rows), key.ldx));
    OD_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->d, dt, static_cast<uint64_t>(key.out), static_cast<uint64_t>(key.rows), key.out));
    if (key.batches > 1) {
      const std::pair<cublasLtMatrixLayout_t, int64_t> layouts[3] = {{p->a, int64_t{0}}, {p->b, key.batch_x}, {p->d, key.batch_y}};
      for (const auto& [layout, stride] : layouts) {
        if (st == CUBLAS_STATUS_SUCCESS)
          st = cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batches, sizeof(batches));
        if (st == CUBLAS_STATUS_SUCCESS)
          st = cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride));
      }
    }
    if (st != CUBLAS_STATUS_SUCCESS) {
      last = std::string("an attribute of the variant was refused: ") + cublasLtGetStatusName(st);
      continue;
    }
    cublasLtMatmulHeuristicResult_t result{};
    if (!best_algorithm(static_cast<cublasLtHandle_t>(handle_), p->desc, p->a, p->b, p->d, key.align_w, key.align_x, key.align_y,
                        kWorkspaceBytes, result, last))
      continue;
    OD_CHECK(result.workspaceSize <= kWorkspaceBytes, what + ": the algorithm wants more workspace than allowed", "a cuBLASLt defect");
    p->algo = result.algo;
    residual_problems_.emplace(key, std::move(p));
    return true;
  }
  why = "cuBLASLt has no algorithm for it (" + last + ")";
  residual_refused_.emplace(key, why);
  return false;
}

void Gemm::run_residual(const ResidualKey& key, const void* w, const void* x, const float* alpha, const void* bias, void* y,
                        cudaStream_t stream, const std::string& where) {
  const auto it = residual_problems_.find(key);
  OD_CHECK(it != residual_problems_.end(), where + ": " + key.describe() + " was not prepared",
           "a CUDA backend defect: cuda/fusion.cu prepares every fused GEMM before the step loop, outside any graph capture");
  Problem& p = *it->second;
  OD_CHECK(!p.bias || bias, where + ": a bias epilogue without a bias", "a CUDA backend defect");
  OD_CHECK(!key.alpha_vector || alpha, where + ": an alpha-vector GEMM without its vectors", "a CUDA backend defect");
  const float one = 1.0f;
  const int64_t xb = dtype_size(key.ab), yb = dtype_size(key.d), bb = dtype_size(key.bias_type);
  for (int64_t c = 0; c < key.calls; ++c) {
    const void* xc = static_cast<const uint8_t*>(x) + c * key.call_x * xb;
    void* yc = static_cast<uint8_t*>(y) + c * key.call_y * yb;
    if (p.bias) {
      const void* bc = static_cast<const uint8_t*>(bias) + (key.alpha_vector ? c * key.call_vector * bb : 0);
      OD_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bc, sizeof(bc)));
    }
    // alpha: the device vectors (pointer mode ALPHA_DEVICE_VECTOR_BETA_HOST) or the host scalar 1; beta: host 1.
    const void* alpha_arg = key.alpha_vector ? static_cast<const void*>(alpha + c * key.call_vector) : static_cast<const void*>(&one);
    OD_CUBLAS_CHECK(cublasLtMatmul(static_cast<cublasLtHandle_t>(handle_), p.desc, alpha_arg, w, p.a, xc, p.b, &one, yc, p.d, yc, p.d,
                                   &p.algo, workspace_, kWorkspaceBytes, stream));
  }
}

}  // namespace od::cuda
