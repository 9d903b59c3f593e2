// The device generator (native/src/cuda/generator.cuh) against the host one (native/src/checkpoint/generator.cpp),
// bit for bit: keys of the solver's noise streams (the host's seed half and "noise/<i>/" prefix, the device's
// digits of g), draws, uniforms, log_series, cos_sin_series, Box–Muller pairs and the fp32 normals the solver
// uses, for a few seeds, names and many indices. Prints PASS or FAIL (with the first mismatches); exit status 0
// on PASS. Build and run from the repository root on a machine with a GPU:
//   nvcc -std=c++17 -arch=sm_90 -Inative/src -Xcompiler -ffp-contract=off native/test/cuda_generator_test.cu \
//     native/src/checkpoint/generator.cpp native/src/core/error.cpp -o gen_test && ./gen_test
// (-ffp-contract=off as CMakeLists.txt compiles the host generator.)
#include <cuda_runtime.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "checkpoint/generator.h"
#include "cuda/generator.cuh"

namespace {

namespace dg = od::cuda::gen;

#define CHECK_CUDA(call)                                                                   \
  do {                                                                                     \
    cudaError_t status_ = (call);                                                          \
    if (status_ != cudaSuccess) {                                                          \
      std::printf("FAIL: %s: %s\n", #call, cudaGetErrorString(status_));                   \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

// Per index i of a stream `key`: draw, uniform of the draw, log_series of the uniform, cos/sin of an angle in
// [0, π/2) from the next uniform, Box–Muller of pair i, and the fp32 normal of element i.
struct Row {
  uint64_t draw;
  double uniform, log, cos, sin, z0, z1;
  float normal;
};

__global__ void generator_kernel(uint64_t key, int64_t n, Row* rows) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Row r;
    r.draw = dg::draw(key, static_cast<uint64_t>(i));
    r.uniform = dg::uniform(r.draw);
    r.log = dg::log_series(r.uniform);
    const double angle = __dmul_rn(dg::uniform(dg::draw(key, static_cast<uint64_t>(i) + 1)), dg::HALF_PI);
    dg::cos_sin_series(angle, &r.cos, &r.sin);
    dg::box_muller(dg::draw(key, 2 * static_cast<uint64_t>(i)), dg::draw(key, 2 * static_cast<uint64_t>(i) + 1), &r.z0, &r.z1);
    r.normal = static_cast<float>(dg::normal(key, static_cast<uint64_t>(i)));
    rows[i] = r;
  }
}

// Keys of "noise/<step>/<g>" for g in [0, count), the solver's way.
__global__ void key_kernel(uint64_t mixed_seed, uint64_t prefix_state, int64_t first, int64_t count, uint64_t* keys) {
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < count; g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    keys[g] = dg::key_of(mixed_seed, dg::fnv_append_decimal(prefix_state, static_cast<uint64_t>(first + g)));
  }
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

int failures = 0;

void report(const char* what, uint64_t key, int64_t i, double device, double host) {
  if (++failures <= 20) std::printf("  mismatch %s key %016" PRIx64 " index %" PRId64 ": device %.17g host %.17g\n", what, key, i, device, host);
}

void check_stream(uint64_t key, int64_t n) {
  Row* d_rows = nullptr;
  CHECK_CUDA(cudaMalloc(&d_rows, static_cast<size_t>(n) * sizeof(Row)));
  generator_kernel<<<256, 256>>>(key, n, d_rows);
  CHECK_CUDA(cudaGetLastError());
  std::vector<Row> rows(static_cast<size_t>(n));
  CHECK_CUDA(cudaMemcpy(rows.data(), d_rows, static_cast<size_t>(n) * sizeof(Row), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaFree(d_rows));
  for (int64_t i = 0; i < n; i++) {
    const Row& r = rows[static_cast<size_t>(i)];
    const uint64_t draw = od::gen::draw(key, static_cast<uint64_t>(i));
    if (r.draw != draw) report("draw", key, i, static_cast<double>(r.draw), static_cast<double>(draw));
    const double u = od::gen::uniform(draw);
    if (!same_bits(r.uniform, u)) report("uniform", key, i, r.uniform, u);
    const double l = od::gen::log_series(u);
    if (!same_bits(r.log, l)) report("log_series", key, i, r.log, l);
    const double angle = od::gen::uniform(od::gen::draw(key, static_cast<uint64_t>(i) + 1)) * 1.5707963267948966;
    double c, s;
    od::gen::cos_sin_series(angle, &c, &s);
    if (!same_bits(r.cos, c)) report("cos_series", key, i, r.cos, c);
    if (!same_bits(r.sin, s)) report("sin_series", key, i, r.sin, s);
    double z0, z1;
    od::gen::box_muller(od::gen::draw(key, 2 * static_cast<uint64_t>(i)), od::gen::draw(key, 2 * static_cast<uint64_t>(i) + 1), &z0, &z1);
    if (!same_bits(r.z0, z0)) report("box_muller z0", key, i, r.z0, z0);
    if (!same_bits(r.z1, z1)) report("box_muller z1", key, i, r.z1, z1);
    // The solver's element i: z0 of pair i/2 for even i, z1 for odd (cpu/solver_update.cpp Noise::at).
    double p0, p1;
    od::gen::box_muller(od::gen::draw(key, static_cast<uint64_t>(i / 2 * 2)), od::gen::draw(key, static_cast<uint64_t>(i / 2 * 2 + 1)), &p0, &p1);
    const float normal = static_cast<float>(i % 2 == 0 ? p0 : p1);
    if (!same_bits(r.normal, normal)) report("normal", key, i, r.normal, normal);
  }
  // The host's fill_normals for the same stream agrees with the pairs too.
  std::vector<float> filled(static_cast<size_t>(n));
  od::gen::fill_normals(key, filled.data(), n, [](int64_t, double z) { return z; });
  for (int64_t i = 0; i < n; i++) {
    if (!same_bits(rows[static_cast<size_t>(i)].normal, filled[static_cast<size_t>(i)]))
      report("fill_normals", key, i, rows[static_cast<size_t>(i)].normal, filled[static_cast<size_t>(i)]);
  }
}

void check_keys(uint64_t seed, int step, int64_t first, int64_t count) {
  uint64_t* d_keys = nullptr;
  CHECK_CUDA(cudaMalloc(&d_keys, static_cast<size_t>(count) * sizeof(uint64_t)));
  const std::string prefix = "noise/" + std::to_string(step) + "/";
  key_kernel<<<64, 256>>>(od::gen::mix64(seed + dg::GAMMA), od::gen::fnv1a64(prefix), first, count, d_keys);
  CHECK_CUDA(cudaGetLastError());
  std::vector<uint64_t> keys(static_cast<size_t>(count));
  CHECK_CUDA(cudaMemcpy(keys.data(), d_keys, static_cast<size_t>(count) * sizeof(uint64_t), cudaMemcpyDeviceToHost));
  CHECK_CUDA(cudaFree(d_keys));
  for (int64_t g = 0; g < count; g++) {
    const uint64_t host = od::gen::key(seed, prefix + std::to_string(first + g));
    if (keys[static_cast<size_t>(g)] != host) {
      if (++failures <= 20)
        std::printf("  mismatch key seed %" PRIu64 " %s%" PRId64 ": device %016" PRIx64 " host %016" PRIx64 "\n", seed, prefix.c_str(), first + g,
                    keys[static_cast<size_t>(g)], host);
    }
  }
}

}  // namespace

int main() {
  const uint64_t seeds[] = {0, 1, 42, 1234567890123ull, 0xFFFFFFFFFFFFFFFFull};
  const int steps[] = {0, 7, 49, 999};
  for (uint64_t seed : seeds)
    for (int step : steps) check_keys(seed, step, 0, 4096);
  check_keys(42, 3, 999999990, 100);  // multi-digit sample numbers
  const char* names[] = {"noise/0/0", "noise/49/3", "latent", "weights/blocks.0.attn.qkv.weight"};
  int64_t values = 0;
  for (uint64_t seed : seeds) {
    for (const char* name : names) {
      check_stream(od::gen::key(seed, name), 1 << 18);
      values += 1 << 18;
    }
  }
  if (failures == 0) {
    std::printf("PASS: device generator matches the host bit for bit (%" PRId64 " stream positions, %d key sets)\n", values,
                static_cast<int>(sizeof seeds / sizeof seeds[0] * sizeof steps / sizeof steps[0]) + 1);
    return 0;
  }
  std::printf("FAIL: %d mismatches\n", failures);
  return 1;
}
