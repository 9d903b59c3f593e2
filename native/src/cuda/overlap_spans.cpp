// The spans of a plan whose all-to-alls the CUDA backend overlaps with compute by chunking them by sample
// (cuda/overlap.h says which and why): the per-kind slicing of an op to one chunk, the span's data flow, and the
// check over the plan's byte offsets that the chunked order on two streams reads and leaves every value the plan's
// order does. Plan-only (no device), so native/test/cuda_overlap_test.cu runs it anywhere.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cuda/overlap.h"

namespace od::cuda {
namespace {

constexpr int64_t kChunkAlign = 256;  // every view's offset keeps its buffer's pointer alignment (up to 256 bytes)

int64_t product(const Dims4& d) { return d[0] * d[1] * d[2] * d[3]; }

// The same steps and ranks: no pattern, PipeFusion phase or stage runs one without the other.
bool same_runs(const Op& a, const Op& b) {
  return a.pab == b.pab && a.mlp == b.mlp && a.stage == b.stage && a.phase == b.phase && a.block == b.block &&
         a.block_kind == b.block_kind && !a.latent_ring && !b.latent_ring;
}

bool refuse(std::string& why, std::string reason) {
  why = std::move(reason);
  return false;
}

bool share_bytes(const PlanBuffer& a, const PlanBuffer& b) { return a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes; }

class Buffers {
 public:
  explicit Buffers(const Plan& plan) : plan_(plan) {
    for (const PlanBuffer& b : plan.buffers) by_name_[b.name] = &b;
  }
  // The plan buffer named by ref (nullptr for a weight).
  const PlanBuffer* of(BufRef ref) const {
    const auto it = by_name_.find(plan_.name_of(ref));
    return it == by_name_.end() ? nullptr : it->second;
  }

 private:
  const Plan& plan_;
  std::map<std::string, const PlanBuffer*> by_name_;
};

std::string n_of(int64_t n) { return std::to_string(n); }

// The op restricted to one of C chunks (cuda/overlap.h lists the kinds and why each slicing is exact), its row
// operands and what it reads whole. `exchange`: the op is the span's A or B, the only all_to_alls it may hold.
bool chunk_op(const Op& op, const std::optional<SequenceLayout>& layout, int64_t C, bool exchange, const Buffers& buffers,
              SpanOp& out, std::vector<BufRef>& whole, std::string& why) {
  out.chunk = op;
  out.layout = layout;
  out.operands.clear();
  whole.clear();
  auto rows = [&](BufRef ref, int64_t values, bool write) { out.operands.push_back(ChunkedOperand{ref, values, write}); };
  auto divides = [&](int64_t n, const char* what) {
    if (n > 0 && n % C == 0) return true;
    return refuse(why, std::string("its ") + what + " (" + n_of(n) + ") is not a multiple of the " + n_of(C) + " samples");
  };
  if (layout && !std::holds_alternative<SelfAttentionOp>(op.body))
    return refuse(why, "a row order of its own applies to self_attention only");

  if (auto* a = std::get_if<AllToAllOp>(&out.chunk.body)) {
    if (!exchange) return refuse(why, "an all_to_all over another axis lies in between");
    if (a->scatter < 1 || a->gather < 1 || a->scatter > 3 || a->gather > 3)
      return refuse(why, "it exchanges along the outermost dimension (scatter " + n_of(a->scatter) + ", gather " + n_of(a->gather) + ")");
    if (!divides(a->dims[0], "outermost dimension")) return false;
    const int64_t n = product(a->dims);
    a->dims[0] /= C;
    rows(a->x, n, false);
    rows(a->out, n, true);
    return true;
  }
  if (exchange) return refuse(why, "it is not an all_to_all");
  if (auto* p = std::get_if<PermuteOp>(&out.chunk.body)) {
    if (p->perm[0] != 0) return refuse(why, "it moves the outermost axis (perm[0] = " + n_of(p->perm[0]) + ")");
    if (!divides(p->dims[0], "outermost dimension")) return false;
    const int64_t n = product(p->dims);
    p->dims[0] /= C;
    rows(p->x, n, false);
    rows(p->out, n, true);
    return true;
  }
  if (auto* r = std::get_if<AddRowsOp>(&out.chunk.body)) {
    if (!divides(r->rows, "row count")) return false;
    const int64_t chunk_rows = r->rows / C;
    // Row c·chunk_rows + i reads table row ((c·chunk_rows + i) / repeat) mod period, which is chunk row i's when a
    // chunk holds whole repeats of the whole table.
    if (r->repeat < 1 || r->period < 1 || chunk_rows % r->repeat != 0 || (chunk_rows / r->repeat) % r->period != 0)
      return refuse(why, "its table rows (period " + n_of(r->period) + ", repeat " + n_of(r->repeat) + ") do not start over at each chunk of " +
                             n_of(chunk_rows) + " rows");
    const int64_t n = r->rows * r->width;
    r->rows = chunk_rows;
    rows(r->x, n, false);
    rows(r->out, n, true);
    whole.push_back(r->table);
    return true;
  }
  if (auto* l = std::get_if<LinearOp>(&out.chunk.body)) {
    if (!divides(l->rows, "row count")) return false;
    const PlanBuffer* x = buffers.of(l->x);
    const PlanBuffer* o = buffers.of(l->out);
    // Where x and out share bytes the GEMM is staged through scratch (cuda/linear.cu), decided from the whole
    // buffers at check time: the chunks must decide alike.
    if (x && o && share_bytes(*x, *o)) return refuse(why, "its x and out share plan bytes");
    const int64_t in_stride = l->in_columns ? l->in_columns->stride : l->in_features;
    const int64_t out_stride = l->out_columns ? l->out_columns->stride
                                              : (l->pad_columns ? l->pad_columns->chunks * l->pad_columns->width : l->out_features);
    const int64_t n_in = l->rows * in_stride, n_out = l->rows * out_stride;
    l->rows /= C;
    rows(l->x, n_in, false);
    rows(l->out, n_out, true);
    whole.push_back(l->weight);
    if (l->bias) whole.push_back(*l->bias);
    return true;
  }
  if (auto* s = std::get_if<SelfAttentionOp>(&out.chunk.body)) {
    if (s->ring) return refuse(why, "ring attention exchanges over the " + *s->ring + " group on the same second stream");
    if (s->kv_cache) return refuse(why, "its K/V cache is indexed by sequence across steps");
    if (!divides(s->batch, "sequence count")) return false;
    if (layout) {
      // Sequences (b, s) = (n / inner, n % inner): a chunk takes whole groups b, each `outer` rows long in qkv
      // and out; those rows must be exactly the group's sequences for a chunk to be a contiguous c/C of both.
      const int64_t inner = layout->inner;
      if (inner < 1 || s->batch % (C * inner) != 0)
        return refuse(why, "its folded sequences (" + n_of(s->batch) + " in groups of " + n_of(inner) + ") do not split into the " + n_of(C) + " samples");
      if (layout->qkv.outer != inner * s->seq || layout->out.outer != inner * s->seq)
        return refuse(why, "its folded row order does not keep each group's rows together");
    }
    const int64_t width = s->heads * s->head_dim, tokens = s->batch * s->seq;
    s->batch /= C;
    rows(s->qkv, tokens * 3 * width, false);
    rows(s->out, tokens * width, true);
    if (s->q_norm) whole.push_back(s->q_norm->weight);
    if (s->k_norm) whole.push_back(s->k_norm->weight);
    return true;
  }
  return refuse(why, "a " + op.kind + " is not sliced by sample here");
}

// One read or write of a chunk of an op (pos: its place in span.ops) over plan bytes [lo, hi).
struct Access {
  size_t pos = 0;
  int64_t chunk = 0;
  int64_t lo = 0, hi = 0;
  bool write = false;
};

// The span's order on the two streams (cuda/overlap.h's diagram): whether instance x surely ends before y starts.
class Schedule {
 public:
  Schedule(size_t ops) : last_(ops - 1) {}
  bool before(const Access& x, const Access& y) const {
    if (x.pos == y.pos && x.chunk == y.chunk) return false;
    const Kind kx = kind(x.pos), ky = kind(y.pos);
    if (kx == Kind::In && ky == Kind::In) return x.chunk < y.chunk;
    if (kx == Kind::Out && ky == Kind::Out) return x.chunk < y.chunk;
    if (kx == Kind::In && ky == Kind::Out) return true;
    if (kx == Kind::Out && ky == Kind::In) return false;
    if (kx == Kind::In) return y.chunk >= x.chunk;   // the chunk's ops wait for A_c, which follows A_0 … A_{c−1}
    if (ky == Kind::In) return false;                // A never waits for the ops
    if (ky == Kind::Out) return x.chunk <= y.chunk;  // B_c waits for chunk c's ops, which follow the earlier chunks'
    if (kx == Kind::Out) return false;               // the ops never wait for B (until the join)
    return x.chunk < y.chunk || (x.chunk == y.chunk && x.pos < y.pos);  // one stream, chunk by chunk
  }

 private:
  enum class Kind { In, Compute, Out };
  Kind kind(size_t pos) const { return pos == 0 ? Kind::In : pos == last_ ? Kind::Out : Kind::Compute; }
  size_t last_;
};

std::string instance(const OverlapSpan& span, const Plan& plan, const Access& a) {
  return describe_op(plan.step[span.ops[a.pos].index]) + " on sample " + n_of(a.chunk);
}

// Every read of the chunked span sees the value of its last writer in plan order (or the value before the span),
// and every byte that outlives the span ends with its last write in plan order.
bool order_preserved(const Plan& plan, const OverlapSpan& span, const std::vector<Access>& accesses,
                     const std::vector<std::pair<int64_t, int64_t>>& outliving, std::string& why) {
  const Schedule schedule(span.ops.size());
  std::vector<const Access*> writes;
  for (const Access& a : accesses)
    if (a.write) writes.push_back(&a);

  for (const Access& r : accesses) {
    if (r.write) continue;
    std::vector<const Access*> over;
    std::set<int64_t> cuts = {r.lo, r.hi};
    for (const Access* w : writes) {
      if (w->hi <= r.lo || r.hi <= w->lo || (w->pos == r.pos && w->chunk == r.chunk)) continue;  // its own write comes after
      over.push_back(w);
      cuts.insert(std::max(w->lo, r.lo));
      cuts.insert(std::min(w->hi, r.hi));
    }
    if (over.empty()) continue;
    for (auto it = cuts.begin(); std::next(it) != cuts.end(); ++it) {
      const int64_t lo = *it, hi = *std::next(it);
      const Access* last = nullptr;  // the plan order's last writer before the read
      std::vector<const Access*> cover;
      for (const Access* w : over) {
        if (w->lo > lo || w->hi < hi) continue;
        cover.push_back(w);
        if (w->pos < r.pos && (!last || w->pos > last->pos)) last = w;
        else if (w->pos < r.pos && w->pos == last->pos)
          return refuse(why, instance(span, plan, *w) + " and " + instance(span, plan, *last) + " write the same bytes");
      }
      if (last && !schedule.before(*last, r))
        return refuse(why, instance(span, plan, r) + " would read bytes before " + instance(span, plan, *last) + " wrote them");
      for (const Access* w : cover) {
        if (w == last) continue;
        const bool harmless = (last && schedule.before(*w, *last)) || schedule.before(r, *w);
        if (!harmless)
          return refuse(why, instance(span, plan, *w) + " would overwrite plan bytes that " + instance(span, plan, r) +
                                 " reads, before it reads them (the arena reuses them)");
      }
    }
  }

  // The bytes that outlive the span: the last write of each in plan order must come last.
  std::set<int64_t> cuts;
  for (const Access* w : writes) {
    cuts.insert(w->lo);
    cuts.insert(w->hi);
  }
  for (const auto& [lo, hi] : outliving) {
    cuts.insert(lo);
    cuts.insert(hi);
  }
  for (auto it = cuts.begin(); it != cuts.end() && std::next(it) != cuts.end(); ++it) {
    const int64_t lo = *it, hi = *std::next(it);
    const bool outlives = std::any_of(outliving.begin(), outliving.end(), [&](const auto& b) { return b.first <= lo && hi <= b.second; });
    if (!outlives) continue;
    const Access* last = nullptr;
    std::vector<const Access*> cover;
    for (const Access* w : writes) {
      if (w->lo > lo || w->hi < hi) continue;
      cover.push_back(w);
      if (!last || w->pos > last->pos) last = w;
    }
    for (const Access* w : cover)
      if (w != last && (w->pos == last->pos || !schedule.before(*w, *last)))
        return refuse(why, instance(span, plan, *w) + " could write bytes that outlive the span after " + instance(span, plan, *last) +
                               " did");
  }
  return true;
}

// The span starting at the all_to_all plan.step[k], or why there is none.
bool span_at(const Plan& plan, const SpanRules& rules, const PlannedOps& planned, const Buffers& buffers, size_t k, OverlapSpan& span,
             std::string& why) {
  const std::vector<Op>& step = plan.step;
  const int64_t C = rules.chunks;
  const auto& a = std::get<AllToAllOp>(step[k].body);
  if (rules.group_size(a.axis) < 2) return refuse(why, "its " + a.axis + " group has one rank (a local copy)");
  size_t j = k + 1;
  for (; j < step.size(); ++j) {
    const auto* b = std::get_if<AllToAllOp>(&step[j].body);
    if (b && b->axis == a.axis) break;
  }
  if (j >= step.size()) return refuse(why, "no all_to_all over " + a.axis + " follows it");
  span.first = k;
  span.last = j;
  span.chunks = C;
  span.axis = a.axis;
  span.ops.clear();

  std::vector<std::vector<BufRef>> whole;
  for (size_t i = k; i <= j; ++i) {
    const Op& op = step[i];
    if (op.id != static_cast<int>(i)) return refuse(why, "the step program's ids are not its positions");
    if (!same_runs(op, step[k])) return refuse(why, describe_op(op) + " does not run on its steps and ranks");
    const PlannedOp p = planned(i);
    if (p.taken) return refuse(why, describe_op(op) + " runs fused with another op (cuda/fusion.h)");
    if (p.skipped) {
      if (i == k || i == j) return refuse(why, describe_op(op) + " is not run");
      continue;
    }
    SpanOp s;
    s.index = i;
    std::vector<BufRef> reads_whole;
    std::string reason;
    if (!chunk_op(p.op ? *p.op : op, p.layout, C, i == k || i == j, buffers, s, reads_whole, reason))
      return refuse(why, describe_op(op) + " cannot be split by sample: " + reason);
    for (const ChunkedOperand& o : s.operands) {
      const PlanBuffer* b = buffers.of(o.ref);
      if (!b) return refuse(why, describe_op(op) + " has `" + plan.name_of(o.ref) + "` as rows, which is not a plan buffer");
      int64_t elements = 1;
      for (int64_t d : b->shape) elements *= d;
      const int64_t chunk_bytes = o.values / C * dtype_bytes(b->dtype);
      if (o.values % C != 0 || o.values > elements)
        return refuse(why, describe_op(op) + "'s " + n_of(o.values) + " values of `" + b->name + "` do not split into its " + n_of(elements));
      if (chunk_bytes % kChunkAlign != 0)
        return refuse(why, describe_op(op) + "'s chunk of `" + b->name + "` is " + n_of(chunk_bytes) + " bytes, not whole 256-byte units");
    }
    span.ops.push_back(std::move(s));
    whole.push_back(std::move(reads_whole));
  }

  // Data flow: an op after A reads only rows an earlier op of the span wrote, with the same row split.
  std::map<int, int64_t> written;  // buffer id → values
  for (size_t p = 0; p < span.ops.size(); ++p) {
    const SpanOp& s = span.ops[p];
    const Op& op = step[s.index];
    if (p > 0)
      for (const ChunkedOperand& o : s.operands) {
        if (o.write) continue;
        const auto it = written.find(o.ref.id);
        if (it == written.end())
          return refuse(why, describe_op(op) + " reads `" + plan.name_of(o.ref) + "`, which no earlier op of the span writes");
        if (it->second != o.values)
          return refuse(why, describe_op(op) + " reads " + n_of(o.values) + " values of `" + plan.name_of(o.ref) + "`, written as " + n_of(it->second));
      }
    for (const ChunkedOperand& o : s.operands) {
      if (!o.write) continue;
      const auto [it, fresh] = written.emplace(o.ref.id, o.values);
      if (!fresh && it->second != o.values)
        return refuse(why, describe_op(op) + " writes `" + plan.name_of(o.ref) + "` with another row split than an earlier op");
    }
  }

  // The plan's bytes: every chunk's accesses, then the order check.
  std::vector<Access> accesses;
  for (size_t p = 0; p < span.ops.size(); ++p)
    for (int64_t c = 0; c < C; ++c) {
      for (const ChunkedOperand& o : span.ops[p].operands) {
        const PlanBuffer& b = *buffers.of(o.ref);
        const int64_t chunk_bytes = o.values / C * dtype_bytes(b.dtype);
        accesses.push_back(Access{p, c, b.offset + c * chunk_bytes, b.offset + (c + 1) * chunk_bytes, o.write});
      }
      for (BufRef r : whole[p])
        if (const PlanBuffer* b = buffers.of(r)) accesses.push_back(Access{p, c, b->offset, b->offset + b->bytes, false});
    }
  std::vector<std::pair<int64_t, int64_t>> outliving;  // plan bytes read after the span (or kept across steps)
  int64_t lo = 0, hi = 0;
  bool any = false;
  for (const Access& x : accesses)
    if (x.write) {
      lo = any ? std::min(lo, x.lo) : x.lo;
      hi = any ? std::max(hi, x.hi) : x.hi;
      any = true;
    }
  const int64_t end = static_cast<int64_t>(j);
  for (const PlanBuffer& b : plan.buffers) {
    if (!any || b.offset >= hi || b.offset + b.bytes <= lo) continue;
    const bool outlives = b.role != BufferRole::Activation || !b.live || ((*b.live)[0] <= end && (*b.live)[1] > end);
    if (outlives) outliving.push_back({b.offset, b.offset + b.bytes});
  }
  if (!order_preserved(plan, span, accesses, outliving, why)) return false;

  const Op& aop = step[k];
  span.where = "step ops " + n_of(static_cast<int64_t>(k)) + ".." + n_of(static_cast<int64_t>(j)) + " (" + a.axis +
               (aop.block ? ", " + (aop.block_kind.empty() ? std::string("block") : aop.block_kind + " block") + " " + n_of(*aop.block) : std::string()) +
               ")";
  return true;
}

}  // namespace

std::vector<OverlapSpan> find_overlap_spans(const Plan& plan, const SpanRules& rules, const PlannedOps& planned,
                                            std::vector<std::string>* notes) {
  std::vector<OverlapSpan> spans;
  const Buffers buffers(plan);
  const std::vector<Op>& step = plan.step;
  for (size_t k = 0; k < step.size(); ++k) {
    if (!std::holds_alternative<AllToAllOp>(step[k].body)) continue;
    if (step[k].stage && *step[k].stage != rules.stage) continue;  // another pipeline stage's op
    if (rules.chunks < 2) {
      if (notes) notes->push_back("one sample on this rank: no all_to_all is chunked");
      return spans;
    }
    OverlapSpan span;
    std::string why;
    if (span_at(plan, rules, planned, buffers, k, span, why)) {
      k = span.last;
      spans.push_back(std::move(span));
    } else if (notes) {
      notes->push_back(describe_op(step[k]) + " starts no span: " + why);
    }
  }
  return spans;
}

}  // namespace od::cuda
