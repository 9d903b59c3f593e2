// opendit-random-v1, the C++ twin of checkpoint/generator.ts (checkpoint/README.md, "The generator", is the
// specification). JavaScript keeps 64-bit words as two 32-bit halves; here they are plain uint64_t, whose
// wrap-around arithmetic is the README's by definition. The real arithmetic is a fixed sequence of correctly
// rounded double operations (+ − × ÷ √, frexp and floor are exact), so with -ffp-contract=off and no fast-math
// every step rounds exactly as V8 rounds it and the normals are the same bits. The C library's log/sin/cos are
// not used on purpose: they may differ from JavaScript's in the last bit.
#include "checkpoint/generator.h"

#include <cmath>

namespace od::gen {

namespace {

constexpr uint64_t GAMMA = 0x9E3779B97F4A7C15ull;
constexpr uint64_t M1 = 0xBF58476D1CE4E5B9ull;
constexpr uint64_t M2 = 0x94D049BB133111EBull;
constexpr uint64_t FNV_OFFSET = 0xCBF29CE484222325ull;
constexpr uint64_t FNV_PRIME = 0x00000100000001B3ull;

constexpr double LN2 = 0.6931471805599453;
constexpr double SQRT1_2 = 0.7071067811865476;
constexpr double HALF_PI = 1.5707963267948966;

// C[j] = 1 / (2j + 1), each a correctly rounded division, as ATANH_COEFFS in generator.ts. Evaluated at compile
// time (constant folding of IEEE division is correctly rounded too), so there is no static-init order to mind.
struct AtanhCoeffs {
  double c[12];
};
constexpr AtanhCoeffs make_atanh() {
  AtanhCoeffs t{};
  for (int j = 0; j < 12; j++) t.c[j] = 1.0 / static_cast<double>(2 * j + 1);
  return t;
}
constexpr AtanhCoeffs ATANH = make_atanh();

}  // namespace

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * M1;
  z = (z ^ (z >> 27)) * M2;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = FNV_OFFSET;
  for (char ch : bytes) h = (h ^ static_cast<uint8_t>(ch)) * FNV_PRIME;
  return h;
}

uint64_t key(uint64_t seed, std::string_view name) { return mix64(mix64(seed + GAMMA) ^ fnv1a64(name)); }

uint64_t draw(uint64_t key, uint64_t n) { return mix64(key + (n + 1) * GAMMA); }

double uniform(uint64_t x) {
  // The top 52 bits fit a double exactly; + 0.5 and the power-of-two scale are exact too.
  return (static_cast<double>(x >> 12) + 0.5) * 0x1p-52;
}

double log_series(double u) {
  // u = m * 2^e exactly; moving m into [√½, √2) keeps |s| < 0.172 so twelve odd terms of 2·atanh(s) suffice.
  int e = 0;
  double m = std::frexp(u, &e);
  if (m < SQRT1_2) {
    m = m * 2;
    e = e - 1;
  }
  const double s = (m - 1) / (m + 1);
  const double z = s * s;
  double p = ATANH.c[11];
  for (int j = 10; j >= 0; j--) p = p * z + ATANH.c[j];
  return static_cast<double>(e) * LN2 + (s + s) * p;
}

void cos_sin_series(double a, double* c, double* s) {
  // Nested Taylor series to a^22 / a^23; the divisors are small integers, exact as doubles.
  const double a2 = a * a;
  double cc = 1, ss = 1;
  for (int j = 11; j >= 1; j--) {
    cc = 1 - (cc * a2) / static_cast<double>((2 * j - 1) * (2 * j));
    ss = 1 - (ss * a2) / static_cast<double>((2 * j) * (2 * j + 1));
  }
  *c = cc;
  *s = a * ss;
}

void box_muller(uint64_t d0, uint64_t d1, double* z0, double* z1) {
  const double u1 = uniform(d0);
  const double u2 = uniform(d1);
  const double r = std::sqrt(-2 * log_series(u1));
  // θ = 2π·u2 split exactly into a quarter turn q and a remainder below π/2, the only angles the series see.
  const double v = 4 * u2;
  const double q = std::floor(v);
  double c, s;
  cos_sin_series((v - q) * HALF_PI, &c, &s);
  // Negation after the product, as generator.ts writes it (the same bits as r * -s, but kept literal).
  switch (static_cast<int>(q)) {
    case 0:
      *z0 = r * c;
      *z1 = r * s;
      break;
    case 1:
      *z0 = -(r * s);
      *z1 = r * c;
      break;
    case 2:
      *z0 = -(r * c);
      *z1 = -(r * s);
      break;
    default:
      *z0 = r * s;
      *z1 = -(r * c);
      break;
  }
}

}  // namespace od::gen
