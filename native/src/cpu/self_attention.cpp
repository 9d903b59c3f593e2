// self_attention (compiler/plan/ops.ts SelfAttentionOp; models.md §0.6, §5.3), the CPU reference of
// runtime/reference/ops/self-attention.ts. For each of `batch` sequences of `seq` tokens and each head h, q, k and
// v of token i are read from packed row i of qkv at feature s·D' + h·headDim + d (s = 0, 1, 2; D' = heads·headDim);
// q and k get the per-head RMSNorm weight ⊙ x / √(mean(x²) + eps) where q_norm / k_norm are given, then RoPE over
// interleaved pairs (2j, 2j + 1) at position p = offset + i with angle p·theta^(−2j/headDim); then
//   out[b·seq + i, h·headDim + d] = Σ_j softmax_j(scale·q_i·k_j)·v_j[d]   over keys j < valid_keys
// (every key when absent; none valid gives zeros). With kv_cache the op's k, v go to rows b·keys + offset + i of
// the buffer ([batch·keys, 2·D']: key at h·headDim + d, value at D' + h·headDim + d) and the queries attend to all
// `keys` rows as the buffer then holds them (rows not written keep their stale K/V, read as the fp32 they are
// stored as). Everything between the fp32 loads and the fp32 store is double, in the reference's order of
// operations; work is split over (sequence, head), whose cache rows and columns are disjoint.
// With `ring` the op runs over its ring group instead: cpu/ring_attention.cpp.
#include <cmath>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/attention.h"
#include "cpu/ops.h"

namespace od::cpu {

namespace {

// The keys of one sequence (the cache's rows with kv_cache, else the op's own tokens) and where the op's own
// tokens sit among them.
int64_t key_count(const SelfAttentionOp& op) { return op.kv_cache ? op.kv_cache->keys : op.seq; }
int64_t key_offset(const SelfAttentionOp& op) { return op.kv_cache ? op.kv_cache->offset : 0; }

// Per-thread scratch, in doubles: k and v of one (sequence, head) [keys, hd], the score row [keys], one query
// [hd], its output accumulator [hd] and the RoPE frequencies [hd/2 rounded up].
int64_t scratch_doubles(int64_t keys, int64_t hd) { return 2 * keys * hd + keys + 2 * hd + (hd + 1) / 2; }

// out[j] = Σ_d q[d]·k[j, d] for j < n, each sum in d order as the reference adds it. Four keys at a time, so four
// independent sums proceed side by side instead of each add waiting on the last: the same bits, several times
// faster.
void dots(const double* q, const double* k, int64_t n, int64_t hd, double* out) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const double* k0 = k + j * hd;
    const double* k1 = k0 + hd;
    const double* k2 = k1 + hd;
    const double* k3 = k2 + hd;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int64_t d = 0; d < hd; d++) {
      const double x = q[d];
      s0 += x * k0[d];
      s1 += x * k1[d];
      s2 += x * k2[d];
      s3 += x * k3[d];
    }
    out[j] = s0;
    out[j + 1] = s1;
    out[j + 2] = s2;
    out[j + 3] = s3;
  }
  for (; j < n; j++) {
    double s0 = 0;
    for (int64_t d = 0; d < hd; d++) s0 += q[d] * k[j * hd + d];
    out[j] = s0;
  }
}

// acc[d] += (e[j] / total)·v[j, d] for j = 0..n−1 in order (the reference's order for every d), four keys per pass
// over acc.
void accumulate(const double* e, double total, const double* v, int64_t n, int64_t hd, double* acc) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const double w0 = e[j] / total, w1 = e[j + 1] / total, w2 = e[j + 2] / total, w3 = e[j + 3] / total;
    const double* v0 = v + j * hd;
    const double* v1 = v0 + hd;
    const double* v2 = v1 + hd;
    const double* v3 = v2 + hd;
    for (int64_t d = 0; d < hd; d++) acc[d] = (((acc[d] + w0 * v0[d]) + w1 * v1[d]) + w2 * v2[d]) + w3 * v3[d];
  }
  for (; j < n; j++) {
    const double w = e[j] / total;
    for (int64_t d = 0; d < hd; d++) acc[d] = acc[d] + w * v[j * hd + d];
  }
}

// What one (sequence, head) task reads; one reference in the parallel_for closure keeps std::function from
// allocating.
struct Task {
  const SelfAttentionOp* op;
  const Memory* mem;
  const float* qkv;
  float* out;
  float* cache;
  const float* q_weight;
  const float* k_weight;
  int64_t keys, offset, valid;
};

// Loads token i's q or k (part 0 or 1) of head h into x and applies the norm and rotary embedding it gets.
void load_qk(const Task& t, int64_t b, int64_t h, int64_t i, int part, const double* freq, double* x) {
  const SelfAttentionOp& op = *t.op;
  const int64_t hd = op.head_dim, width = op.heads * hd;
  const float* src = t.qkv + (b * op.seq + i) * 3 * width + part * width + h * hd;
  for (int64_t d = 0; d < hd; d++) x[d] = static_cast<double>(src[d]);
  const std::optional<NormRef>& norm = part == 0 ? op.q_norm : op.k_norm;
  if (norm) attention_rms_norm(x, hd, part == 0 ? t.q_weight : t.k_weight, norm->eps);
  if (op.rope_theta) rope_rotate(x, hd / 2, freq, t.offset + i);
}

void run_task(const Task& t, int64_t b, int64_t h, double* scratch) {
  const SelfAttentionOp& op = *t.op;
  const int64_t hd = op.head_dim, width = op.heads * hd, keys = t.keys, seq = op.seq;
  double* k = scratch;
  double* v = k + keys * hd;
  double* scores = v + keys * hd;
  double* q = scores + keys;
  double* acc = q + hd;
  double* freq = acc + hd;
  if (op.rope_theta) {
    rope_frequencies(*op.rope_theta, hd, freq);
  }

  // The op's own keys and values at rows offset..offset+seq−1.
  for (int64_t i = 0; i < seq; i++) {
    const int64_t p = t.offset + i;
    load_qk(t, b, h, i, 1, freq, k + p * hd);
    const float* src = t.qkv + (b * seq + i) * 3 * width + 2 * width + h * hd;
    for (int64_t d = 0; d < hd; d++) v[p * hd + d] = static_cast<double>(src[d]);
  }
  if (t.cache) {
    // Write the fresh rows, then read the other rows back as the buffer holds them (stale K/V, fp32). The fresh
    // rows stay the doubles just computed, as the reference's read-back gives them: so a warm-up op, which writes
    // every row, attends exactly as the op without a cache does.
    for (int64_t p = t.offset; p < t.offset + seq; p++) {
      float* row = t.cache + (b * keys + p) * 2 * width + h * hd;
      for (int64_t d = 0; d < hd; d++) {
        row[d] = static_cast<float>(k[p * hd + d]);
        row[width + d] = static_cast<float>(v[p * hd + d]);
      }
    }
    for (int64_t j = 0; j < keys; j++) {
      if (j >= t.offset && j < t.offset + seq) continue;
      const float* row = t.cache + (b * keys + j) * 2 * width + h * hd;
      for (int64_t d = 0; d < hd; d++) {
        k[j * hd + d] = static_cast<double>(row[d]);
        v[j * hd + d] = static_cast<double>(row[width + d]);
      }
    }
  }

  for (int64_t i = 0; i < seq; i++) {
    for (int64_t d = 0; d < hd; d++) acc[d] = 0;
    if (t.valid > 0) {
      load_qk(t, b, h, i, 0, freq, q);
      dots(q, k, t.valid, hd, scores);
      const double total = softmax_numerators(scores, t.valid, op.scale);
      accumulate(scores, total, v, t.valid, hd, acc);
    }
    float* o = t.out + (b * seq + i) * width + h * hd;
    for (int64_t d = 0; d < hd; d++) o[d] = static_cast<float>(acc[d]);
  }
}

}  // namespace

void check_self_attention(const SelfAttentionOp& op, Memory& mem) {
  if (op.ring) return check_ring_attention(op, mem);  // K/V travel the ring group (cpu/ring_attention.cpp)
  OD_CHECK(op.batch >= 0 && op.seq >= 0 && op.heads >= 0 && op.head_dim > 0,
           "batch " + std::to_string(op.batch) + ", seq " + std::to_string(op.seq) + ", heads " + std::to_string(op.heads) +
               " and headDim " + std::to_string(op.head_dim) + " are not attention sizes",
           "");
  const int64_t hd = op.head_dim, width = op.heads * hd;
  const int64_t keys = key_count(op), offset = key_offset(op);
  OD_CHECK(offset >= 0 && offset + op.seq <= keys,
           "K/V rows [" + std::to_string(offset) + ", " + std::to_string(offset + op.seq) + ") leave the " + std::to_string(keys) +
               " keys of a sequence",
           "");
  const int64_t valid = op.valid_keys.value_or(keys);
  OD_CHECK(valid >= 0 && valid <= keys, "validKeys " + std::to_string(valid) + " is not a key count from 0 to " + std::to_string(keys), "");
  OD_CHECK(!op.rope_theta || hd % 2 == 0,
           "rotary embedding over interleaved pairs needs an even headDim, not " + std::to_string(hd), "");
  require_f32(mem, op.qkv, op.batch * op.seq * 3 * width, "qkv");
  require_f32(mem, op.out, op.batch * op.seq * width, "out");
  if (op.q_norm) require_f32(mem, op.q_norm->weight, hd, "qNorm weight");
  if (op.k_norm) require_f32(mem, op.k_norm->weight, hd, "kNorm weight");
  if (op.kv_cache) require_f32(mem, op.kv_cache->buffer, op.batch * keys * 2 * width, "K/V buffer");
  mem.need_scratch(2 * scratch_doubles(keys, hd));
}

void run_self_attention(const SelfAttentionOp& op, Memory& mem) {
  if (op.ring) return run_ring_attention(op, mem);
  Task t{};
  t.op = &op;
  t.mem = &mem;
  t.qkv = mem.f32(op.qkv);
  t.out = mem.f32(op.out);
  t.cache = op.kv_cache ? mem.f32(op.kv_cache->buffer) : nullptr;
  t.q_weight = op.q_norm ? mem.f32(op.q_norm->weight) : nullptr;
  t.k_weight = op.k_norm ? mem.f32(op.k_norm->weight) : nullptr;
  t.keys = key_count(op);
  t.offset = key_offset(op);
  t.valid = op.valid_keys.value_or(t.keys);
  parallel_for(op.batch * op.heads, 1, [&t](int64_t begin, int64_t end, int thread) {
    double* scratch = scratch_f64(*t.mem, thread, "self_attention");
    for (int64_t n = begin; n < end; n++) run_task(t, n / t.op->heads, n % t.op->heads, scratch);
  });
}

}  // namespace od::cpu
