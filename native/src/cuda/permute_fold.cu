// The permute folds of STDiT's temporal branch (cuda/permute_fold.h says what and when): the analysis over the
// plan's step program, live ranges and byte offsets, and the rewritten ops the backend runs instead.
#include "cuda/permute_fold.h"

#include <algorithm>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/error.h"
#include "cuda/gemm.h"

namespace od::cuda {
namespace {

// The buffers an op reads and writes (weights included among the reads; they have no PlanBuffer). `known` is
// false for an op kind this file does not list: it may touch anything.
struct OpRefs {
  std::vector<BufRef> reads, writes;
  bool known = true;
};

OpRefs refs_of(const Op& op) {
  OpRefs r;
  auto read = [&r](BufRef b) { r.reads.push_back(b); };
  auto write = [&r](BufRef b) { r.writes.push_back(b); };
  std::visit(
      [&](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, TimestepEmbedOp>) {
          read(o.t);
          write(o.out);
        } else if constexpr (std::is_same_v<T, LinearOp>) {
          read(o.x);
          read(o.weight);
          if (o.bias) read(*o.bias);
          write(o.out);
        } else if constexpr (std::is_same_v<T, SiluOp> || std::is_same_v<T, PermuteOp> || std::is_same_v<T, UnpatchifyOp> ||
                             std::is_same_v<T, AllToAllOp> || std::is_same_v<T, AllGatherOp> || std::is_same_v<T, GuidanceOp> ||
                             std::is_same_v<T, UpsampleNearestOp>) {
          read(o.x);
          write(o.out);
        } else if constexpr (std::is_same_v<T, AddOp>) {
          read(o.a);
          read(o.b);
          write(o.out);
        } else if constexpr (std::is_same_v<T, EmbeddingOp>) {
          read(o.table);
          read(o.ids);
          write(o.out);
        } else if constexpr (std::is_same_v<T, PatchEmbedOp>) {
          read(o.x);
          read(o.weight);
          read(o.bias);
          write(o.out);
        } else if constexpr (std::is_same_v<T, SinCos2dOp> || std::is_same_v<T, SinCos1dOp> || std::is_same_v<T, ConstantOp> ||
                             std::is_same_v<T, RecvOp>) {
          write(o.out);
        } else if constexpr (std::is_same_v<T, ConcatOp>) {
          for (BufRef p : o.parts) read(p);
          write(o.out);
        } else if constexpr (std::is_same_v<T, AddRowsOp>) {
          read(o.x);
          read(o.table);
          write(o.out);
        } else if constexpr (std::is_same_v<T, ModulationOp>) {
          if (o.table) read(*o.table);
          read(o.source);
          write(o.out);
        } else if constexpr (std::is_same_v<T, LayerNormModulateOp>) {
          read(o.x);
          if (o.shift) read(o.shift->buffer);
          if (o.scale) read(o.scale->buffer);
          write(o.out);
        } else if constexpr (std::is_same_v<T, GateOp>) {
          read(o.x);
          read(o.gate.buffer);
          write(o.out);
        } else if constexpr (std::is_same_v<T, SelfAttentionOp>) {
          read(o.qkv);
          if (o.q_norm) read(o.q_norm->weight);
          if (o.k_norm) read(o.k_norm->weight);
          if (o.kv_cache) {
            read(o.kv_cache->buffer);
            write(o.kv_cache->buffer);
          }
          write(o.out);
        } else if constexpr (std::is_same_v<T, CrossAttentionOp>) {
          read(o.q);
          read(o.kv);
          if (o.mask) read(*o.mask);
          write(o.out);
        } else if constexpr (std::is_same_v<T, SolverOp>) {
          read(o.latent);
          read(o.prediction);
          write(o.latent);
          if (o.history) {
            read(*o.history);
            write(*o.history);
          }
        } else if constexpr (std::is_same_v<T, SendOp>) {
          read(o.x);
        } else if constexpr (std::is_same_v<T, Conv2dOp> || std::is_same_v<T, GroupNormOp>) {
          read(o.x);
          read(o.weight);
          write(o.out);
        } else {
          r.known = false;
        }
      },
      op.body);
  return r;
}

// The reader's inputs equal to `from` read `to` instead, for the reader kinds a full fold accepts (elementwise and
// row-wise ops without a GEMM to prepare, and the collectives that move P2's output on). False for another kind, or
// where it reads no `from`.
bool replace_input(Op& op, BufRef from, BufRef to) {
  bool done = false;
  auto swap = [&](BufRef& b) {
    if (b.id == from.id) {
      b = to;
      done = true;
    }
  };
  std::visit(
      [&](auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, GateOp> || std::is_same_v<T, AllToAllOp> || std::is_same_v<T, AllGatherOp> ||
                      std::is_same_v<T, SendOp> || std::is_same_v<T, LayerNormModulateOp> || std::is_same_v<T, SiluOp>) {
          swap(o.x);
        } else if constexpr (std::is_same_v<T, AddOp>) {
          swap(o.a);
          swap(o.b);
        }
      },
      op.body);
  return done;
}

bool reads(const OpRefs& r, BufRef b) {
  for (BufRef x : r.reads)
    if (x.id == b.id) return true;
  for (BufRef x : r.writes)
    if (x.id == b.id) return true;  // a write of it counts too: it would not be the only reader then
  return false;
}

// The same steps and ranks: no pattern, PipeFusion phase or stage runs one without the other.
bool same_runs(const Op& a, const Op& b) {
  return a.pab == b.pab && a.mlp == b.mlp && a.stage == b.stage && a.phase == b.phase && a.block == b.block &&
         a.block_kind == b.block_kind && !a.latent_ring && !b.latent_ring;
}

class Analysis {
 public:
  Analysis(const Plan& plan, const TakenByFusion& taken) : plan_(plan), taken_(taken) {
    for (const PlanBuffer& b : plan.buffers) by_name_[b.name] = &b;
  }

  // The fold starting at the permute plan.step[k] (folded.to_sequences = k; `folded` fresh), or a refusal in `why`.
  bool fold_at(int k, PermuteFold& folded, std::string& why) {
    const std::vector<Op>& step = plan_.step;
    const Op& p1op = step[k];
    const auto& p1 = std::get<PermuteOp>(p1op.body);
    if (p1.perm != Dims4{0, 2, 1, 3}) return refuse(why, "it is not the [0, 2, 1, 3] permute of a temporal branch");
    const int64_t B = p1.dims[0], T = p1.dims[1], S = p1.dims[2], D = p1.dims[3];
    if (taken_(p1op)) return refuse(why, "another fusion runs it");
    // The linears reading P1's output, then the attention.
    int j = k + 1;
    std::vector<int> linears;
    for (; j < static_cast<int>(step.size()); j++) {
      const auto* l = std::get_if<LinearOp>(&step[j].body);
      if (!l || l->x.id != p1.out.id) break;
      linears.push_back(j);
    }
    if (linears.empty())
      return refuse(why, "its output is read first by " + describe_op(step[std::min<size_t>(j, step.size() - 1)]) +
                             ", not by a linear (block 0's positional embedding is added in the permuted order)");
    if (j >= static_cast<int>(step.size())) return refuse(why, "no self_attention follows its linears");
    const Op& attop = step[j];
    const auto* att = std::get_if<SelfAttentionOp>(&attop.body);
    if (!att) return refuse(why, describe_op(attop) + " follows its linears, not a self_attention");
    folded.attention = j;  // set even where refused below: the permute two ops after it is this branch's P2
    if (att->ring || att->kv_cache) return refuse(why, "its attention has ring or kv_cache");
    if (att->batch != B * S || att->seq != T)
      return refuse(why, "its attention's " + std::to_string(att->batch) + " sequences of " + std::to_string(att->seq) +
                             " are not the permute's " + std::to_string(B * S) + " of " + std::to_string(T));
    if (T > 128) return refuse(why, std::to_string(T) + " frames: over the single-tile attention kernel's 128 keys");
    for (int l : linears) {
      const auto& lin = std::get<LinearOp>(step[l].body);
      if (lin.out.id != att->qkv.id) return refuse(why, describe_op(step[l]) + " does not write the attention's qkv");
      if (lin.rows != B * T * S) return refuse(why, describe_op(step[l]) + " does not cover the permute's rows");
    }
    std::vector<int> ops = {k};
    ops.insert(ops.end(), linears.begin(), linears.end());
    ops.push_back(j);
    for (int i : ops) {
      if (step[i].id != i) return refuse(why, "the step program's ids are not its positions");
      if (!same_runs(step[i], p1op)) return refuse(why, describe_op(step[i]) + " does not run on the permute's steps and ranks");
      if (i != k && taken_(step[i])) return refuse(why, describe_op(step[i]) + " is run by another fusion");
    }
    const PlanBuffer* p1in = buffer(p1.x);
    const PlanBuffer* p1out = buffer(p1.out);
    const PlanBuffer* qkv = buffer(att->qkv);
    if (!p1in || !p1out || !qkv) return refuse(why, "a buffer of the branch is not among the plan's buffers");
    if (!activation_read_last_by(*p1out, linears.back())) return refuse(why, "its output is read after the linears");
    if (!activation_read_last_by(*qkv, j)) return refuse(why, "the qkv buffer is read after the attention");
    if (p1in->dtype != p1out->dtype) return refuse(why, "its input and output dtypes differ");
    // P1's input must hold until the last linear read it: the linears write only qkv, which may not share its bytes.
    if (overlap(*qkv, *p1in)) return refuse(why, "the qkv buffer shares plan bytes with the permute's input");

    folded.to_sequences = k;
    folded.linears = linears;
    folded.layout.inner = S;
    folded.layout.qkv = SequenceRows{T * S, 1, S};  // x's rows: (b, t, s) at b·T·S + t·S + s
    folded.layout.out = SequenceRows{S * T, T, 1};  // as planned: sequence (b, s) at (b·S + s)·T
    std::string full_why;
    if (full_fold(folded, full_why))
      folded.full = true;
    else
      why = "folded at its input only: " + full_why;
    return true;
  }

 private:
  static bool refuse(std::string& why, std::string reason) {
    why = std::move(reason);
    return false;
  }

  const PlanBuffer* buffer(BufRef ref) const {
    const auto it = by_name_.find(plan_.name_of(ref));
    return it == by_name_.end() ? nullptr : it->second;
  }

  static bool activation_read_last_by(const PlanBuffer& b, int op) {
    return b.role == BufferRole::Activation && b.live && (*b.live)[1] == op;
  }

  static bool overlap(const PlanBuffer& a, const PlanBuffer& b) {
    return a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes;
  }

  static int64_t elements(const PlanBuffer& b) {
    int64_t n = 1;
    for (int64_t d : b.shape) n *= d;
    return n;
  }

  // Whether no op of plan.step in (first, last) other than `skip` writes bytes of `kept`, and op `last`, its new
  // reader, writes none either, or all of them exactly in place where it is elementwise (the planner gives a
  // gate's output the bytes of the proj's, dead after P2 as planned: each value is read before it is written).
  bool intact(const PlanBuffer& kept, int first, int last, int skip, std::string& why) const {
    for (int m = first + 1; m <= last; m++) {
      if (m == skip) continue;
      const Op& op = plan_.step[m];
      const OpRefs r = refs_of(op);
      if (!r.known) return refuse(why, describe_op(op) + " lies in between, and its writes are not known here");
      const bool elementwise = std::holds_alternative<GateOp>(op.body) || std::holds_alternative<AddOp>(op.body) ||
                               std::holds_alternative<SiluOp>(op.body);
      for (BufRef w : r.writes) {
        const PlanBuffer* b = buffer(w);
        if (!b || !overlap(*b, kept)) continue;
        if (m == last && elementwise && b->offset == kept.offset && b->bytes == kept.bytes && b->dtype == kept.dtype) continue;
        return refuse(why, describe_op(op) + " writes plan bytes of `" + kept.name + "` before its new reader has read them");
      }
    }
    return true;
  }

  // The output half: proj, P2 and P2's only reader after the attention of `f`.
  bool full_fold(PermuteFold& f, std::string& why) const {
    const std::vector<Op>& step = plan_.step;
    const int n = static_cast<int>(step.size());
    const auto& p1 = std::get<PermuteOp>(step[f.to_sequences].body);
    const int64_t B = p1.dims[0], T = p1.dims[1], S = p1.dims[2];
    const auto& att = std::get<SelfAttentionOp>(step[f.attention].body);
    const int proj = f.attention + 1, back = f.attention + 2;
    if (back >= n) return refuse(why, "the step program ends after the attention");
    const auto* lin = std::get_if<LinearOp>(&step[proj].body);
    if (!lin || lin->x.id != att.out.id) return refuse(why, describe_op(step[proj]) + " follows the attention, not its projection");
    const auto* p2 = std::get_if<PermuteOp>(&step[back].body);
    if (!p2 || p2->x.id != lin->out.id) return refuse(why, describe_op(step[back]) + " follows the projection, not the permute back");
    if (p2->perm != Dims4{0, 2, 1, 3} || p2->dims[0] != B || p2->dims[1] != S || p2->dims[2] != T || lin->rows != B * S * T)
      return refuse(why, "the permute back is not the inverse of the first");
    const PlanBuffer* attout = buffer(att.out);
    const PlanBuffer* projout = buffer(lin->out);
    const PlanBuffer* p2out = buffer(p2->out);
    if (!attout || !projout || !p2out) return refuse(why, "a buffer of the branch is not among the plan's buffers");
    if (!activation_read_last_by(*attout, proj)) return refuse(why, "the attention's output is read after the projection");
    if (!activation_read_last_by(*projout, back)) return refuse(why, "the projection's output is read after the permute back");
    if (p2out->role != BufferRole::Activation || !p2out->live) return refuse(why, "the permute back's output is not an activation");
    if (projout->dtype != p2out->dtype || elements(*projout) != elements(*p2out))
      return refuse(why, "the projection's output and the permute back's differ in dtype or size");
    // The reader: the first op after P2 that touches P2's output, which must also be its last reader.
    int reader = -1;
    for (int m = back + 1; m < n && reader < 0; m++) {
      const OpRefs r = refs_of(step[m]);
      if (!r.known) return refuse(why, describe_op(step[m]) + " follows the permute back, and what it reads is not known here");
      if (reads(r, p2->out)) reader = m;
    }
    if (reader < 0 || (*p2out->live)[1] != reader) return refuse(why, "the permute back's output has several readers");
    const Op& rop = step[reader];
    for (int i : {proj, back, reader}) {
      if (step[i].id != i) return refuse(why, "the step program's ids are not its positions");
      if (!same_runs(step[i], step[f.to_sequences]))
        return refuse(why, describe_op(step[i]) + " does not run on the permute's steps and ranks");
      if (taken_(step[i])) return refuse(why, describe_op(step[i]) + " is run by another fusion");
    }
    Op probe = rop;
    if (!replace_input(probe, p2->out, lin->out))
      return refuse(why, describe_op(rop) + " reads the permute back's output, and cannot be rewritten");
    // The proj's output must hold until the reader ran: the planner freed its bytes after P2.
    if (!intact(*projout, proj, reader, back, why)) return false;
    f.proj = proj;
    f.back = back;
    f.reader = reader;
    f.layout.out = SequenceRows{T * S, 1, S};  // [B, T, S] rows, as the permute back would have left them
    return true;
  }

  const Plan& plan_;
  const TakenByFusion& taken_;
  std::map<std::string, const PlanBuffer*> by_name_;
};

}  // namespace

void PermuteFolds::clear() {
  plan_ = nullptr;
  folds_.clear();
  skipped_.clear();
  rewritten_.clear();
  attention_.clear();
}

std::vector<PermuteFold> find_permute_folds(const Plan& plan, const TakenByFusion& taken, std::vector<std::string>* notes) {
  std::vector<PermuteFold> folds;
  const size_t n = plan.step.size();
  Analysis analysis(plan, taken);
  std::vector<char> back(n, 0);  // the permute two ops after an attention whose branch was analysed: P2, not a P1
  for (size_t k = 0; k < n; k++) {
    const Op& op = plan.step[k];
    const auto* p = std::get_if<PermuteOp>(&op.body);
    if (!p || p->perm != Dims4{0, 2, 1, 3} || back[k]) continue;
    // A permute of what the linear just before it wrote is a branch's way back (P2), never its P1.
    const auto* before = k > 0 ? std::get_if<LinearOp>(&plan.step[k - 1].body) : nullptr;
    if (before && before->out.id == p->x.id) continue;
    PermuteFold f;
    std::string why;
    const bool ok = analysis.fold_at(static_cast<int>(k), f, why);
    if (f.attention >= 0 && static_cast<size_t>(f.attention) + 2 < n) back[static_cast<size_t>(f.attention) + 2] = 1;
    if (notes && !why.empty()) notes->push_back(describe_op(op) + ": " + (ok ? why : "not folded: " + why));
    if (ok) folds.push_back(std::move(f));
  }
  return folds;
}

void PermuteFolds::plan(const Memory& host, Gemm& gemm, const TakenByFusion& taken, std::vector<std::string>* notes) {
  clear();
  const Plan& plan = host.plan();
  const size_t n = plan.step.size();
  skipped_.assign(n, 0);
  rewritten_.resize(n);
  attention_.assign(n, -1);
  for (PermuteFold& f : find_permute_folds(plan, taken, notes)) {
    // The qkv linears reading P1's input: their GEMMs prepared here, as check_op prepared the planned ones.
    const auto& p1 = std::get<PermuteOp>(plan.step[static_cast<size_t>(f.to_sequences)].body);
    std::vector<std::unique_ptr<Op>> linears;
    std::string why;
    for (int l : f.linears) {
      const Op& planned = plan.step[static_cast<size_t>(l)];
      auto copy = std::make_unique<Op>(planned);
      std::get<LinearOp>(copy->body).x = p1.x;
      try {
        if (linear_scratch_bytes(std::get<LinearOp>(copy->body), host) > linear_scratch_bytes(std::get<LinearOp>(planned.body), host))
          why = describe_op(planned) + " reading the permute's input needs more scratch than planned";
        else
          prepare_linear(std::get<LinearOp>(copy->body), host, gemm, describe_op(planned));
      } catch (const std::exception& e) {
        why = describe_op(planned) + " reading the permute's input cannot be prepared: " + e.what();
      }
      if (!why.empty()) break;
      linears.push_back(std::move(copy));
    }
    if (!why.empty()) {
      if (notes) notes->push_back(describe_op(plan.step[static_cast<size_t>(f.to_sequences)]) + ": not folded: " + why);
      continue;
    }
    for (size_t i = 0; i < f.linears.size(); i++) rewritten_[static_cast<size_t>(f.linears[i])] = std::move(linears[i]);
    skipped_[static_cast<size_t>(f.to_sequences)] = 1;
    attention_[static_cast<size_t>(f.attention)] = static_cast<int>(folds_.size());
    if (f.full) {
      // The reader reads the projection's output, which holds what the permute back would have written.
      const auto& p2 = std::get<PermuteOp>(plan.step[static_cast<size_t>(f.back)].body);
      auto reader = std::make_unique<Op>(plan.step[static_cast<size_t>(f.reader)]);
      replace_input(*reader, p2.out, p2.x);
      skipped_[static_cast<size_t>(f.back)] = 1;
      rewritten_[static_cast<size_t>(f.reader)] = std::move(reader);
    }
    folds_.push_back(std::move(f));
  }
  if (folds_.empty()) {
    clear();
    return;
  }
  plan_ = &plan;
}

int PermuteFolds::index_of(const Op& op) const {
  if (!plan_ || op.id < 0 || static_cast<size_t>(op.id) >= plan_->step.size() || &plan_->step[static_cast<size_t>(op.id)] != &op) return -1;
  return op.id;
}

bool PermuteFolds::skipped(const Op& op) const {
  const int k = index_of(op);
  return k >= 0 && skipped_[static_cast<size_t>(k)];
}

const Op* PermuteFolds::rewritten(const Op& op) const {
  const int k = index_of(op);
  return k >= 0 ? rewritten_[static_cast<size_t>(k)].get() : nullptr;
}

bool PermuteFolds::folded_attention(const Op& op) const {
  const int k = index_of(op);
  return k >= 0 && attention_[static_cast<size_t>(k)] >= 0;
}

bool PermuteFolds::run_attention(const Op& op, Context& ctx) const {
  const int k = index_of(op);
  if (k < 0 || attention_[static_cast<size_t>(k)] < 0) return false;
  const PermuteFold& f = folds_[static_cast<size_t>(attention_[static_cast<size_t>(k)])];
  run_self_attention_in_layout(std::get<SelfAttentionOp>(op.body), f.layout, ctx);
  return true;
}

}  // namespace od::cuda
