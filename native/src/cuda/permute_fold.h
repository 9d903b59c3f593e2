// The permutes around STDiT's temporal attention, folded into the attention's reads (and writes) on the CUDA
// backend. Each temporal branch of an STDiT-family plan (stdit, stdit3, latte, opensora-plan) runs
//
//   P1: permute x [B, T, S, D] → [B, S, T, D]        (T frames, S tokens a frame)
//   linear(s) of P1's output → qkv                    (one packed qkv linear, or q, k, v linears into its columns)
//   self_attention(batch = B·S, seq = T) → attn       (sequence n = (b, s) = (n / S, n % S))
//   linear attn → proj
//   P2: permute proj [B, S, T, D] → [B, T, S, D]
//   the op reading P2's output (the gate, or DSP's all_to_all)
//
// A linear is row-wise, so it commutes with a permute of its rows: the qkv linears can read x itself (rows in
// [B, T, S] order) and write qkv in that order, and the attention then reads sequence n's row i at row
// b·T·S + i·S + s (AttentionArgs::seq_inner, the single-tile kernel for T ≤ 128). Two folds:
//   - the input fold: P1 is not run, the linears read P1's input, the attention reads qkv in [B, T, S] order and
//     writes its output in the order planned ([B, S, T]); nothing after the attention changes (the proj → P2 → gate
//     → add chain may be fused elsewhere: cuda/fusion.h);
//   - the full fold, where P2 and its reader are not taken by another fusion: also the attention writes its output
//     in [B, T, S] order, so the proj's output is already P2's; P2 is not run and its reader reads the proj's
//     output instead.
// A fold applies only where it is valid: the ops are consecutive in plan.step and run on the same steps and ranks
// (pab, mlp, stage, phase, block, block kind, not on the latent ring); P1's output is read by the linears only,
// qkv by the attention only, the attention's output by the proj only, the proj's by P2 only and P2's by the reader
// only (the plan's live ranges), all activations; no add_rows between P1 and the linears (block 0's positional
// embedding is per row of the permuted order); no op that runs between P1 and the last linear writes bytes of P1's
// input, and none between the proj and the reader (the reader included) writes bytes of the proj's output (the
// plan's offsets: the planner let those bytes go once the permutes had read them).
//
// Decided once per run before the step loop, where no capture reads buffers mid-step (the backend's
// set_graphs_allowed, like its other fusions); nothing is allocated in the step loop.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cuda/ops.h"
#include "plan/plan.h"

namespace od::cuda {

class Gemm;

// Where a decomposed sequence's rows lie in a buffer of rows (AttentionArgs::seq_inner), counted in rows: sequence
// n = (n / inner, n % inner) starts at row outer·(n / inner) + inner_rows·(n % inner) and its token i is `step`
// rows further per token.
struct SequenceRows {
  int64_t outer = 0, inner_rows = 0, step = 0;
};
// A self_attention read (qkv) and written (out) in another row order, `inner` sequences per outer group.
struct SequenceLayout {
  int64_t inner = 0;
  SequenceRows qkv, out;
};

// self_attention over `layout` (cuda/self_attention.cu): the op's own kernel arguments with the decomposition; an
// op with ring or kv_cache fails (never folded).
void run_self_attention_in_layout(const SelfAttentionOp& op, const SequenceLayout& layout, Context& ctx);

// One recognised temporal branch: indices (= op ids) into plan.step.
struct PermuteFold {
  int to_sequences = -1;         // P1
  std::vector<int> linears;      // the qkv linear(s)
  int attention = -1;
  int proj = -1;                 // the full fold only (else −1), as the next three
  int back = -1;                 // P2
  int reader = -1;
  bool full = false;
  SequenceLayout layout;
};

// Whether another fusion of the backend already runs a step op (its Fusion::Site is not Own): such ops are not
// folded (a full fold's reader read by a fused kernel would still read P2's output).
using TakenByFusion = std::function<bool(const Op&)>;

// The analysis alone, on the plan (no device): every fold of plan.step, in order. `notes` (optional) gets a line
// per temporal permute not folded, or folded only at its input, saying why.
std::vector<PermuteFold> find_permute_folds(const Plan& plan, const TakenByFusion& taken, std::vector<std::string>* notes);

class PermuteFolds {
 public:
  // find_permute_folds of host.plan() (previous folds are dropped), then the rewritten linears, their GEMMs
  // prepared on `gemm` now (outside any capture); a fold whose linears cannot be prepared, or would need more
  // scratch than planned, is dropped (with a note).
  void plan(const Memory& host, Gemm& gemm, const TakenByFusion& taken, std::vector<std::string>* notes);
  void clear();
  bool active() const { return !folds_.empty(); }
  const std::vector<PermuteFold>& folds() const { return folds_; }

  // At a step op of the planned plan: whether it is not run (P1; P2 of a full fold) ...
  bool skipped(const Op& op) const;
  // ... the op to run instead of it (a qkv linear reading P1's input; a full fold's reader reading the proj's
  // output), null where it runs as planned ...
  const Op* rewritten(const Op& op) const;
  // ... and whether it is a folded attention, which run_attention runs in its layout on ctx.stream (returning
  // true; false, launching nothing, for any other op).
  bool folded_attention(const Op& op) const;
  bool run_attention(const Op& op, Context& ctx) const;

 private:
  int index_of(const Op& op) const;  // op's index in plan_->step, or −1 where op is not one of its step ops

  const Plan* plan_ = nullptr;
  std::vector<PermuteFold> folds_;
  std::vector<char> skipped_;                   // by step op index
  std::vector<std::unique_ptr<Op>> rewritten_;  // by step op index (null: as planned)
  std::vector<int> attention_;                  // by step op index: index into folds_, or −1
};

}  // namespace od::cuda
