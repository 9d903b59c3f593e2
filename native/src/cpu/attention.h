// What the attention kernels (cpu/self_attention.cpp, cpu/ring_attention.cpp, cpu/cross_attention.cpp) share,
// computed as the reference's attention ops (runtime/reference/ops/self-attention.ts, cross-attention.ts) compute
// it, in double and in their order of operations: the per-thread scratch read as doubles, the softmax of one
// query's row of key scores, the per-head RMSNorm of q or k, the rotary embedding over interleaved pairs; and the
// entry points of ring attention, which self_attention's check and run call when the op has `ring`.
#pragma once
#include <cmath>
#include <cstdint>

#include "plan/plan.h"
#include "runtime/memory.h"

namespace od::cpu {

// The thread's scratch as doubles (declared in floats, two per double). memory.cpp's scratch is at least
// double-aligned, which this states rather than assumes; `kernel` names the op in the message.
double* scratch_f64(const Memory& mem, int thread, const char* kernel);

// Softmax over the n ≥ 1 keys of one query, numerically stable, in place: scores[j] holds q·k_j on entry and
// exp(scale·scores[j] − max) on return, max being the largest scale·scores[j]; returns their sum (added in key
// order), so softmax_j = scores[j] / sum, which the kernels fold into their weighted sum of the value rows.
double softmax_numerators(double* scores, int64_t n, double scale);

// RMSNorm of x[0..n) in place: weight[d]·(x[d]·inv), inv = 1/√(Σx²/n + eps), as the reference's rmsNorm.
inline void attention_rms_norm(double* x, int64_t n, const float* weight, double eps) {
  double sum = 0;
  for (int64_t d = 0; d < n; d++) sum += x[d] * x[d];
  const double inv = 1 / std::sqrt(sum / static_cast<double>(n) + eps);
  for (int64_t d = 0; d < n; d++) x[d] = static_cast<double>(weight[d]) * (x[d] * inv);
}

// freq[j] = theta^(−2j/hd) for j < hd/2, the exponent as the reference writes it: (−(2j))/hd.
inline void rope_frequencies(double theta, int64_t hd, double* freq) {
  for (int64_t j = 0; j < hd / 2; j++) freq[j] = std::pow(theta, -static_cast<double>(2 * j) / static_cast<double>(hd));
}

// Rotates the interleaved pairs of x[0..2·half) to position p: angle p·freq[j].
inline void rope_rotate(double* x, int64_t half, const double* freq, int64_t p) {
  for (int64_t j = 0; j < half; j++) {
    const double angle = static_cast<double>(p) * freq[j];
    const double c = std::cos(angle);
    const double s = std::sin(angle);
    const double a = x[2 * j];
    const double b = x[2 * j + 1];
    x[2 * j] = a * c - b * s;
    x[2 * j + 1] = b * c + a * s;
  }
}

// self_attention with `ring` (cpu/ring_attention.cpp).
void check_ring_attention(const SelfAttentionOp& op, Memory& mem);
void run_ring_attention(const SelfAttentionOp& op, Memory& mem);

}  // namespace od::cpu
