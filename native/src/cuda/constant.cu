// `constant` on the device, mirroring cpu/constant.cpp (runtime/reference/ops/constant.ts): out[i] = values[i mod
// n] for `count` values, n = values.size(): each value rounded to fp32 then to out's dtype (the CPU's fp32 value,
// converted as DeviceMemory converts uploads), or for an i32 buffer static_cast<int32_t> of the double (integers in
// the int32 range, checked by the CPU check).
// Upload: no device copy of the values and no host staging. The values travel as kernel arguments, up to kChunk
// per launch: launch v writes the places i with i mod n in [v·kChunk, v·kChunk + kChunk), so the usual op (one
// value: zeros clearing a buffer, STDiT3's fps; or PixArt-MS's few size inputs) is one launch, and a longer list a
// few. Nothing is allocated or synchronised; constants run in setup only anyway.
#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

constexpr int kChunk = 32;

struct Values {
  float f[kChunk];    // float outputs: the values rounded to fp32
  int32_t i[kChunk];  // i32 outputs
};

// Writes out[q·n + first + j] = values[j] for j < len and every q with q·n + first + j < count.
__global__ void constant_kernel(void* out, DType ot, int64_t count, int64_t n, int64_t first, int len, Values values) {
  const int64_t rows = (count - first + n - 1) / n;  // q values reaching [first, first + len) at least partly
  const int64_t total = rows * len;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total; t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t q = t / len;
    const int j = static_cast<int>(t % len);
    const int64_t i = q * n + first + j;
    if (i >= count) continue;
    if (ot == DType::I32) {
      static_cast<int32_t*>(out)[i] = values.i[j];
    } else {
      store_f(out, ot, i, values.f[j]);
    }
  }
}

}  // namespace

void run_constant(const ConstantOp& op, Context& ctx) {
  const int64_t n = static_cast<int64_t>(op.values.size());
  if (op.count <= 0 || n == 0) return;
  const DeviceSlot& out = ctx.buf(op.out);
  for (int64_t first = 0; first < n && first < op.count; first += kChunk) {
    const int len = static_cast<int>(std::min<int64_t>(kChunk, n - first));
    Values v{};
    for (int j = 0; j < len; j++) {
      const double value = op.values[static_cast<size_t>(first + j)];
      v.f[j] = static_cast<float>(value);
      v.i[j] = out.dtype == DType::I32 ? static_cast<int32_t>(value) : 0;
    }
    const int64_t rows = (op.count - first + n - 1) / n;
    constant_kernel<<<blocks_for(rows * len), kThreads, 0, ctx.stream>>>(out.ptr, out.dtype, op.count, n, first, len, v);
    OD_CUDA_LAUNCHED(constant_kernel);
  }
}

}  // namespace od::cuda
