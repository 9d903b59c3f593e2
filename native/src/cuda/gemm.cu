// cuBLASLt under the `linear` op (cuda/gemm.h). Built only where cuBLASLt's headers and library are found.
#include "cuda/gemm.h"

#include <cublasLt.h>

#include <string>

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

    cublasLtMatmulPreference_t pref = nullptr;
    OD_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint32_t align_a = key.align_w, align_b = key.align_x, align_d = key.align_y;
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace));
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a));
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b));
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof(align_d));
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof(align_d));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cublasLtMatmulAlgoGetHeuristic(static_cast<cublasLtHandle_t>(handle_), p->desc, p->a, p->b, p->d, p->d, pref, 1,
                                          &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found < 1 || result.state != CUBLAS_STATUS_SUCCESS) {
      last = std::string("cublasLtMatmulAlgoGetHeuristic: ") +
             (st != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusName(st) : found < 1 ? "no algorithm" : cublasLtGetStatusName(result.state));
      continue;
    }
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

}  // namespace od::cuda
