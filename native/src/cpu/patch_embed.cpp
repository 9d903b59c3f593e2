// patch_embed (compiler/plan/ops.ts PatchEmbedOp; models.md §0.4), the CPU reference of
// runtime/reference/ops/patch-embed.ts: the patch convolution as a GEMM. The latent x [input_samples, C, T, H, W]
// is read as zero-padded at the end of each axis up to the token grid in patches; token (t, h, w) of batch sample
// j (reading x's sample j mod input_samples) is
//   out[d] = bias[d] + Σ_k weight[d, k]·patch[k],  patch[((c·pt + kt)·ph + kh)·pw + kw] = x[c, t·pt+kt, h·ph+kh, w·pw+kw]
// (weight read as [hidden, C·pt·ph·pw]: a Conv3d, or with pt = 1 a Conv2d). Each sample's rows are its tokens
// frame by frame, positions h·cols + w ascending within a frame: padded.frames frames of padded.tokens positions
// when padded (grid positions first, the rest zero rows without bias), else the grid's frames of rows·cols. A
// `band` keeps, in every frame, the positions of its token rows; a `frames` shard keeps the rank's run of frames, a
// `tokens` shard the rank's run of each frame's (or the band's) positions. Sums are double from the bias on, in
// the reference's order; work is split over output tokens.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

namespace {

struct Run {
  int64_t first = 0, count = 0;
};

// Run `index` of `total` split into `parts` equal runs; fails naming what does not split.
Run part(const char* what, int64_t total, int64_t parts, int64_t index) {
  OD_CHECK(parts >= 1 && total % parts == 0,
           std::to_string(total) + " " + what + " do not split into " + std::to_string(parts) + " equal parts", "");
  const int64_t count = total / parts;
  return {index * count, count};
}

// The frames and the positions per frame of the rank's tokens.
struct Layout {
  Run frames, positions;
};

Layout layout_of(const PatchEmbedOp& op, const Memory& mem) {
  OD_CHECK(!(op.padded && op.band), "a row band of a padded token layout is not defined", "");
  Layout l;
  l.frames = {0, op.padded ? op.padded->frames : op.grid.frames};
  l.positions = {0, op.padded ? op.padded->tokens : op.grid.rows * op.grid.cols};
  if (op.band) {
    const Run rows = part("token rows", op.grid.rows, op.band->count, op.band->index);
    OD_CHECK(op.band->index >= 0 && op.band->index < op.band->count,
             "band " + std::to_string(op.band->index) + " is not one of " + std::to_string(op.band->count), "");
    l.positions = {rows.first * op.grid.cols, rows.count * op.grid.cols};
  }
  if (op.shard) {
    OD_CHECK(op.shard->dim == "frames" || op.shard->dim == "tokens",
             "a shard of dimension `" + op.shard->dim + "` is not one of frames, tokens", "");
    const int64_t r = mem.shard_index(op.shard->axis, op.shard->parts, "patch_embed");
    if (op.shard->dim == "frames") {
      l.frames = part("token frames", l.frames.count, op.shard->parts, r);
    } else {
      const Run run = part("positions per frame", l.positions.count, op.shard->parts, r);
      l.positions = {l.positions.first + run.first, run.count};
    }
  }
  return l;
}

struct Task {
  const PatchEmbedOp* op;
  const float* x;
  const float* weight;
  const float* bias;
  float* out;
  Layout l;
  const Memory* mem;
};

// Output row `row` (sample j = row / tokens); scratch holds the patch [C·pt·ph·pw] (fp32 values of x, exact).
void run_token(const Task& t, int64_t row, float* patch) {
  const PatchEmbedOp& op = *t.op;
  const LatentSize& lat = op.latent;
  const int64_t pt = op.patch.t, ph = op.patch.h, pw = op.patch.w;
  const int64_t K = op.channels * pt * ph * pw, hidden = op.hidden;
  const int64_t tokens = t.l.frames.count * t.l.positions.count;
  const int64_t j = row / tokens, local = row % tokens;
  const int64_t ft = t.l.frames.first + local / t.l.positions.count;
  const int64_t n = t.l.positions.first + local % t.l.positions.count;
  float* o = t.out + row * hidden;
  if (ft >= op.grid.frames || n >= op.grid.rows * op.grid.cols) {
    for (int64_t d = 0; d < hidden; d++) o[d] = 0;
    return;
  }
  const int64_t th = n / op.grid.cols, tw = n % op.grid.cols;
  const float* sample = t.x + (j % op.input_samples) * op.channels * lat.frames * lat.height * lat.width;
  // The patch flattened (c, kt, kh, kw); places past the latent are the zero padding.
  int64_t k = 0;
  for (int64_t c = 0; c < op.channels; c++) {
    for (int64_t kt = 0; kt < pt; kt++) {
      const int64_t tt = ft * pt + kt;
      for (int64_t kh = 0; kh < ph; kh++) {
        const int64_t y = th * ph + kh;
        for (int64_t kw = 0; kw < pw; kw++, k++) {
          const int64_t xw = tw * pw + kw;
          const bool inside = tt < lat.frames && y < lat.height && xw < lat.width;
          patch[k] = inside ? sample[((c * lat.frames + tt) * lat.height + y) * lat.width + xw] : 0.0f;
        }
      }
    }
  }
  for (int64_t d = 0; d < hidden; d++) {
    double sum = static_cast<double>(t.bias[d]);
    const float* w = t.weight + d * K;
    for (int64_t m = 0; m < K; m++) sum += static_cast<double>(w[m]) * static_cast<double>(patch[m]);
    o[d] = static_cast<float>(sum);
  }
}

}  // namespace

void check_patch_embed(const PatchEmbedOp& op, Memory& mem) {
  OD_CHECK(op.channels >= 1 && op.hidden >= 1 && op.patch.t >= 1 && op.patch.h >= 1 && op.patch.w >= 1,
           "channels " + std::to_string(op.channels) + ", hidden " + std::to_string(op.hidden) + " and patch " +
               std::to_string(op.patch.t) + "x" + std::to_string(op.patch.h) + "x" + std::to_string(op.patch.w) + " are not patch sizes",
           "");
  OD_CHECK(op.input_samples >= 1 && op.samples >= 0 && op.samples % op.input_samples == 0,
           std::to_string(op.samples) + " samples do not repeat " + std::to_string(op.input_samples) + " input samples", "");
  const int64_t K = op.channels * op.patch.t * op.patch.h * op.patch.w;
  const int64_t plane = op.latent.frames * op.latent.height * op.latent.width;
  require_f32(mem, op.x, op.input_samples * op.channels * plane, "x");
  require_f32(mem, op.weight, op.hidden * K, "weight");
  require_f32(mem, op.bias, op.hidden, "bias");
  const Layout l = layout_of(op, mem);
  require_f32(mem, op.out, op.samples * l.frames.count * l.positions.count * op.hidden, "out");
  mem.need_scratch(K);
}

void run_patch_embed(const PatchEmbedOp& op, Memory& mem) {
  Task t{&op, mem.f32(op.x), mem.f32(op.weight), mem.f32(op.bias), mem.f32(op.out), layout_of(op, mem), &mem};
  const int64_t rows = op.samples * t.l.frames.count * t.l.positions.count;
  parallel_for(rows, 4, [&t](int64_t begin, int64_t end, int thread) {
    float* patch = t.mem->scratch(thread);
    for (int64_t row = begin; row < end; row++) run_token(t, row, patch);
  });
}

}  // namespace od::cpu
