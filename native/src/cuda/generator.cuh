// opendit-random-v1 on the device: the __device__ twin of checkpoint/generator.{h,cpp} (checkpoint/README.md,
// "The generator", is the specification), bit for bit. The integer part (SplitMix64, FNV-1a) is plain uint64_t
// wrap-around arithmetic; every real operation is an explicit correctly rounded intrinsic (__dadd_rn, __dsub_rn,
// __dmul_rn, __ddiv_rn, __dsqrt_rn), so nvcc can contract nothing into a fused multiply-add whatever --fmad says,
// and frexp, floor and the int → double conversions are exact. The result is the host's double to the last bit,
// which the solver rounds to fp32 as the CPU does. Checked against the host generator by
// native/test/cuda_generator_test.cu.
//
// Keys: the solver's noise stream of sample g at step i is gen::key(seed, "noise/<i>/<g>") =
// mix64(mix64(seed + GAMMA) ^ fnv1a64("noise/<i>/<g>")). The launcher computes the seed half and the FNV state
// after the prefix "noise/<i>/" on the host (gen::mix64, gen::fnv1a64: FNV-1a is a left fold, so the state after
// a prefix is the hash of the prefix); the kernel appends g's decimal digits (fnv_append_decimal) and mixes, so any
// number of samples needs no key table.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace od::cuda::gen {

constexpr uint64_t GAMMA = 0x9E3779B97F4A7C15ull;
constexpr uint64_t M1 = 0xBF58476D1CE4E5B9ull;
constexpr uint64_t M2 = 0x94D049BB133111EBull;
constexpr uint64_t FNV_PRIME = 0x00000100000001B3ull;

constexpr double LN2 = 0.6931471805599453;
constexpr double SQRT1_2 = 0.7071067811865476;
constexpr double HALF_PI = 1.5707963267948966;

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * M1;
  z = (z ^ (z >> 27)) * M2;
  return z ^ (z >> 31);
}

// FNV-1a state `h` continued by the decimal digits of `value` (as printf's %d / %lld write a non-negative value).
__device__ __forceinline__ uint64_t fnv_append_decimal(uint64_t h, uint64_t value) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (int i = n - 1; i >= 0; i--) h = (h ^ static_cast<uint8_t>(digits[i])) * FNV_PRIME;
  return h;
}

// key(seed, name) from mixed_seed = mix64(seed + GAMMA) and fnv = fnv1a64(name).
__device__ __forceinline__ uint64_t key_of(uint64_t mixed_seed, uint64_t fnv) { return mix64(mixed_seed ^ fnv); }

// draw(key, n) = mix64(key + (n + 1) * GAMMA)
__device__ __forceinline__ uint64_t draw(uint64_t key, uint64_t n) { return mix64(key + (n + 1) * GAMMA); }

// ((double)(x >> 12) + 0.5) * 2^-52: every step exact.
__device__ __forceinline__ double uniform(uint64_t x) {
  return __dmul_rn(__dadd_rn(__ull2double_rn(x >> 12), 0.5), 0x1p-52);
}

// log of u in (0, 1) by the README's series (generator.cpp log_series). u is a positive normal double (at least
// 2^-53), so frexp is the exponent field read off the bits: u = m·2^e with m in [0.5, 1).
__device__ __forceinline__ double log_series(double u) {
  const uint64_t bits = static_cast<uint64_t>(__double_as_longlong(u));
  int e = static_cast<int>((bits >> 52) & 0x7FF) - 1022;
  double m = __longlong_as_double(static_cast<long long>((bits & ~(0x7FFull << 52)) | (1022ull << 52)));
  if (m < SQRT1_2) {
    m = __dmul_rn(m, 2.0);
    e = e - 1;
  }
  const double s = __ddiv_rn(__dsub_rn(m, 1.0), __dadd_rn(m, 1.0));
  const double z = __dmul_rn(s, s);
  // C[j] = 1 / (2j + 1), each correctly rounded as the host's constexpr table.
  double p = __ddiv_rn(1.0, 23.0);
#pragma unroll
  for (int j = 10; j >= 0; j--) p = __dadd_rn(__dmul_rn(p, z), __ddiv_rn(1.0, static_cast<double>(2 * j + 1)));
  return __dadd_rn(__dmul_rn(static_cast<double>(e), LN2), __dmul_rn(__dadd_rn(s, s), p));
}

// cos and sin of a in [0, π/2) by the nested Taylor series (generator.cpp cos_sin_series).
__device__ __forceinline__ void cos_sin_series(double a, double* c, double* s) {
  const double a2 = __dmul_rn(a, a);
  double cc = 1, ss = 1;
#pragma unroll
  for (int j = 11; j >= 1; j--) {
    cc = __dsub_rn(1.0, __ddiv_rn(__dmul_rn(cc, a2), static_cast<double>((2 * j - 1) * (2 * j))));
    ss = __dsub_rn(1.0, __ddiv_rn(__dmul_rn(ss, a2), static_cast<double>((2 * j) * (2 * j + 1))));
  }
  *c = cc;
  *s = __dmul_rn(a, ss);
}

// One Box–Muller pair from two draws (generator.cpp box_muller).
__device__ __forceinline__ void box_muller(uint64_t d0, uint64_t d1, double* z0, double* z1) {
  const double u1 = uniform(d0);
  const double u2 = uniform(d1);
  const double r = __dsqrt_rn(__dmul_rn(-2.0, log_series(u1)));
  const double v = __dmul_rn(4.0, u2);
  const double q = floor(v);
  double c, s;
  cos_sin_series(__dmul_rn(__dsub_rn(v, q), HALF_PI), &c, &s);
  switch (static_cast<int>(q)) {
    case 0:
      *z0 = __dmul_rn(r, c);
      *z1 = __dmul_rn(r, s);
      break;
    case 1:
      *z0 = -__dmul_rn(r, s);
      *z1 = __dmul_rn(r, c);
      break;
    case 2:
      *z0 = -__dmul_rn(r, c);
      *z1 = -__dmul_rn(r, s);
      break;
    default:
      *z0 = __dmul_rn(r, s);
      *z1 = -__dmul_rn(r, c);
      break;
  }
}

// Normal m of the stream `key` (z0 of pair m/2 for even m, z1 for odd), as a double.
__device__ __forceinline__ double normal(uint64_t key, uint64_t m) {
  const uint64_t pair = m / 2;
  double z0, z1;
  box_muller(draw(key, 2 * pair), draw(key, 2 * pair + 1), &z0, &z1);
  return (m % 2 == 0) ? z0 : z1;
}

}  // namespace od::cuda::gen
