// cross_attention (compiler/plan/ops.ts CrossAttentionOp; models.md §0.7), the CPU reference of
// runtime/reference/ops/cross-attention.ts. Sample s's query rows q[s·queries + i] (feature h·headDim + d) attend
// to its own key rows kv[s·keys + j], whose first D = heads·headDim features are the key and the next D the value:
//   out[s·queries + i, h·headDim + d] = Σ_j softmax_j(scale·q_i·k_j)·v_j[d]   over the keys with mask[s, j] ≠ 0
// (the i32 text mask [samples, keys], 1 = a real token; the lowering makes it an i32 input buffer and the
// reference reads it as one). Masked keys take no part, which is the reference's packing of each sample's valid
// tokens; a sample with no valid key gets zeros. Without a mask every key is valid (the VAE's mid-block
// attention: one head over a frame's pixels, samples = frames). Scores, softmax (cpu/attention.h) and sums are
// double; work is split over query rows, and a query's result depends only on its row and the key rows in key
// order, so a rank holding some of the queries computes their rows' bits of the whole.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/attention.h"
#include "cpu/ops.h"

namespace od::cpu {

namespace {

struct Task {
  const CrossAttentionOp* op;
  const Memory* mem;
  const float* q;
  const float* kv;
  const int32_t* mask;
  float* out;
};

// Query row r = s·queries + i, every head; scratch holds the score row [keys] and the accumulator [hd].
void run_row(const Task& t, int64_t r, double* scratch) {
  const CrossAttentionOp& op = *t.op;
  const int64_t hd = op.head_dim, width = op.heads * hd, keys = op.keys;
  const int64_t s = r / op.queries;
  const int32_t* mask = t.mask ? t.mask + s * keys : nullptr;
  const float* kv = t.kv + s * keys * 2 * width;
  double* scores = scratch;
  double* acc = scores + keys;
  for (int64_t h = 0; h < op.heads; h++) {
    const float* q = t.q + r * width + h * hd;
    for (int64_t d = 0; d < hd; d++) acc[d] = 0;
    // q·k of the valid keys, packed in key order (scores[n] is the n-th valid key's), as the reference packs them.
    int64_t valid = 0;
    for (int64_t j = 0; j < keys; j++) {
      if (mask && mask[j] == 0) continue;
      const float* k = kv + j * 2 * width + h * hd;
      double dot = 0;
      for (int64_t d = 0; d < hd; d++) dot += static_cast<double>(q[d]) * static_cast<double>(k[d]);
      scores[valid++] = dot;
    }
    if (valid > 0) {
      const double total = softmax_numerators(scores, valid, op.scale);
      int64_t n = 0;
      for (int64_t j = 0; j < keys; j++) {
        if (mask && mask[j] == 0) continue;
        const float* v = kv + j * 2 * width + width + h * hd;
        const double w = scores[n++] / total;
        for (int64_t d = 0; d < hd; d++) acc[d] = acc[d] + w * static_cast<double>(v[d]);
      }
    }
    float* o = t.out + r * width + h * hd;
    for (int64_t d = 0; d < hd; d++) o[d] = static_cast<float>(acc[d]);
  }
}

}  // namespace

void check_cross_attention(const CrossAttentionOp& op, Memory& mem) {
  OD_CHECK(op.samples >= 0 && op.queries >= 0 && op.keys >= 0 && op.heads >= 0 && op.head_dim > 0,
           "samples " + std::to_string(op.samples) + ", queries " + std::to_string(op.queries) + ", keys " + std::to_string(op.keys) +
               ", heads " + std::to_string(op.heads) + " and headDim " + std::to_string(op.head_dim) + " are not attention sizes",
           "");
  const int64_t width = op.heads * op.head_dim;
  require_f32(mem, op.q, op.samples * op.queries * width, "q");
  require_f32(mem, op.kv, op.samples * op.keys * 2 * width, "kv");
  if (op.mask) require_i32(mem, *op.mask, op.samples * op.keys, "mask");
  require_f32(mem, op.out, op.samples * op.queries * width, "out");
  mem.need_scratch(2 * (op.keys + op.head_dim));
}

void run_cross_attention(const CrossAttentionOp& op, Memory& mem) {
  Task t{};
  t.op = &op;
  t.mem = &mem;
  t.q = mem.f32(op.q);
  t.kv = mem.f32(op.kv);
  t.mask = op.mask ? mem.i32(*op.mask) : nullptr;
  t.out = mem.f32(op.out);
  parallel_for(op.samples * op.queries, 1, [&t](int64_t begin, int64_t end, int thread) {
    double* scratch = scratch_f64(*t.mem, thread, "cross_attention");
    for (int64_t r = begin; r < end; r++) run_row(t, r, scratch);
  });
}

}  // namespace od::cpu
