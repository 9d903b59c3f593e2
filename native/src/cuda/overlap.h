// Communication overlapped with compute on the CUDA backend: the all-to-alls of DSP and Ulysses chunked by sample
// against the ops between them (issue 7). A span is an `all_to_all` A, the ops after it up to the next `all_to_all`
// B over the same axis, and B, whose every op is separable by sample (samples outermost in every buffer it moves:
// DSP's switch to token shards, permute, positional embedding, qkv linear, temporal attention, projection, permute
// and switch back; Ulysses' switch to head shards, spatial attention and switch back). With C samples on the rank
// (plan.geometry.batch ≥ 2), the span runs as C chunks of one sample each:
//
//   comm_stream:  [fork] A_0  A_1 … A_{C−1}   B_0 (after chunk 0's ops)   B_1 …   B_{C−1}  [join]
//   stream:               chunk 0's ops (after A_0)   chunk 1's ops (after A_1) …
//
// so A_{c+1} travels while chunk c computes and B_c while chunk c + 1 does. Every NCCL call of the span is on
// comm_stream, in the order A_0 … A_{C−1}, B_0 … B_{C−1} on every rank; the span's fork (comm_stream waits for the
// ops before it) and join (the op after it waits for B_{C−1}) keep the communicator's other calls, on the main
// stream, from ever running beside them; and the join puts the span's transfers under every wait of the main
// stream (synchronize, download, nccl_wait's timeout). The events are recorded in the step's CUDA graph capture
// like ring attention's; nothing is allocated in the step loop.
//
// A chunk of an op: the op with its outermost count divided by C (all_to_all and permute dims[0], add_rows and
// linear rows, self_attention batch), its row buffers read and written through views (Context::views) starting
// c/C into each buffer. The kinds sliced, exactly: all_to_all (A and B: scatter and gather not 0), permute keeping
// axis 0 first, add_rows whose table row repeats within a chunk, linear (x and out not sharing plan bytes),
// self_attention without ring or kv_cache (also in a permute fold's row order, cuda/permute_fold.h), as the backend
// runs them after its fusions and permute folds (a folded permute is left out, a rewritten op sliced as rewritten).
// Any other kind in between, an op a fusion takes, an op on other steps or ranks than A, a count
// C does not divide, a chunk that is not a whole number of 256-byte units (the views keep every pointer's
// alignment, so the GEMM keys and cuDNN plans prepared for a chunk are those it runs), or an op between reading a
// row buffer no earlier op of the span wrote, and the span is not chunked. Then the plan's bytes decide: the arena
// reuses bytes between buffers whose lives do not overlap in plan order, which chunking reorders, so every read of
// every chunk is checked to see the value the unchunked order gives it (its last writer in plan order happens
// before it on the two streams, and every other writer of those bytes happens before that writer or after the
// read), and every byte that outlives the span to end with the same last write.
//
// Only spans with a linear between their all-to-alls are chunked by default (OPENDIT_CUDA_OVERLAP=gemm): measured on
// 4 H200s, Ulysses' spans (the attention alone) ran 3% slower chunked, DSP's 2% faster at dsp 4.
// OPENDIT_CUDA_OVERLAP=all chunks every span found, =0 turns it off; OPENDIT_CUDA_OVERLAP_NOTES=1 prints, at the
// step loop's start, the spans each rank chunks and why others are not. Off, like the fusions, in runs with
// captures (a capture reads buffers mid-step). OPENDIT_CUDA_PROFILE=1 times each chunk's all-to-all on comm_stream under `all_to_all (<block kind>)
// overlapped` and each chunk's ops under their own keys; their times overlap, so the table's total exceeds the
// step's.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cuda/ops.h"
#include "cuda/permute_fold.h"
#include "plan/plan.h"
#include "runtime/backend.h"

namespace od::cuda {

class Gemm;

// ---- the spans of a plan (cuda/overlap_spans.cpp: the plan and its byte offsets only, no device) ----

// What the backend runs at a step op once its other plans (cuda/fusion.h, cuda/permute_fold.h) had their say.
struct PlannedOp {
  const Op* op = nullptr;                  // the op run: the plan's, or a permute fold's rewritten copy
  bool skipped = false;                    // not run at all (a permute folded away)
  bool taken = false;                      // run inside another op's fused kernel, or itself fused
  std::optional<SequenceLayout> layout;    // a folded attention: the row order it reads and writes
};
using PlannedOps = std::function<PlannedOp(size_t index)>;

// A buffer an op of a span reads or writes by rows: chunk c of C covers values [c·values/C, (c + 1)·values/C)
// from the buffer's start.
struct ChunkedOperand {
  BufRef ref;
  int64_t values = 0;
  bool write = false;
};

// One op of a span as it runs per chunk.
struct SpanOp {
  size_t index = 0;                        // its position in plan.step
  Op chunk;                                // the op restricted to one chunk (counts divided; buffers through views)
  std::optional<SequenceLayout> layout;    // a folded attention's row order
  std::vector<ChunkedOperand> operands;    // its row buffers (weights, tables and norms are read whole)
};

struct OverlapSpan {
  size_t first = 0, last = 0;  // A and B: positions in plan.step
  int64_t chunks = 0;
  std::string axis;
  std::vector<SpanOp> ops;     // A, the ops run between them (folded permutes left out), B
  std::string where;           // "step ops 14..21 (dsp, spatial block 0)"
};

struct SpanRules {
  int64_t chunks = 0;  // samples on the rank: plan.geometry.batch
  int64_t stage = 0;   // the rank's pipeline stage
  std::function<int64_t(const std::string& axis)> group_size;  // members of the rank's group on an axis
};

// Every span of plan.step to chunk, in order. `notes` (optional) gets a line per all_to_all that starts no span,
// saying why.
std::vector<OverlapSpan> find_overlap_spans(const Plan& plan, const SpanRules& rules, const PlannedOps& planned,
                                            std::vector<std::string>* notes);

// ---- the two streams of a chunked span (cuda/overlap_streams.cu) ----

// The work of one span, chunk by chunk, each part enqueued on the stream given.
class ChunkedWork {
 public:
  virtual ~ChunkedWork() = default;
  virtual void exchange_in(int64_t chunk, cudaStream_t comm) = 0;   // A restricted to the chunk
  virtual void compute(int64_t chunk, cudaStream_t stream) = 0;     // the ops between, restricted to the chunk
  virtual void exchange_out(int64_t chunk, cudaStream_t comm) = 0;  // B restricted to the chunk
};

// The events of chunked spans, created once (outside the step loop) for up to `chunks` chunks and shared by every
// span: a wait binds to the event's latest record when it is enqueued, and the spans run one after another.
class ChunkEvents {
 public:
  ChunkEvents() = default;
  ~ChunkEvents();
  ChunkEvents(const ChunkEvents&) = delete;
  ChunkEvents& operator=(const ChunkEvents&) = delete;
  void create(int64_t chunks);  // on the current device; fails naming the CUDA error
  void destroy();
  int64_t chunks() const { return static_cast<int64_t>(exchanged_.size()); }

 private:
  friend void enqueue_chunked(int64_t, cudaStream_t, cudaStream_t, const ChunkEvents&, ChunkedWork&);
  cudaEvent_t fork_ = nullptr, join_ = nullptr;
  std::vector<cudaEvent_t> exchanged_, computed_;  // per chunk: A_c done (comm), chunk c's ops done (stream)
};

// Enqueues the span's chunks (the diagram above): comm waits for `stream`'s work so far, then A_0 … A_{C−1};
// `stream` runs chunk c's ops after A_c; B_c follows A_{C−1} and chunk c's ops on comm; `stream` waits for B_{C−1}.
// Inside a CUDA graph capture of `stream` the events fork comm into the capture and join it back.
void enqueue_chunked(int64_t chunks, cudaStream_t stream, cudaStream_t comm, const ChunkEvents& events, ChunkedWork& work);

// ---- the backend's runner (cuda/overlap.cu) ----

// The backend's own way of running a step op on ctx.stream (its dispatch, profiled; `layout` non-null: a folded
// attention in that row order), and its profile's events on the comm stream (null where it does not profile).
struct OverlapHooks {
  std::function<void(const Op&, const SequenceLayout* layout)> launch;
  std::function<void(const std::string& key, cudaStream_t)> profile_begin;
  std::function<void(cudaStream_t)> profile_end;
};

// The views of a span's chunks: [op of the span][chunk] → the views of that op's row buffers.
using SpanViews = std::vector<std::vector<std::vector<BufferView>>>;

class Overlap {
 public:
  Overlap() = default;
  ~Overlap();
  Overlap(const Overlap&) = delete;
  Overlap& operator=(const Overlap&) = delete;

  // Finds the spans of host's step program for this rank (ctx: the prepared device memory, ctx.comm_stream and
  // the NCCL mesh; nothing where they are absent), prepares the chunks' GEMMs and attention plans on `gemm`, builds
  // every chunk's views, allocates the comm stream's staging and creates the events; outside any capture. A span
  // whose chunks cannot be prepared is not chunked. With OPENDIT_CUDA_OVERLAP_NOTES=1, says on stderr which spans
  // this rank chunks and why the other all-to-alls are not.
  void plan(const Memory& host, const Context& ctx, Gemm& gemm, const PlannedOps& planned);
  void reset();  // no spans; the staging and events released
  bool active() const { return !spans_.empty(); }
  // At a step op of the planned plan: the span it starts (run() runs the whole span there), or whether it is one
  // of a span's later ops (nothing to do: its span ran them).
  const OverlapSpan* starting_at(const Op& op) const;
  bool inside(const Op& op) const;
  // Enqueues the span (enqueue_chunked): its all-to-alls on ctx.comm_stream through the staging of its own, its
  // ops through hooks.launch on ctx.stream, each chunk through its views (set on ctx while it runs).
  void run(const OverlapSpan& span, Context& ctx, const OverlapHooks& hooks);
  // The spans that ran chunked at least once.
  OverlapCounts counts() const;
  int64_t device_bytes() const { return static_cast<int64_t>(staging_bytes_); }
  const std::vector<OverlapSpan>& spans() const { return spans_; }

 private:
  int span_at(const Op& op) const;  // index into spans_ of the span holding op (−1: none)

  const Plan* plan_ = nullptr;
  std::vector<OverlapSpan> spans_;
  std::vector<SpanViews> views_;    // by span
  std::vector<std::string> keys_;   // by span: the profile key of its chunks' all-to-alls
  std::vector<char> ran_;           // by span
  std::vector<int> span_of_;        // by step op: the span holding it, or −1
  void* staging_ = nullptr;         // the comm stream's all-to-all staging (never ctx.scratch, which ctx.stream uses)
  size_t staging_bytes_ = 0;
  ChunkEvents events_;
};

}  // namespace od::cuda
