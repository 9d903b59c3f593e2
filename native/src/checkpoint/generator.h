// opendit-random-v1: the seeded random stream of checkpoint/README.md ("The generator"), bit for bit the
// TypeScript checkpoint/generator.ts: SplitMix64 keyed by (seed, name), uniforms, Box–Muller normals with the
// spelt-out log/sin/cos series. Compiled with -ffp-contract=off (CMakeLists.txt) so no multiply-add fuses.
#pragma once
#include <cstdint>
#include <string_view>

namespace od::gen {

uint64_t mix64(uint64_t z);
uint64_t fnv1a64(std::string_view bytes);
// key(seed, name) = mix64(mix64(seed + GAMMA) ^ fnv1a64(name))
uint64_t key(uint64_t seed, std::string_view name);
// draw(key, n) = mix64(key + (n + 1) * GAMMA)
uint64_t draw(uint64_t key, uint64_t n);
// ((double)(x >> 12) + 0.5) * 2^-52
double uniform(uint64_t x);
// The README's series: log of u in (0, 1); cos and sin of a in [0, pi/2).
double log_series(double u);
void cos_sin_series(double a, double* c, double* s);

// The n normals of a stream, as doubles: element 2j and 2j+1 are z0 and z1 of Box–Muller on
// uniform(draw(key, 2j)) and uniform(draw(key, 2j+1)); an odd last element is z0 of its pair.
// value(i, z) maps element i's normal to the stored value, computed in double; out[i] = (float)value(i, z).
template <class F>
void fill_normals(uint64_t stream_key, float* out, int64_t n, F&& value);

// One Box–Muller pair from two draws.
void box_muller(uint64_t d0, uint64_t d1, double* z0, double* z1);

template <class F>
void fill_normals(uint64_t stream_key, float* out, int64_t n, F&& value) {
  for (int64_t j = 0; 2 * j < n; j++) {
    double z0, z1;
    box_muller(draw(stream_key, static_cast<uint64_t>(2 * j)), draw(stream_key, static_cast<uint64_t>(2 * j + 1)), &z0, &z1);
    out[2 * j] = static_cast<float>(value(2 * j, z0));
    if (2 * j + 1 < n) out[2 * j + 1] = static_cast<float>(value(2 * j + 1, z1));
  }
}

}  // namespace od::gen
