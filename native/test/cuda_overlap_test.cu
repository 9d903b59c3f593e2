// Standalone test of the CUDA backend's chunked all-to-all spans (native/src/cuda/overlap.h) without NCCL. Build and
// run from the package root on a machine with a GPU:
//
//   nvcc -std=c++17 -arch=sm_90 -O3 -Inative/src native/test/cuda_overlap_test.cu native/src/cuda/overlap_spans.cpp
//        native/src/cuda/overlap_streams.cu native/src/plan/parse.cpp native/src/core/json.cpp
//        native/src/core/error.cpp -o /tmp/cuda_overlap_test && /tmp/cuda_overlap_test
//
// (one command line; scripts/gpu-check.sh builds it from the gpu-check-sources line below).
//
// Two sections, every case printing ok/FAIL and what it found; exit status 1 when a case fails (2 without a GPU,
// after section 1, which needs none):
// 1. the span finder (find_overlap_spans) on small plans built here, laid out in the arena as the planner lays
//    them out (buffers whose lives do not overlap share bytes): DSP's temporal branch (all_to_all, permute, add_rows,
//    qkv linear, attention, projection, permute, all_to_all) and Ulysses' spatial attention are chunked by sample,
//    each chunk's op holding the divided counts; with STDiT's permute folds (the first permute left out, the linear
//    reading the all-to-all's output, the attention in the folded row order) too. Not chunked, each for its reason:
//    one sample on the rank, a group of one rank, an op of another kind in between (a gate), ring attention, a
//    positional table that does not start over at each chunk, chunks of less than whole 256-byte units, an op taken
//    by a fusion, and an arena layout where a chunk's attention output reuses bytes the next sample's all-to-all
//    is still to write (the unchunked order is fine there; the chunked one would let the two streams race).
// 2. enqueue_chunked's order on two streams with kernels of this test standing for A, the ops and B (each spinning
//    before its work and logging its start and end on the GPU's global timer), for 2 and 3 chunks, run directly and
//    replayed from a CUDA graph captured on the main stream (twice, with new inputs between): the values after the
//    span (read on the main stream after the join) are exact, every chunk's ops start after its A ended, every B_c
//    starts after chunk c's ops and A_{C−1} ended, the op after the span starts after B_{C−1} ended, and A_1 is
//    still running while chunk 0's ops run (the overlap itself). A span of more chunks than its events is refused.
//
// gpu-check-sources: native/src/cuda/overlap_spans.cpp native/src/cuda/overlap_streams.cu native/src/plan/parse.cpp native/src/core/json.cpp native/src/core/error.cpp
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cuda/overlap.h"

using od::AddRowsOp;
using od::AllToAllOp;
using od::BufferRole;
using od::BufRef;
using od::DType;
using od::GateOp;
using od::LinearOp;
using od::Op;
using od::PermuteOp;
using od::Plan;
using od::PlanBuffer;
using od::SelfAttentionOp;
using od::cuda::OverlapSpan;
using od::cuda::PlannedOp;
using od::cuda::SequenceLayout;
using od::cuda::SequenceRows;

#define CK(call)                                                                                  \
  do {                                                                                            \
    cudaError_t e_ = (call);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(2);                                                                               \
    }                                                                                             \
  } while (0)

namespace {

int failed = 0, cases = 0;

void report(const std::string& name, bool ok, const std::string& detail) {
  cases++;
  if (!ok) failed++;
  std::printf("%-66s %s%s%s\n", name.c_str(), ok ? "ok" : "FAIL", detail.empty() ? "" : ": ", detail.c_str());
}

// ---- section 1: plans built here ----

class PlanBuilder {
 public:
  PlanBuilder() { plan.geometry.batch = 2; }
  Plan plan;

  BufRef name(const std::string& n) {
    for (size_t i = 0; i < plan.names.size(); ++i)
      if (plan.names[i] == n) return BufRef{static_cast<int>(i)};
    plan.names.push_back(n);
    plan.first_use.push_back("the test");
    return BufRef{static_cast<int>(plan.names.size() - 1)};
  }
  // A bf16 buffer of `elements` values at byte `offset`, written by op live0 and last read by op live1.
  BufRef buffer(const std::string& n, int64_t elements, int64_t offset, int64_t live0, int64_t live1,
                BufferRole role = BufferRole::Activation) {
    PlanBuffer b;
    b.name = n;
    b.shape = {elements};
    b.dtype = DType::BF16;
    b.role = role;
    b.offset = offset;
    b.bytes = elements * 2;
    if (role == BufferRole::Activation) b.live = std::array<int64_t, 2>{live0, live1};
    plan.buffers.push_back(b);
    return name(n);
  }
  template <typename Body>
  Op& op(const char* kind, Body body) {
    Op o;
    o.id = static_cast<int>(plan.step.size());
    o.kind = kind;
    o.block = 0;
    o.block_kind = "temporal";
    o.body = body;
    plan.step.push_back(o);
    return plan.step.back();
  }
};

// DSP's temporal branch on one rank of 2: samples × T 4 frames × S 8 tokens × D after the first all_to_all:
//   all_to_all x → frames, permute → seqs, add_rows → pos (block 0 only), linear → qkv, self_attention → attn,
//   linear → proj, permute → back, all_to_all → rest, then a gate reading rest.
struct DspVariant {
  int64_t samples = 2, D = 64, period = 4, group = 2;
  bool positions = true;      // block 0's add_rows (the permute folds apply only without it)
  bool conflict = false;      // the attention's output laid over the second sample's all-to-all output
  bool gate_between = false;  // a gate where the positional embedding is
  bool ring = false;
  bool folded = false;        // STDiT's full permute fold applied (fold_of below)
  bool taken = false;         // the projection taken by a fusion
};

constexpr int64_t kT = 4, kS = 8;

Plan dsp_plan(const DspVariant& v) {
  PlanBuilder b;
  b.plan.geometry.batch = v.samples;
  const int64_t B = v.samples, D = v.D, n = B * kT * kS * D, E = n * 2;  // E: bytes of one activation
  const int64_t attn_at = v.conflict ? E + E / 2 : E;
  const int64_t qkv_at = v.conflict || !v.positions ? 3 * E : 2 * E;  // never over the linear's own input
  const int64_t proj_at = v.conflict ? 3 * E : 2 * E;
  const int64_t p = v.positions ? 1 : 0;  // the ops after the add_rows move by one
  const BufRef x = b.buffer("x", n, 0, 0, 100);
  const BufRef frames = b.buffer("frames", n, E, 0, 1);
  const BufRef seqs = b.buffer("seqs", n, 2 * E, 1, 1 + p);
  const BufRef pos = v.positions ? b.buffer("pos", n, E, 2, 3) : seqs;
  const BufRef qkv = b.buffer("qkv", 3 * n, qkv_at, 2 + p, 3 + p);
  const BufRef attn = b.buffer("attn", n, attn_at, 3 + p, 4 + p);
  const BufRef proj = b.buffer("proj", n, proj_at, 4 + p, 5 + p);
  const BufRef back = b.buffer("back", n, E, 5 + p, 6 + p);
  const BufRef rest = b.buffer("rest", n, 2 * E, 6 + p, 7 + p);
  const BufRef table = b.buffer("pos.temporal", v.period * D, 6 * E, 0, 0, BufferRole::Table);
  const BufRef mod = b.buffer("mod", B * 6 * D, 6 * E + 4096, 0, 100);

  AllToAllOp a;
  a.axis = "dsp";
  a.x = x;
  a.out = frames;
  a.dims = {B, kT / 2, kS * 2, D};
  a.scatter = 2;
  a.gather = 1;
  b.op("all_to_all", a);
  PermuteOp p1;
  p1.x = frames;
  p1.out = seqs;
  p1.dims = {B, kT, kS, D};
  p1.perm = {0, 2, 1, 3};
  b.op("permute", p1);
  if (v.positions && v.gate_between) {
    GateOp g;
    g.x = seqs;
    g.out = pos;
    g.gate = od::ModRef{mod, 2};
    g.rows = B * kS * kT;
    g.width = D;
    g.rows_per_sample = kS * kT;
    b.op("gate", g);
  } else if (v.positions) {
    AddRowsOp r;
    r.x = seqs;
    r.table = table;
    r.out = pos;
    r.rows = B * kS * kT;
    r.width = D;
    r.period = v.period;
    r.repeat = 1;
    b.op("add_rows", r);
  }
  LinearOp l;
  l.x = pos;
  l.weight = b.name("qkv.weight");
  l.bias = b.name("qkv.bias");
  l.out = qkv;
  l.rows = B * kS * kT;
  l.in_features = D;
  l.out_features = 3 * D;
  b.op("linear", l);
  SelfAttentionOp s;
  s.qkv = qkv;
  s.out = attn;
  s.batch = B * kS;
  s.seq = kT;
  s.heads = D / 16 > 0 ? D / 16 : 1;
  s.head_dim = D / s.heads;
  s.scale = 0.25;
  if (v.ring) s.ring = "ring";
  b.op("self_attention", s);
  LinearOp pr;
  pr.x = attn;
  pr.weight = b.name("proj.weight");
  pr.bias = b.name("proj.bias");
  pr.out = proj;
  pr.rows = B * kS * kT;
  pr.in_features = D;
  pr.out_features = D;
  b.op("linear", pr);
  PermuteOp p2;
  p2.x = proj;
  p2.out = back;
  p2.dims = {B, kS, kT, D};
  p2.perm = {0, 2, 1, 3};
  b.op("permute", p2);
  AllToAllOp bb;
  bb.axis = "dsp";
  bb.x = back;
  bb.out = rest;
  bb.dims = {B, kT, kS, D};
  bb.scatter = 1;
  bb.gather = 2;
  b.op("all_to_all", bb);
  GateOp g;
  g.x = rest;
  g.out = b.buffer("gated", n, E, 7 + p, 8 + p);
  g.gate = od::ModRef{mod, 2};
  g.rows = B * kT * kS;
  g.width = D;
  g.rows_per_sample = kT * kS;
  b.op("gate", g);
  return b.plan;
}

// What the backend's full permute fold makes of dsp_plan's ops without positions (cuda/permute_fold.h): both
// permutes left out, the qkv linear reading the all-to-all's output, the attention reading and writing the
// [B, T, S] row order, the second all-to-all reading the projection's output.
struct Fold {
  Op linear, reader;
  SequenceLayout layout;
};

Fold fold_of(const Plan& plan) {
  Fold f;
  f.linear = plan.step[2];
  std::get<LinearOp>(f.linear.body).x = std::get<PermuteOp>(plan.step[1].body).x;
  f.reader = plan.step[6];
  std::get<AllToAllOp>(f.reader.body).x = std::get<PermuteOp>(plan.step[5].body).x;
  f.layout.inner = kS;
  f.layout.qkv = SequenceRows{kT * kS, 1, kS};
  f.layout.out = SequenceRows{kT * kS, 1, kS};
  return f;
}

std::vector<OverlapSpan> find(const Plan& plan, const DspVariant& v, std::vector<std::string>& notes, const Fold* fold) {
  od::cuda::SpanRules rules;
  rules.chunks = plan.geometry.batch;
  rules.stage = 0;
  rules.group_size = [&v](const std::string&) { return v.group; };
  const size_t proj = v.positions ? 5 : 4;
  auto planned = [&](size_t k) {
    PlannedOp p;
    p.op = &plan.step[k];
    if (fold && (k == 1 || k == 5)) p.skipped = true;
    if (fold && k == 2) p.op = &fold->linear;
    if (fold && k == 3) p.layout = fold->layout;
    if (fold && k == 6) p.op = &fold->reader;
    if (v.taken && k == proj) p.taken = true;
    return p;
  };
  return od::cuda::find_overlap_spans(plan, rules, planned, &notes);
}

std::string joined(const std::vector<std::string>& notes) {
  std::string s;
  for (const std::string& n : notes) s += (s.empty() ? "" : " | ") + n;
  return s;
}

void dsp_case(const std::string& name, const DspVariant& v, bool expect_span, const std::string& expect_note) {
  const Plan plan = dsp_plan(v);
  Fold fold;
  if (v.folded) fold = fold_of(plan);
  std::vector<std::string> notes;
  std::vector<OverlapSpan> spans;
  try {
    spans = find(plan, v, notes, v.folded ? &fold : nullptr);
  } catch (const std::exception& e) {
    report(name, false, std::string("threw: ") + e.what());
    return;
  }
  if (!expect_span) {
    const bool ok = spans.empty() && !notes.empty() && notes[0].find(expect_note) != std::string::npos;
    report(name, ok, spans.empty() ? (notes.empty() ? "not chunked, and no note says why" : notes[0]) : "chunked " + spans[0].where);
    return;
  }
  bool ok = spans.size() == 1;
  std::string detail = ok ? spans[0].where : std::to_string(spans.size()) + " spans; " + joined(notes);
  if (ok) {
    const OverlapSpan& s = spans[0];
    const size_t last = v.positions ? 7 : 6;
    const size_t want_ops = v.folded ? 5 : last + 1;
    ok = s.first == 0 && s.last == last && s.chunks == v.samples && s.ops.size() == want_ops && s.axis == "dsp";
    if (ok) {
      // Every chunk: dims[0] 1, rows and sequences divided by the samples, the folded ops as folded.
      const int64_t B = v.samples, rows = B * kS * kT;
      const auto& a = std::get<AllToAllOp>(s.ops.front().chunk.body);
      const auto& bb = std::get<AllToAllOp>(s.ops.back().chunk.body);
      ok = a.dims[0] == 1 && bb.dims[0] == 1 && a.dims[1] == kT / 2;
      for (const od::cuda::SpanOp& o : s.ops) {
        if (const auto* l = std::get_if<LinearOp>(&o.chunk.body)) ok = ok && l->rows == rows / B;
        if (const auto* r = std::get_if<AddRowsOp>(&o.chunk.body)) ok = ok && r->rows == rows / B;
        if (const auto* p = std::get_if<PermuteOp>(&o.chunk.body)) ok = ok && p->dims[0] == 1;
        if (const auto* at = std::get_if<SelfAttentionOp>(&o.chunk.body))
          ok = ok && at->batch == kS && o.layout.has_value() == v.folded && (!v.folded || o.layout->inner == kS);
        for (const od::cuda::ChunkedOperand& c : o.operands) ok = ok && c.values % B == 0;
      }
      if (v.folded) {
        const auto* l = std::get_if<LinearOp>(&s.ops[1].chunk.body);
        ok = ok && l && l->x.id == a.out.id && bb.x.id == std::get<LinearOp>(s.ops[3].chunk.body).out.id;
      }
      if (!ok) detail += ": a chunk's op is not the op with its counts divided by the samples";
    } else {
      detail += ": span " + std::to_string(s.first) + ".." + std::to_string(s.last) + " of " + std::to_string(s.ops.size()) + " ops, " +
                std::to_string(s.chunks) + " chunks";
    }
  }
  report(name, ok, detail);
}

// Ulysses' spatial attention on one rank of 2: samples × 4 frames = 8 sequences of 16 tokens, 2 of 4 heads here.
void ulysses_case() {
  PlanBuilder b;
  const int64_t seqs = 8, tokens = 16, D = 64;
  const int64_t nqkv = seqs * (tokens / 2) * 3 * D, nattn = seqs * tokens * (D / 2);
  const BufRef qkv = b.buffer("qkv", nqkv, 0, 0, 0);
  const BufRef heads = b.buffer("qkv.heads", nqkv, nqkv * 2, 0, 1);
  const BufRef attn = b.buffer("attn", nattn, 0, 1, 2);
  const BufRef back = b.buffer("attn.tokens", nattn, nattn * 2, 2, 3);
  AllToAllOp a;
  a.axis = "ulysses";
  a.x = qkv;
  a.out = heads;
  a.dims = {seqs, tokens / 2, 3, D};
  a.scatter = 3;
  a.gather = 1;
  b.op("all_to_all", a);
  SelfAttentionOp s;
  s.qkv = heads;
  s.out = attn;
  s.batch = seqs;
  s.seq = tokens;
  s.heads = 2;
  s.head_dim = 16;
  s.scale = 0.25;
  b.op("self_attention", s);
  AllToAllOp bb;
  bb.axis = "ulysses";
  bb.x = attn;
  bb.out = back;
  bb.dims = {seqs, tokens, 1, D / 2};
  bb.scatter = 1;
  bb.gather = 3;
  b.op("all_to_all", bb);
  od::cuda::SpanRules rules;
  rules.chunks = 2;
  rules.group_size = [](const std::string&) { return int64_t{2}; };
  std::vector<std::string> notes;
  const Plan& plan = b.plan;
  const auto spans = od::cuda::find_overlap_spans(
      plan, rules, [&](size_t k) { return PlannedOp{&plan.step[k], false, false, std::nullopt}; }, &notes);
  bool ok = spans.size() == 1 && spans[0].ops.size() == 3 && spans[0].axis == "ulysses";
  if (ok) {
    ok = std::get<AllToAllOp>(spans[0].ops[0].chunk.body).dims[0] == seqs / 2 &&
         std::get<SelfAttentionOp>(spans[0].ops[1].chunk.body).batch == seqs / 2 &&
         std::get<AllToAllOp>(spans[0].ops[2].chunk.body).dims[0] == seqs / 2;
  }
  report("ulysses: all_to_all, self_attention, all_to_all", ok, spans.empty() ? joined(notes) : spans[0].where);
}

void finder_cases() {
  std::printf("---- the span finder ----\n");
  DspVariant v;
  dsp_case("dsp: all_to_all, permute, add_rows, linear, attention, linear, permute, all_to_all", v, true, "");
  DspVariant three = v;
  three.samples = 4;
  three.period = 2;
  dsp_case("dsp, 4 samples", three, true, "");
  DspVariant later = v;
  later.positions = false;
  dsp_case("dsp, a later block (no add_rows)", later, true, "");
  DspVariant folded = later;
  folded.folded = true;
  dsp_case("dsp with the full permute fold (no permutes, folded attention)", folded, true, "");
  ulysses_case();
  DspVariant one = v;
  one.samples = 1;
  dsp_case("one sample on the rank (cfg 2 x dsp 2)", one, false, "one sample on this rank");
  DspVariant alone = v;
  alone.group = 1;
  dsp_case("a group of one rank", alone, false, "group has one rank");
  DspVariant gate = v;
  gate.gate_between = true;
  dsp_case("a gate in between", gate, false, "a gate is not sliced by sample");
  DspVariant ring = v;
  ring.ring = true;
  dsp_case("ring attention in between", ring, false, "ring attention exchanges");
  DspVariant period = v;
  period.period = 3;
  dsp_case("a positional table of 3 rows (32-row chunks)", period, false, "do not start over");
  DspVariant narrow = v;
  narrow.D = 2;
  dsp_case("chunks of 128 bytes", narrow, false, "not whole 256-byte units");
  DspVariant taken = v;
  taken.taken = true;
  dsp_case("the projection taken by a fusion", taken, false, "runs fused");
  DspVariant conflict = v;
  conflict.conflict = true;
  dsp_case("attention output over the next sample's all-to-all bytes", conflict, false, "would overwrite plan bytes");
}

// ---- section 2: the two streams ----

__device__ uint64_t global_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// dst[i] = src[i]·mul + add after spinning `spin_ns`; log = {start, end} on the global timer.
__global__ void stage_kernel(const float* src, float* dst, int n, float mul, float add, uint64_t spin_ns, uint64_t* log) {
  __shared__ uint64_t start;
  if (threadIdx.x == 0) {
    start = global_ns();
    while (global_ns() - start < spin_ns) {
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) dst[i] = src[i] * mul + add;
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    log[0] = start;
    log[1] = global_ns();
  }
}

constexpr int kN = 4096;                 // values a chunk
constexpr uint64_t kSpinNs = 400000;     // each stage spins 0.4 ms before its work

struct Buffers {
  float *in = nullptr, *a = nullptr, *b = nullptr, *out = nullptr, *after = nullptr;
  uint64_t* log = nullptr;  // [chunk][stage: A, ops, B][start, end], then the op after the span
  int chunks = 0;
  explicit Buffers(int c) : chunks(c) {
    for (float** p : {&in, &a, &b, &out, &after}) CK(cudaMalloc(p, sizeof(float) * kN * c));
    CK(cudaMalloc(&log, sizeof(uint64_t) * (6 * c + 2)));
  }
  ~Buffers() {
    for (float* p : {in, a, b, out, after}) cudaFree(p);
    cudaFree(log);
  }
  uint64_t* at(int chunk, int stage) const { return log + 6 * chunk + 2 * stage; }
};

class TestWork final : public od::cuda::ChunkedWork {
 public:
  explicit TestWork(const Buffers& b) : b_(b) {}
  void exchange_in(int64_t c, cudaStream_t comm) override { stage(b_.in, b_.a, c, 1.0f, 1.0f, 0, comm); }
  void compute(int64_t c, cudaStream_t stream) override { stage(b_.a, b_.b, c, 2.0f, 0.0f, 1, stream); }
  void exchange_out(int64_t c, cudaStream_t comm) override { stage(b_.b, b_.out, c, 1.0f, 3.0f, 2, comm); }

 private:
  void stage(const float* src, float* dst, int64_t c, float mul, float add, int which, cudaStream_t s) {
    stage_kernel<<<1, 256, 0, s>>>(src + c * kN, dst + c * kN, kN, mul, add, kSpinNs, b_.at(static_cast<int>(c), which));
    CK(cudaGetLastError());
  }
  const Buffers& b_;
};

// The span and the op after it on `stream`, the scratch values poisoned (NaN) first.
void enqueue_span(const Buffers& b, cudaStream_t stream, cudaStream_t comm, const od::cuda::ChunkEvents& events) {
  const size_t bytes = sizeof(float) * kN * b.chunks;
  for (float* p : {b.a, b.b, b.out, b.after}) CK(cudaMemsetAsync(p, 0xFF, bytes, stream));
  TestWork work(b);
  od::cuda::enqueue_chunked(b.chunks, stream, comm, events, work);
  stage_kernel<<<1, 256, 0, stream>>>(b.out, b.after, kN * b.chunks, 1.0f, 0.0f, 0, b.log + 6 * b.chunks);
  CK(cudaGetLastError());
}

void check_run(const std::string& name, const Buffers& b, float shift) {
  std::vector<float> after(static_cast<size_t>(kN) * b.chunks);
  std::vector<uint64_t> log(6 * b.chunks + 2);
  CK(cudaMemcpy(after.data(), b.after, after.size() * sizeof(float), cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(log.data(), b.log, log.size() * sizeof(uint64_t), cudaMemcpyDeviceToHost));
  int wrong = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    const float in = static_cast<float>(i % 97) + shift;
    if (after[i] != (in + 1.0f) * 2.0f + 3.0f) wrong++;
  }
  const int C = b.chunks;
  auto start = [&](int c, int s) { return log[6 * c + 2 * s]; };
  auto end = [&](int c, int s) { return log[6 * c + 2 * s + 1]; };
  std::string order;
  for (int c = 0; c < C; ++c) {
    if (start(c, 1) < end(c, 0)) order += " ops " + std::to_string(c) + " before A " + std::to_string(c) + " ended;";
    if (start(c, 2) < end(c, 1)) order += " B " + std::to_string(c) + " before its ops ended;";
    if (start(c, 2) < end(C - 1, 0)) order += " B " + std::to_string(c) + " before the last A ended;";
  }
  if (log[6 * C] < end(C - 1, 2)) order += " the op after the span before the last B ended;";
  const bool overlapped = start(0, 1) < end(1, 0) && start(1, 1) < end(0, 2);
  const double span_ms = static_cast<double>(end(C - 1, 2) - start(0, 0)) / 1e6;
  char detail[200];
  std::snprintf(detail, sizeof detail, "%d wrong values, span %.2f ms (%d stages of %.1f ms, %.1f serial)%s%s", wrong, span_ms, 3 * C,
                kSpinNs / 1e6, 3 * C * kSpinNs / 1e6, overlapped ? ", A_1 beside chunk 0's ops" : ", NO OVERLAP", order.c_str());
  report(name, wrong == 0 && order.empty() && overlapped, detail);
}

void stream_cases() {
  std::printf("---- the two streams ----\n");
  cudaStream_t stream, comm;
  CK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&comm, cudaStreamNonBlocking));
  for (int C : {2, 3}) {
    Buffers b(C);
    std::vector<float> in(static_cast<size_t>(kN) * C);
    auto upload = [&](float shift) {
      for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 97) + shift;
      CK(cudaMemcpyAsync(b.in, in.data(), in.size() * sizeof(float), cudaMemcpyHostToDevice, stream));
    };
    od::cuda::ChunkEvents events;
    events.create(C);
    upload(0);
    enqueue_span(b, stream, comm, events);
    CK(cudaStreamSynchronize(stream));
    check_run(std::to_string(C) + " chunks, enqueued directly", b, 0);

    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    enqueue_span(b, stream, comm, events);
    CK(cudaStreamEndCapture(stream, &graph));
    CK(cudaGraphInstantiate(&exec, graph, 0));
    for (float shift : {5.0f, 11.0f}) {
      upload(shift);
      CK(cudaGraphLaunch(exec, stream));
      CK(cudaStreamSynchronize(stream));
      check_run(std::to_string(C) + " chunks, replayed from a captured graph (inputs +" + std::to_string(static_cast<int>(shift)) + ")", b, shift);
    }
    CK(cudaGraphExecDestroy(exec));
    CK(cudaGraphDestroy(graph));
  }
  {
    Buffers b(3);
    od::cuda::ChunkEvents events;
    events.create(2);
    TestWork work(b);
    std::string what;
    try {
      od::cuda::enqueue_chunked(3, stream, comm, events, work);
    } catch (const std::exception& e) {
      what = e.what();
    }
    report("3 chunks with events for 2: refused", what.find("events for 2") != std::string::npos, what.substr(0, 90));
  }
  CK(cudaStreamDestroy(comm));
  CK(cudaStreamDestroy(stream));
}

}  // namespace

int main() {
  finder_cases();
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess || count == 0) {
    std::printf("no usable GPU (%s): the two-stream section cannot run\n", st != cudaSuccess ? cudaGetErrorString(st) : "0 devices");
    std::printf("%d of %d cases failed before that\n", failed, cases);
    return 2;
  }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  stream_cases();
  std::printf("%s: %d of %d cases failed\n", failed ? "FAIL" : "ok", failed, cases);
  return failed ? 1 : 0;
}
