// `permute` (compiler/plan/ops.ts PermuteOp; runtime/reference/ops/permute.ts): a copy of x, viewed as the 4-D
// row-major `dims`, with its axes permuted: out axis i is input axis perm[i], so out has dims [dims[perm[0]], ...,
// dims[perm[3]]] and out[i0, i1, i2, i3] = x[j] with j[perm[i]] = i_i (`(B T S) D` into `(B S T) D` and back).
// out is written in order, each value read through the input strides of the output axes. out must not be x.
#include <algorithm>
#include <array>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {
namespace {

std::string dims_text(const Dims4& d) {
  return "[" + std::to_string(d[0]) + ", " + std::to_string(d[1]) + ", " + std::to_string(d[2]) + ", " + std::to_string(d[3]) + "]";
}

}  // namespace

void check_permute(const PermuteOp& op, Memory& mem) {
  const char* plan_hint = "a plan defect: recompile the plan with this version of opendit";
  std::array<int64_t, 4> sorted = op.perm;
  std::sort(sorted.begin(), sorted.end());
  OD_CHECK(sorted == (std::array<int64_t, 4>{0, 1, 2, 3}), "perm " + dims_text(op.perm) + " is not a permutation of the 4 axes", plan_hint);
  OD_CHECK(op.x.id != op.out.id, "cannot permute `" + mem.name(op.x) + "` in place", plan_hint);
  for (int64_t d : op.dims) OD_CHECK(d >= 0, "dims " + dims_text(op.dims) + " hold a negative size", plan_hint);
  const int64_t total = op.dims[0] * op.dims[1] * op.dims[2] * op.dims[3];
  require_f32(mem, op.x, total, "x");
  require_f32(mem, op.out, total, "out");
}

void run_permute(const PermuteOp& op, Memory& mem) {
  const Dims4& d = op.dims;
  // Row-major strides of the input, then the input stride and size of each output axis.
  const int64_t in_stride[4] = {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
  int64_t s[4], n[4];
  for (int i = 0; i < 4; ++i) {
    s[i] = in_stride[op.perm[static_cast<size_t>(i)]];
    n[i] = d[static_cast<size_t>(op.perm[static_cast<size_t>(i)])];
  }
  const float* x = mem.f32(op.x);
  float* out = mem.f32(op.out);
  // Threads split the (i0, i1) pairs; each pair is a contiguous run of n2·n3 output values.
  const int64_t inner = n[2] * n[3];
  parallel_for(n[0] * n[1], std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, inner)), [&](int64_t begin, int64_t end, int) {
    for (int64_t ab = begin; ab < end; ++ab) {
      const int64_t a = ab / n[1], b = ab % n[1];
      const float* xab = x + a * s[0] + b * s[1];
      float* o = out + ab * inner;
      for (int64_t c = 0; c < n[2]; ++c)
        for (int64_t e = 0; e < n[3]; ++e) *o++ = xab[c * s[2] + e * s[3]];
    }
  });
}

}  // namespace od::cpu
