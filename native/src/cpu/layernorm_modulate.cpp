// `layernorm_modulate` (compiler/plan/ops.ts LayerNormModulateOp; runtime/reference/ops/layernorm-modulate.ts):
// out = LN(x) · (1 + scale[s]) + shift[s] for `rows` rows of `width`, LN being LayerNorm over each row without
// affine weights, (x − mean) / sqrt(var + eps) with the biased variance (torch's layer_norm), mean and variance
// taken in double in two passes as the reference takes them. Sample s = floor(row / rows_per_sample) reads its
// row of the shift and scale chunks (ModRef into a [samples, chunks, width] modulation buffer); an absent shift
// adds nothing, an absent scale multiplies by 1. Each row's statistics are taken before the row is written, so out
// may be x. Also defines modulation_chunks, the reference's modulationRows, which gate.cpp shares.
#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

// The chunks of the [samples, chunks, width] modulation buffer `ref` points into, which follow from its length
// (modulationRows): sample s's row of the chunk starts at (s · chunks + ref.chunk) · width. Fails, naming `role`
// and the buffer, when the length is not whole [samples, ·, width] chunks or the chunk is not one of them.
int64_t modulation_chunks(const Memory& mem, const ModRef& ref, int64_t samples, int64_t width, const char* role) {
  require_f32(mem, ref.buffer, 0, role);
  const int64_t values = mem.count(ref.buffer);
  const int64_t per_chunk = samples * width;
  const int64_t chunks = per_chunk > 0 && values % per_chunk == 0 ? values / per_chunk : -1;
  OD_CHECK(chunks >= 0 && ref.chunk >= 0 && ref.chunk < chunks,
           std::string(role) + " chunk " + std::to_string(ref.chunk) + " of `" + mem.name(ref.buffer) + "` (" + std::to_string(values) +
               " values) is not a chunk of [" + std::to_string(samples) + ", chunks, " + std::to_string(width) + "]",
           "the op's rows, rows_per_sample and width do not match the modulation buffer's shape: a plan defect");
  return chunks;
}

namespace {

int64_t samples_of(const LayerNormModulateOp& op) { return op.rows / op.rows_per_sample; }

}  // namespace

void check_layernorm_modulate(const LayerNormModulateOp& op, Memory& mem) {
  OD_CHECK(op.rows_per_sample >= 1 && op.rows % op.rows_per_sample == 0,
           std::to_string(op.rows) + " rows are not whole samples of " + std::to_string(op.rows_per_sample),
           "a plan defect: recompile the plan with this version of opendit");
  require_f32(mem, op.x, op.rows * op.width, "x");
  require_f32(mem, op.out, op.rows * op.width, "out");
  if (op.shift) modulation_chunks(mem, *op.shift, samples_of(op), op.width, "shift");
  if (op.scale) modulation_chunks(mem, *op.scale, samples_of(op), op.width, "scale");
}

void run_layernorm_modulate(const LayerNormModulateOp& op, Memory& mem) {
  const int64_t width = op.width;
  const int64_t samples = samples_of(op);
  const float* x = mem.f32(op.x);
  float* out = mem.f32(op.out);
  const float* shift = op.shift ? mem.f32(op.shift->buffer) : nullptr;
  const float* scale = op.scale ? mem.f32(op.scale->buffer) : nullptr;
  const int64_t shift_chunks = op.shift ? mem.count(op.shift->buffer) / (samples * width) : 0;
  const int64_t scale_chunks = op.scale ? mem.count(op.scale->buffer) / (samples * width) : 0;
  parallel_for(op.rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, width)), [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * width;
      double mean = 0;
      for (int64_t j = 0; j < width; ++j) mean += xr[j];
      mean /= static_cast<double>(width);
      double variance = 0;
      for (int64_t j = 0; j < width; ++j) {
        const double d = xr[j] - mean;
        variance += d * d;
      }
      variance /= static_cast<double>(width);
      const double inv = 1.0 / std::sqrt(variance + op.eps);
      const int64_t s = r / op.rows_per_sample;
      const float* sh = shift ? shift + (s * shift_chunks + op.shift->chunk) * width : nullptr;
      const float* sc = scale ? scale + (s * scale_chunks + op.scale->chunk) * width : nullptr;
      float* o = out + r * width;
      for (int64_t j = 0; j < width; ++j) {
        double v = (xr[j] - mean) * inv;
        if (sc) v *= 1.0 + sc[j];
        if (sh) v += sh[j];
        o[j] = static_cast<float>(v);
      }
    }
  });
}

}  // namespace od::cpu
