// The attention kernels' shared pieces (cpu/attention.h): the per-thread scratch as doubles and a row's softmax
// numerators, in the order of operations of runtime/reference/ops/self-attention.ts and cross-attention.ts.
#include "cpu/attention.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "core/error.h"

namespace od::cpu {

double* scratch_f64(const Memory& mem, int thread, const char* kernel) {
  float* p = mem.scratch(thread);
  OD_CHECK(reinterpret_cast<uintptr_t>(p) % alignof(double) == 0, std::string(kernel) + ": the per-thread scratch is not aligned for doubles",
           "Memory::scratch must return 8-byte aligned blocks");
  return reinterpret_cast<double*>(p);
}

double softmax_numerators(double* scores, int64_t n, double scale) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; j++) {
    const double score = scores[j] * scale;
    scores[j] = score;
    if (score > max) max = score;
  }
  double total = 0;
  for (int64_t j = 0; j < n; j++) {
    const double e = std::exp(scores[j] - max);
    scores[j] = e;
    total += e;
  }
  return total;
}

}  // namespace od::cpu
