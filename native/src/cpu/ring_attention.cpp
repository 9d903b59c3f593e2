// Ring self-attention (compiler/plan/ops.ts SelfAttentionOp with `ring`), the semantics of
// runtime/reference/collectives/ring-attention.ts computed the way the devices compute it. The ring group has R
// members; this rank, the r-th, holds chunk r of each of the `batch` sequences (seq tokens, packed qkv rows), so
// the whole sequence is seq·R tokens in ring order and the rank's token i is token r·seq + i of it.
//
//   1. q and k of the rank's tokens get the per-head RMSNorm and RoPE at their global positions r·seq + i (as the
//      reference's one-rank attention over the gathered sequence gives them), in double; k and v form this
//      rank's K/V block (staging, [batch, heads, seq, headDim] keys then values, double).
//   2. R rounds: in round t the block held came from member (r − t) mod R, whose keys sit at global indices
//      from ((r − t) mod R)·seq; keys at or past validKeys (counted over the whole sequence) get no weight.
//      Every query folds the block's valid keys into its online-softmax state (running max m, sum l, weighted
//      value sum acc, double); before the fold the block is sent on to the next member, and after it the
//      previous member's block is received (the transport buffers the send, so the fold overlaps the transfer).
//   3. out = acc / l, zeros for a query with no valid key at all (as the reference).
// Up to the rounding of the log-sum-exp merge (the blocks are summed in ring order, not global key order), each
// output is the reference's. Work within a round is split over (sequence, head).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "comm/communicator.h"
#include "core/error.h"
#include "core/parallel.h"
#include "cpu/attention.h"
#include "cpu/comm_support.h"
#include "cpu/ops.h"

namespace od::cpu {
namespace {

// The staging layout, in doubles: q [B·H·S·hd], two K/V blocks [2·B·H·S·hd] each, acc [B·H·S·hd], m and l
// [B·H·S] each.
struct Layout {
  int64_t qd = 0, block = 0, rows = 0;
  int64_t doubles() const { return qd + 2 * block + qd + 2 * rows; }
};

Layout layout_of(const SelfAttentionOp& op) {
  Layout l;
  l.rows = op.batch * op.heads * op.seq;
  l.qd = l.rows * op.head_dim;
  l.block = 2 * l.qd;
  return l;
}

struct Ring {
  const SelfAttentionOp* op = nullptr;
  const Memory* mem = nullptr;
  const float* qkv = nullptr;
  const float* q_weight = nullptr;
  const float* k_weight = nullptr;
  int64_t member = 0;  // r
  double* q = nullptr;
  double* acc = nullptr;
  double* m = nullptr;
  double* l = nullptr;
  double* block = nullptr;  // the K/V block being folded (prepare: filled)
  int64_t valid = 0;              // how many of its keys are valid
  float* out = nullptr;
};

// Step 1 for one (sequence, head): q into the q area, k and v into `block`, the state reset.
void prepare(const Ring& g, int64_t b, int64_t h, double* block, double* freq) {
  const SelfAttentionOp& op = *g.op;
  const int64_t S = op.seq, hd = op.head_dim, width = op.heads * hd, n = (b * op.heads + h) * S;
  if (op.rope_theta) rope_frequencies(*op.rope_theta, hd, freq);
  double* k = block + n * hd;
  double* v = block + op.batch * op.heads * S * hd + n * hd;
  for (int64_t i = 0; i < S; i++) {
    const float* row = g.qkv + (b * S + i) * 3 * width + h * hd;
    double* qi = g.q + (n + i) * hd;
    double* ki = k + i * hd;
    for (int64_t d = 0; d < hd; d++) {
      qi[d] = static_cast<double>(row[d]);
      ki[d] = static_cast<double>(row[width + d]);
      v[i * hd + d] = static_cast<double>(row[2 * width + d]);
    }
    if (op.q_norm) attention_rms_norm(qi, hd, g.q_weight, op.q_norm->eps);
    if (op.k_norm) attention_rms_norm(ki, hd, g.k_weight, op.k_norm->eps);
    if (op.rope_theta) {
      const int64_t p = g.member * S + i;
      rope_rotate(qi, hd / 2, freq, p);
      rope_rotate(ki, hd / 2, freq, p);
    }
    g.m[n + i] = -std::numeric_limits<double>::infinity();
    g.l[n + i] = 0;
    for (int64_t d = 0; d < hd; d++) g.acc[(n + i) * hd + d] = 0;
  }
}

// Step 2 for one (sequence, head): the first `valid` keys of `block` folded into every query's state.
void fold(const Ring& g, int64_t b, int64_t h, const double* block, int64_t valid, double* scores) {
  const SelfAttentionOp& op = *g.op;
  const int64_t S = op.seq, hd = op.head_dim, n = (b * op.heads + h) * S;
  const double* k = block + n * hd;
  const double* v = block + op.batch * op.heads * S * hd + n * hd;
  for (int64_t i = 0; i < S; i++) {
    const double* qi = g.q + (n + i) * hd;
    double block_max = -std::numeric_limits<double>::infinity();
    for (int64_t j = 0; j < valid; j++) {
      double dot = 0;
      for (int64_t d = 0; d < hd; d++) dot += qi[d] * k[j * hd + d];
      scores[j] = dot * op.scale;
      block_max = std::max(block_max, scores[j]);
    }
    const double m_old = g.m[n + i];
    const double m_new = std::max(m_old, block_max);
    const double carry = std::exp(m_old - m_new);  // 0 while nothing was folded (m_old = −∞, m_new finite)
    double* acc = g.acc + (n + i) * hd;
    double sum = g.l[n + i] * carry;
    for (int64_t d = 0; d < hd; d++) acc[d] *= carry;
    for (int64_t j = 0; j < valid; j++) {
      const double e = std::exp(scores[j] - m_new);
      sum += e;
      for (int64_t d = 0; d < hd; d++) acc[d] += e * v[j * hd + d];
    }
    g.m[n + i] = m_new;
    g.l[n + i] = sum;
  }
}

}  // namespace

void check_ring_attention(const SelfAttentionOp& op, Memory& mem) {
  OD_CHECK(op.batch >= 0 && op.seq >= 0 && op.heads >= 0 && op.head_dim > 0,
           "batch " + std::to_string(op.batch) + ", seq " + std::to_string(op.seq) + ", heads " + std::to_string(op.heads) +
               " and headDim " + std::to_string(op.head_dim) + " are not attention sizes",
           "");
  OD_CHECK(!op.kv_cache, "ring attention over the " + *op.ring + " group with a K/V buffer (kvCache) is not a combination the compiler makes",
           "recompile the plan");
  const std::vector<int>& group = comm_group(mem, *op.ring);
  const int64_t R = static_cast<int64_t>(group.size());
  const int64_t whole = op.seq * R;
  const int64_t valid = op.valid_keys.value_or(whole);
  OD_CHECK(valid >= 0 && valid <= whole,
           "validKeys " + std::to_string(valid) + " is not a key count from 0 to the ring's " + std::to_string(whole), "");
  const int64_t hd = op.head_dim, width = op.heads * hd;
  OD_CHECK(!op.rope_theta || hd % 2 == 0,
           "rotary embedding over interleaved pairs needs an even headDim, not " + std::to_string(hd), "");
  require_f32(mem, op.qkv, op.batch * op.seq * 3 * width, "qkv");
  require_f32(mem, op.out, op.batch * op.seq * width, "out");
  if (op.q_norm) require_f32(mem, op.q_norm->weight, hd, "qNorm weight");
  if (op.k_norm) require_f32(mem, op.k_norm->weight, hd, "kNorm weight");
  mem.need_staging(layout_of(op).doubles() * static_cast<int64_t>(sizeof(double)));
  mem.need_scratch(2 * (op.seq + (hd + 1) / 2));  // per thread: scores [seq] and RoPE frequencies, doubles
}

void run_ring_attention(const SelfAttentionOp& op, Memory& mem) {
  const std::vector<int>& group = mem.group(*op.ring, "the " + *op.ring + " group");
  const int64_t R = static_cast<int64_t>(group.size());
  const Layout lay = layout_of(op);
  if (lay.rows == 0) return;
  Ring g;
  g.op = &op;
  g.mem = &mem;
  g.qkv = mem.f32(op.qkv);
  g.q_weight = op.q_norm ? mem.f32(op.q_norm->weight) : nullptr;
  g.k_weight = op.k_norm ? mem.f32(op.k_norm->weight) : nullptr;
  while (g.member < R && group[static_cast<size_t>(g.member)] != mem.rank()) g.member++;
  double* base = static_cast<double*>(mem.staging());
  g.q = base;
  double* held = g.q + lay.qd;
  double* incoming = held + lay.block;
  g.acc = incoming + lay.block;
  g.m = g.acc + lay.qd;
  g.l = g.m + lay.rows;
  const int64_t tasks = op.batch * op.heads;

  // One reference in each parallel_for closure keeps std::function from allocating.
  g.block = held;
  parallel_for(tasks, 1, [&g](int64_t begin, int64_t end, int thread) {
    double* freq = scratch_f64(*g.mem, thread, "self_attention (ring)") + g.op->seq;
    for (int64_t n = begin; n < end; n++) prepare(g, n / g.op->heads, n % g.op->heads, g.block, freq);
  });

  const int64_t bytes = lay.block * static_cast<int64_t>(sizeof(double));
  const int next = group[static_cast<size_t>((g.member + 1) % R)];
  const int prev = group[static_cast<size_t>((g.member + R - 1) % R)];
  const int64_t valid_total = op.valid_keys.value_or(op.seq * R);
  std::string what;
  if (R > 1) what = comm_what(mem, *op.ring, group) + " (ring K/V)";
  for (int64_t t = 0; t < R; t++) {
    if (t + 1 < R) mem.comm()->send(next, kCollectiveChannel, held, bytes, what);
    const int64_t source = (g.member - t + R) % R;
    g.block = held;
    g.valid = std::clamp<int64_t>(valid_total - source * op.seq, 0, op.seq);
    if (g.valid > 0) {
      parallel_for(tasks, 1, [&g](int64_t begin, int64_t end, int thread) {
        double* scores = scratch_f64(*g.mem, thread, "self_attention (ring)");
        for (int64_t n = begin; n < end; n++) fold(g, n / g.op->heads, n % g.op->heads, g.block, g.valid, scores);
      });
    }
    if (t + 1 < R) {
      mem.comm()->recv(prev, kCollectiveChannel, incoming, bytes, what);
      std::swap(held, incoming);
    }
  }

  g.out = mem.f32(op.out);
  parallel_for(tasks, 1, [&g](int64_t begin, int64_t end, int) {
    const int64_t S = g.op->seq, hd = g.op->head_dim, width = g.op->heads * hd;
    for (int64_t n = begin; n < end; n++) {
      const int64_t b = n / g.op->heads, h = n % g.op->heads;
      for (int64_t i = 0; i < S; i++) {
        const int64_t row = n * S + i;
        const double total = g.l[row];
        float* o = g.out + (b * S + i) * width + h * hd;
        for (int64_t d = 0; d < hd; d++) o[d] = total > 0 ? static_cast<float>(g.acc[row * hd + d] / total) : 0.0f;
      }
    }
  });
}

}  // namespace od::cpu
