// The CUDA backend's fusions of step-program ops: which consecutive ops of the plan's step program run as one
// kernel (or one GEMM), decided once per run before the step loop (cuda/backend.cu calls plan() from
// set_graphs_allowed, outside any CUDA graph capture, and asks at() for each op it enqueues). The plan's numbers
// stay the CPU backend's: each fusion computes what its ops compute, with fewer roundings to storage in between.
//
// - linear L → gate G → add A, the gated residual of a DiT block (the attention projection, the MLP's fc2):
//   x ← x + g_s ⊙ (h · Wᵀ + b), as ONE cuBLASLt GEMM with the residual x as C = D (beta = 1) and the sample's gate
//   g_s as a per-feature alpha vector (cuda/gemm.h ResidualKey), batched over the samples. cuBLASLt adds the bias
//   after alpha, so a tiny kernel first writes, per step, the gate rows of the plan's modulation buffer as fp32
//   vectors and the products g_s ⊙ b (fp32 where cuBLASLt takes an fp32 bias, else the residual's dtype) into
//   device memory allocated here. The linear's output P and the gate's Q are never written.
// - linear L → permute → gate G → add A, STDiT's temporal branch, whose projection comes back from (sample, token,
//   frame) rows to (sample, frame, token) before its gate: the same GEMM, per sample one batch per frame whose x
//   rows lie `frames` rows apart (the permute is [0, 2, 1, 3] of the linear's rows; a gate sample is one permute
//   batch). Its permuted copy is never written either.
// - linear L → add A (the cross-attention projection): x ← x + (h · Wᵀ + b), the same GEMM with alpha 1.
// - gate G → add A where G's input is not a fused linear's: one elementwise pass (cuda/gate.cu run_gated_add).
//
// A chain fuses only where: its ops are consecutive in plan.step and run on exactly the same steps and ranks (same
// pab, mlp, stage, phase, block and block kind, none on the latent ring) of this rank's stage; the intermediate
// outputs (P, the permuted copy, Q) are activations whose live range ends at the op consuming them, and the add's
// other operand (the residual) is none of them; the add writes the residual in place; the linear has no column
// views (in_columns, out_columns, pad_columns) and no activation, reads x in W's dtype (f32, bf16 or f16), and x
// does not share plan bytes with the residual; the residual's dtype is W's or f32; the gate spans the linear's
// rows and features. A GEMM cuBLASLt has no algorithm for (the alpha-vector mode on some dtypes) is not fused: its
// ops run as before (the gate and add still as one pass), said once per process on stderr.
//
// Off where the backend turns it off: OPENDIT_CUDA_FUSE=0, and runs with captures (a capture may read P or Q).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/gemm.h"
#include "cuda/ops.h"
#include "plan/plan.h"
#include "runtime/backend.h"
#include "runtime/memory.h"

namespace od::cuda {

class Fusion {
 public:
  // What the backend does at one step op.
  struct Site {
    enum class Kind : uint8_t {
      Own,          // runs as itself
      Skip,         // computed by a later op's fused kernel: nothing to enqueue
      GatedAdd,     // the add of a gate → add pair: one pass (the gate `unfused` runs first where it does not apply)
      GemmResidual  // the add ending a linear (→ gate) → add chain: the residual GEMM
    };
    Kind kind = Kind::Own;
    std::string profile_key;        // OPENDIT_CUDA_PROFILE's name: "linear+gate+add (spatial) 32768x1152->1152"
    const Op* unfused = nullptr;    // GatedAdd: the gate op
    const GateOp* gate = nullptr;   // GatedAdd, and a gated GemmResidual
    const AddOp* add = nullptr;     // GatedAdd
    // GemmResidual: the prepared GEMM and its device operands, resolved once.
    ResidualKey key;
    std::string where;              // the ops, for errors
    const void* w = nullptr;
    const void* x = nullptr;
    void* y = nullptr;              // the residual, read and written in place
    const void* bias = nullptr;     // the linear's bias weight (null: none)
    DType bias_dtype = DType::F32;
    const void* mod = nullptr;      // gated: the modulation buffer, [samples, chunks, out]
    DType mod_dtype = DType::F32;
    int64_t chunks = 0, chunk = 0;
    int64_t samples = 1;            // gated: the gate vectors written per step, `sample_stride` values apart
    int64_t sample_stride = 0;
  };

  Fusion() = default;
  ~Fusion();
  Fusion(const Fusion&) = delete;
  Fusion& operator=(const Fusion&) = delete;

  // Decides the fusions of `host`'s step program for this rank, prepares their GEMMs on `gemm` and allocates the
  // gate vectors' device memory. ctx.dev must hold the device memory (the backend's prepare ran).
  void plan(const Memory& host, const Context& ctx, Gemm& gemm);
  // Every op runs as itself again; the device memory is freed.
  void reset();
  bool active() const { return !sites_.empty(); }
  // The site of a step op of the planned plan (nullptr: it runs as itself, or is not a step op).
  const Site* at(const Op& op) const;
  // Enqueues the fusion ending at `site` (GatedAdd or GemmResidual) on ctx.stream. False where the gated add's
  // vectorised pass does not apply (nothing launched): the caller runs site.unfused, then the op.
  bool run(const Site& site, Context& ctx) const;
  FusionCounts counts() const { return counts_; }
  int64_t device_bytes() const { return static_cast<int64_t>(vector_bytes_); }

 private:
  const Plan* plan_ = nullptr;
  std::vector<Site> sites_;  // by position in plan.step
  Gemm* gemm_ = nullptr;
  void* vectors_ = nullptr;  // the gate vectors and gated biases of the GEMM being run (one region: ops run in order)
  size_t vector_bytes_ = 0;
  size_t bias_offset_ = 0;   // where the gated biases start in vectors_
  FusionCounts counts_;
};

}  // namespace od::cuda
