// The CUDA backend's chunked spans (cuda/overlap.h): planned once before the step loop over the spans
// find_overlap_spans finds (cuda/overlap_spans.cpp), then run at each span's first op through enqueue_chunked
// (cuda/overlap_streams.cu): every chunk's all-to-all on the comm stream, every chunk's ops through the backend's own
// dispatch, each reading and writing its sample's rows through views of the plan's buffers.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/gemm.h"
#include "cuda/overlap.h"

namespace od::cuda {
namespace {

bool notes_wanted() {
  const char* v = std::getenv("OPENDIT_CUDA_OVERLAP_NOTES");
  return v && std::string(v) == "1";
}

// OPENDIT_CUDA_OVERLAP: unset or `gemm` chunks only spans with a linear between their all-to-alls, `all` every span
// found (`0`, off, is the backend's). Measured on 4 H200s (STDiT-XL/2 80x512x512, docs/BENCHMARKS.md): DSP's spans
// (qkv and proj linears around the temporal attention) ran 2% faster chunked at dsp 4, Ulysses' (the attention
// alone) 3% slower at degrees 2 and 4: the attention over half the sequences loses more than its transfer hides.
bool every_span_wanted() {
  static const bool all = [] {
    const char* e = std::getenv("OPENDIT_CUDA_OVERLAP");
    const std::string v = e ? e : "";
    OD_CHECK(v.empty() || v == "gemm" || v == "all" || v == "0" || v == "1", "OPENDIT_CUDA_OVERLAP=" + v + " is not an overlap setting",
             "gemm (the default: spans with a linear between their all-to-alls), all, or 0 (off)");
    return v == "all";
  }();
  return all;
}

bool has_linear(const Plan& plan, const OverlapSpan& span) {
  for (const SpanOp& s : span.ops)
    if (std::holds_alternative<LinearOp>(plan.step[s.index].body)) return true;
  return false;
}

// Sets ctx.views for one chunk's op and clears them however the op ends.
class ViewsSet {
 public:
  ViewsSet(Context& ctx, const std::vector<BufferView>& views) : ctx_(ctx) { ctx_.views = &views; }
  ~ViewsSet() { ctx_.views = nullptr; }
  ViewsSet(const ViewsSet&) = delete;
  ViewsSet& operator=(const ViewsSet&) = delete;

 private:
  Context& ctx_;
};

// A span's chunks as the backend runs them: A and B through run_all_to_all on a copy of the context whose stream is
// the comm stream and whose scratch is the span staging (ctx.scratch belongs to the ops on ctx.stream, which run
// meanwhile), the ops between through the backend's dispatch on ctx.
class SpanWork final : public ChunkedWork {
 public:
  SpanWork(const OverlapSpan& span, const SpanViews& views, Context& ctx, const OverlapHooks& hooks, const std::string& key,
           void* staging, size_t staging_bytes)
      : span_(span), views_(views), ctx_(ctx), comm_(ctx), hooks_(hooks), key_(key) {
    comm_.scratch = staging;
    comm_.scratch_bytes = staging_bytes;
    comm_.views = nullptr;
  }

  void exchange_in(int64_t chunk, cudaStream_t comm) override { exchange(0, chunk, comm); }
  void exchange_out(int64_t chunk, cudaStream_t comm) override { exchange(span_.ops.size() - 1, chunk, comm); }
  void compute(int64_t chunk, cudaStream_t) override {
    for (size_t p = 1; p + 1 < span_.ops.size(); ++p) {
      const SpanOp& s = span_.ops[p];
      ViewsSet set(ctx_, views_[p][static_cast<size_t>(chunk)]);
      hooks_.launch(s.chunk, s.layout ? &*s.layout : nullptr);
    }
  }

 private:
  void exchange(size_t p, int64_t chunk, cudaStream_t comm) {
    comm_.stream = comm;
    ViewsSet set(comm_, views_[p][static_cast<size_t>(chunk)]);
    if (hooks_.profile_begin) hooks_.profile_begin(key_, comm);
    run_all_to_all(std::get<AllToAllOp>(span_.ops[p].chunk.body), comm_);
    if (hooks_.profile_end) hooks_.profile_end(comm);
  }

  const OverlapSpan& span_;
  const SpanViews& views_;
  Context& ctx_;
  Context comm_;
  const OverlapHooks& hooks_;
  const std::string& key_;
};

}  // namespace

Overlap::~Overlap() { reset(); }

void Overlap::reset() {
  if (staging_) cudaFree(staging_);  // no check: also called from the destructor
  staging_ = nullptr;
  staging_bytes_ = 0;
  events_.destroy();
  spans_.clear();
  views_.clear();
  keys_.clear();
  ran_.clear();
  span_of_.clear();
  plan_ = nullptr;
}

void Overlap::plan(const Memory& host, const Context& ctx, Gemm& gemm, const PlannedOps& planned) {
  reset();
  if (!ctx.dev || !ctx.comm_stream || !ctx.nccl) return;
  const Plan& plan = host.plan();
  const bool noting = notes_wanted();
  std::vector<std::string> notes;
  SpanRules rules;
  rules.chunks = plan.geometry.batch;
  rules.stage = host.stage();
  rules.group_size = [&host](const std::string& axis) {
    return static_cast<int64_t>(host.group(axis, "the " + axis + " group").size());
  };
  std::vector<OverlapSpan> found = find_overlap_spans(plan, rules, planned, noting ? &notes : nullptr);

  size_t staging = 0;
  int64_t chunks = 0;
  for (OverlapSpan& span : found) {
    if (!every_span_wanted() && !has_linear(plan, span)) {
      if (noting) notes.push_back(span.where + ": not chunked: no linear between its all-to-alls to hide them behind (OPENDIT_CUDA_OVERLAP=all chunks it)");
      continue;
    }
    // The chunks' GEMMs and cuDNN plans, prepared here as check_op prepared the ops' own (outside any capture).
    std::string why;
    size_t span_staging = 0;
    try {
      for (const SpanOp& s : span.ops) {
        const std::string where = describe_op(plan.step[s.index]) + " on one sample";
        if (const auto* l = std::get_if<LinearOp>(&s.chunk.body)) {
          if (linear_scratch_bytes(*l, host) > ctx.scratch_bytes) {
            why = where + " needs more scratch than the backend holds";
            break;
          }
          prepare_linear(*l, host, gemm, where);
        } else if (const auto* a = std::get_if<SelfAttentionOp>(&s.chunk.body); a && !s.layout) {
          ::od::with_context(where, [&] { prepare_self_attention(*a, host); });
        } else if (std::holds_alternative<AllToAllOp>(s.chunk.body)) {
          span_staging = std::max(span_staging, collective_scratch_bytes(s.chunk, host));
        }
      }
    } catch (const std::exception& e) {
      why = e.what();
    }
    if (!why.empty()) {
      if (noting) notes.push_back(span.where + ": not chunked: " + why);
      continue;
    }
    staging = std::max(staging, span_staging);
    chunks = std::max(chunks, span.chunks);

    // Every chunk's views: chunk c of a row buffer starts c/C into it.
    SpanViews views(span.ops.size());
    for (size_t p = 0; p < span.ops.size(); ++p) {
      views[p].resize(static_cast<size_t>(span.chunks));
      for (int64_t c = 0; c < span.chunks; ++c)
        for (const ChunkedOperand& o : span.ops[p].operands) {
          const DeviceSlot& whole = ctx.dev->slot(o.ref);
          const int64_t values = o.values / span.chunks;
          BufferView v;
          v.id = o.ref.id;
          v.slot.ptr = static_cast<char*>(whole.ptr) + c * values * dtype_bytes(whole.dtype);
          v.slot.dtype = whole.dtype;
          v.slot.count = values;
          views[p][static_cast<size_t>(c)].push_back(v);
        }
    }
    const Op& first = plan.step[span.first];
    keys_.push_back("all_to_all" + (first.block_kind.empty() ? std::string() : " (" + first.block_kind + ")") + " overlapped");
    views_.push_back(std::move(views));
    spans_.push_back(std::move(span));
  }

  if (noting) {
    std::string text = "opendit: CUDA overlap on rank " + std::to_string(host.rank()) + ": " + std::to_string(spans_.size()) +
                       " span" + (spans_.size() == 1 ? "" : "s") + " chunked by " + std::to_string(plan.geometry.batch) + " samples\n";
    for (const OverlapSpan& s : spans_) text += "  chunked: " + s.where + "\n";
    for (const std::string& n : notes) text += "  " + n + "\n";
    std::fputs(text.c_str(), stderr);
  }
  if (spans_.empty()) {
    reset();
    return;
  }
  try {
    if (staging > 0) {
      const cudaError_t st = cudaMalloc(&staging_, staging);
      if (st != cudaSuccess) {
        staging_ = nullptr;
        OD_FAIL("CUDA: cannot allocate " + std::to_string(staging) + " bytes of staging for the overlapped all-to-alls: " +
                    cudaGetErrorString(st),
                "the plan needs more GPU memory than is free; OPENDIT_CUDA_OVERLAP=0 runs without it");
      }
      staging_bytes_ = staging;
    }
    events_.create(chunks);
  } catch (...) {
    reset();
    throw;
  }
  plan_ = &plan;
  ran_.assign(spans_.size(), 0);
  span_of_.assign(plan.step.size(), -1);
  for (size_t k = 0; k < spans_.size(); ++k)
    for (size_t i = spans_[k].first; i <= spans_[k].last; ++i) span_of_[i] = static_cast<int>(k);
}

int Overlap::span_at(const Op& op) const {
  if (!plan_ || op.id < 0 || static_cast<size_t>(op.id) >= plan_->step.size() || &plan_->step[static_cast<size_t>(op.id)] != &op) return -1;
  return span_of_[static_cast<size_t>(op.id)];
}

const OverlapSpan* Overlap::starting_at(const Op& op) const {
  const int k = span_at(op);
  return k >= 0 && spans_[static_cast<size_t>(k)].first == static_cast<size_t>(op.id) ? &spans_[static_cast<size_t>(k)] : nullptr;
}

bool Overlap::inside(const Op& op) const {
  const int k = span_at(op);
  return k >= 0 && spans_[static_cast<size_t>(k)].first != static_cast<size_t>(op.id);
}

void Overlap::run(const OverlapSpan& span, Context& ctx, const OverlapHooks& hooks) {
  const std::less<const OverlapSpan*> before;
  OD_CHECK(!before(&span, spans_.data()) && before(&span, spans_.data() + spans_.size()) && hooks.launch,
           "an overlapped span that was not planned", "a CUDA backend defect");
  const size_t k = static_cast<size_t>(&span - spans_.data());
  SpanWork work(span, views_[k], ctx, hooks, keys_[k], staging_, staging_bytes_);
  enqueue_chunked(span.chunks, ctx.stream, ctx.comm_stream, events_, work);
  ran_[k] = 1;
}

OverlapCounts Overlap::counts() const {
  OverlapCounts c;
  c.spans = static_cast<int64_t>(std::count(ran_.begin(), ran_.end(), 1));
  return c;
}

}  // namespace od::cuda
