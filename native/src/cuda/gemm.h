// The CUDA backend's GEMM: y = epilogue(x · Wᵀ [+ b]) on cuBLASLt, for the `linear` op (cuda/linear.cu).
//
// Layouts, as the checkpoint and the plan store them: x row-major [rows, in] with a row stride ldx ≥ in (in_columns:
// a pointer offset plus the wider stride), W row-major [out, in], y row-major [rows, out] with a row stride ldy ≥ out
// (out_columns). cuBLASLt is column-major, so the GEMM computes yᵀ = W · xᵀ: A = W seen column-major [in, out]
// (ld in) transposed, B = x seen column-major [in, rows] (ld ldx), D = y seen column-major [out, rows] (ld ldy); the
// bias is a vector over D's rows, the output features, as cuBLASLt's BIAS epilogue wants.
//
// Types: A and B share one dtype (f32, bf16 or f16); D is that dtype or f32; the bias, when given, is D's dtype.
// Accumulation and scaling are fp32 (CUBLAS_COMPUTE_32F; f32 inputs ask for the pedantic compute type first, so
// no TF32 sneaks in and CPU parity stays tight). GELU is cuBLASLt's epilogue, the tanh approximation (what the
// plan's gelu_tanh is), applied to the fp32 value before the one rounding to D's dtype (linear.cu uses it for 16-bit
// outputs only: its fp32 tanh may be a fast approximation, fine below bf16/f16 rounding, not for fp32 parity).
//
// Each distinct problem (dtypes, sizes, strides, epilogue, pointer alignments) gets its descriptors and the
// heuristic's best algorithm once, in prepare() (the backend calls it from check); run() only enqueues. This header
// keeps cuBLASLt's types opaque so the files that use it compile where cuBLASLt's headers are absent.
//
// The residual variant (ResidualKey; cuda/fusion.cu fuses a DiT block's linear, gate and residual add into it):
// y ← alpha ⊙ (x · Wᵀ) + y + bias, the residual y read and written in place (cuBLASLt's C = D with beta = 1). With
// alpha_vector, alpha is a device fp32 vector over the output features (pointer mode ALPHA_DEVICE_VECTOR_BETA_HOST).
// The rows may run as a strided batch (x and y advance their batch strides, W is shared with batch stride 0, alpha
// and bias advance `vector_stride` values: ALPHA_VECTOR_BATCH_STRIDE, BIAS_BATCH_STRIDE), x's rows may lie `ldx`
// apart, and the key may ask for several such GEMMs in turn (`calls`, each advancing x, y and the vectors): one
// batch per sample of a block's residual, or, for the temporal branch whose output is permuted back before its
// gate, one call per sample of one batch per frame reading every frames-th row of x. cuBLASLt adds the bias after
// the alpha scaling (its epilogue input is alpha·(A·B) + beta·C + bias), so a gated bias must come already
// multiplied by the gate. The bias may be fp32 for a 16-bit y (BIAS_DATA_TYPE), so the gate·bias products are not
// rounded; where cuBLASLt has no algorithm for that, the caller asks again with y's dtype. prepare_residual reports
// "no algorithm" instead of failing, so the backend can run the ops unfused.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "plan/plan.h"
#include "runtime/memory.h"

// Checks a cuBLASLt call (only in files that include <cublasLt.h>): a failure is an od::Error naming the call.
#define OD_CUBLAS_CHECK(call)                                                                                   \
  do {                                                                                                          \
    cublasStatus_t od_blas_status_ = (call);                                                                    \
    if (od_blas_status_ != CUBLAS_STATUS_SUCCESS)                                                               \
      ::od::fail(__FILE__, __LINE__,                                                                            \
                 std::string("cuBLASLt: ") + #call + " failed: " + cublasLtGetStatusName(od_blas_status_) + " (" + \
                     cublasLtGetStatusString(od_blas_status_) + ")",                                            \
                 "");                                                                                           \
  } while (0)

namespace od::cuda {

enum class Epilogue { None, Bias, Gelu, GeluBias };

// The largest power of two (at most 256) dividing an address or byte offset: what cuBLASLt's heuristic needs to
// know about a pointer. 0 counts as 256-aligned.
uint32_t alignment_of(uintptr_t address);

struct GemmKey {
  DType ab = DType::BF16;  // W and x
  DType d = DType::BF16;   // y (and the bias)
  int64_t rows = 0, in = 0, out = 0, ldx = 0, ldy = 0;
  Epilogue epilogue = Epilogue::None;
  uint32_t align_w = 256, align_x = 256, align_y = 256, align_bias = 256;
  auto tie() const {
    return std::make_tuple(static_cast<int>(ab), static_cast<int>(d), rows, in, out, ldx, ldy, static_cast<int>(epilogue),
                           align_w, align_x, align_y, align_bias);
  }
  bool operator<(const GemmKey& o) const { return tie() < o.tie(); }
  std::string describe() const;
};

// A residual GEMM (see the header comment), one batch: x [rows, in] with rows `ldx` apart, y [rows, out] contiguous,
// W [out, in]. Offsets and strides count elements of the operand's dtype (the vectors' in values).
struct ResidualKey {
  DType ab = DType::BF16;  // W and x
  DType d = DType::BF16;   // y, the residual (C = D)
  int64_t rows = 0, in = 0, out = 0, ldx = 0;
  int64_t batches = 1, batch_x = 0, batch_y = 0;  // a strided batch: from one batch's x (y) to the next
  bool alpha_vector = false;     // alpha: a device fp32 vector of `out` values per batch; otherwise 1
  bool bias = false;             // a bias vector of `out` values per batch
  DType bias_type = DType::F32;
  int64_t vector_stride = 0;     // from one batch's alpha (and bias) vector to the next (0: one for every batch)
  int64_t calls = 1, call_x = 0, call_y = 0, call_vector = 0;  // GEMMs enqueued in turn, and their offsets
  uint32_t align_w = 256, align_x = 256, align_y = 256, align_bias = 256;  // the minimum over every batch and call
  auto tie() const {
    return std::make_tuple(static_cast<int>(ab), static_cast<int>(d), rows, in, out, ldx, batches, batch_x, batch_y, alpha_vector,
                           bias, static_cast<int>(bias_type), vector_stride, calls, call_x, call_y, call_vector, align_w, align_x,
                           align_y, align_bias);
  }
  bool operator<(const ResidualKey& o) const { return tie() < o.tie(); }
  std::string describe() const;
};

// Owns the cuBLASLt handle, its workspace and the prepared problems of one backend (one device, one stream).
class Gemm {
 public:
  static constexpr size_t kWorkspaceBytes = size_t{64} << 20;
  Gemm();  // on the current device
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  void* handle() const { return handle_; }  // cublasLtHandle_t
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return kWorkspaceBytes; }
  int64_t device_bytes() const { return static_cast<int64_t>(kWorkspaceBytes); }

  // Creates the descriptors and picks the algorithm of a problem (a no-op when prepared already). `where` names the
  // op in errors.
  void prepare(const GemmKey& key, const std::string& where);
  // Enqueues y = epilogue(x · Wᵀ [+ bias]) on `stream`. The pointers' alignments must be those of the key. A key
  // not prepared is prepared here (a heuristic query: the backend prepares every linear in check, so the step loop
  // never gets here).
  void run(const GemmKey& key, const void* w, const void* x, const void* bias, void* y, cudaStream_t stream,
           const std::string& where);

  // The residual variant: creates the descriptors and picks the algorithm once (outside any CUDA graph capture).
  // Returns false, with the reason in `why`, where cuBLASLt has no algorithm for it (the caller then runs the ops
  // unfused); fails on other errors.
  bool prepare_residual(const ResidualKey& key, const std::string& where, std::string& why);
  // Enqueues the key's calls of y ← alpha ⊙ (x · Wᵀ) + y + bias for a key prepare_residual accepted (fails for any
  // other: no heuristic runs here). `alpha`: device fp32 vectors with alpha_vector, else unused; `bias`: null
  // without key.bias. Pointers are the first call's.
  void run_residual(const ResidualKey& key, const void* w, const void* x, const float* alpha, const void* bias, void* y,
                    cudaStream_t stream, const std::string& where);

  // The Gemm whose handle is `lt` (Context::lt of the kernels); fails when none is.
  static Gemm& of(void* lt);

 private:
  struct Problem;
  Problem& problem(const GemmKey& key, const std::string& where);
  void* handle_ = nullptr;
  void* workspace_ = nullptr;
  std::map<GemmKey, std::unique_ptr<Problem>> problems_;
  std::map<ResidualKey, std::unique_ptr<Problem>> residual_problems_;
  std::map<ResidualKey, std::string> residual_refused_;  // keys without an algorithm, and why
};

// ---- the linear op's use of it (cuda/linear.cu) ----

// Scratch bytes the op's kernels need (x converted to W's dtype; the fp32 results of a staged GEMM), from the plan.
size_t linear_scratch_bytes(const LinearOp& op, const Memory& host);
// Prepares the op's GEMM from the plan's dtypes and offsets (the device arena keeps the plan's offsets and its
// base is 256-byte aligned, the weights are placed 256-byte aligned: the pointers' alignments are known before
// the device memory exists). The CUDA backend calls it from check_op.
void prepare_linear(const LinearOp& op, const Memory& host, Gemm& gemm, const std::string& where);

}  // namespace od::cuda
