// upsample_nearest (compiler/plan/ops.ts UpsampleNearestOp; the VAE decoder's upsamplers, models.md §10.1):
// nearest-neighbour upsampling ×factor of NHWC rows x [frames, height, width, channels] into
// out [frames, height·factor, width·factor, channels]: out[f, y, x, c] = x[f, y / factor, x / factor, c]
// (integer division), PyTorch's F.interpolate(mode="nearest") at an integer scale. A copy, so the values are
// exact; x and out must not overlap (out is larger and every value of x is read factor² times).
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

void check_upsample_nearest(const UpsampleNearestOp& op, Memory& mem) {
  OD_CHECK(op.frames >= 0 && op.height >= 0 && op.width >= 0 && op.channels >= 0 && op.factor >= 1,
           "frames " + std::to_string(op.frames) + ", height " + std::to_string(op.height) + ", width " + std::to_string(op.width) + ", channels " +
               std::to_string(op.channels) + " and factor " + std::to_string(op.factor) + " are not upsampling sizes",
           "a plan defect: recompile the plan with this version of opendit");
  const int64_t in = op.frames * op.height * op.width * op.channels;
  const int64_t out_count = in * op.factor * op.factor;
  require_f32(mem, op.x, in, "x");
  require_f32(mem, op.out, out_count, "out");
  const float* x = mem.f32(op.x);
  const float* out = mem.f32(op.out);
  OD_CHECK(out + out_count <= x || x + in <= out,
           "x `" + mem.name(op.x) + "` and out `" + mem.name(op.out) + "` overlap", "the plan must give the upsampled rows their own buffer; recompile the plan");
}

void run_upsample_nearest(const UpsampleNearestOp& op, Memory& mem) {
  const int64_t s = op.factor, C = op.channels, W = op.width, Ho = op.height * s, Wo = W * s;
  const float* x = mem.f32(op.x);
  float* out = mem.f32(op.out);
  parallel_for(op.frames * Ho, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t f = r / Ho, y = r % Ho;
      const float* src = x + (f * op.height + y / s) * W * C;
      float* dst = out + r * Wo * C;
      for (int64_t px = 0; px < Wo; ++px) std::memcpy(dst + px * C, src + (px / s) * C, static_cast<size_t>(C) * sizeof(float));
    }
  });
}

}  // namespace od::cpu
