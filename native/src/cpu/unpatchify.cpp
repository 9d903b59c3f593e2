// unpatchify (compiler/plan/ops.ts UnpatchifyOp; models.md §0.5), the CPU reference of
// runtime/reference/ops/unpatchify.ts: a copy. Every element of out [samples, C, latent.frames, rows,
// latent.width] is read from its token's features, ordered (kt, kh, kw, c) with the channel fastest:
//   out[s, c, t·pt + kt, h·ph + kh, w·pw + kw] = x[s, token(t, h, w), ((kt·ph + kh)·pw + kw)·C + c]
// Only latent places are written, so what the grid holds past the latent is cropped. x's tokens are frame by
// frame: with `padded` each sample has padded.frames frames of padded.tokens positions (h·cols + w; padding rows
// never read); with `band` every frame holds only the band's token rows and out only the latent rows they cover,
// from index·(rows/count)·ph, cropped to latent.height; otherwise the grid's frames of rows·cols positions.
// Split over (sample, channel, frame) planes.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {

namespace {

// Where the rank's tokens and latent rows are.
struct Layout {
  int64_t band_rows = 0;        // token rows per frame in x
  int64_t first_token_row = 0;  // the band's first token row
  int64_t first_row = 0;        // its first latent row
  int64_t rows = 0;             // latent rows written per frame
  int64_t per_frame = 0;        // positions per frame in x
  int64_t frames_in = 0;        // frames per sample in x
};

Layout layout_of(const UnpatchifyOp& op) {
  const Grid& g = op.grid;
  OD_CHECK(!(op.padded && op.band), "a row band of a padded token layout is not defined", "");
  OD_CHECK(g.frames * op.patch.t >= op.latent.frames && g.rows * op.patch.h >= op.latent.height && g.cols * op.patch.w >= op.latent.width,
           "the token grid " + std::to_string(g.frames) + "x" + std::to_string(g.rows) + "x" + std::to_string(g.cols) +
               " does not cover the latent in patches",
           "");
  Layout l;
  l.band_rows = g.rows;
  if (op.band) {
    OD_CHECK(op.band->count >= 1 && g.rows % op.band->count == 0 && op.band->index >= 0 && op.band->index < op.band->count,
             std::to_string(g.rows) + " token rows do not split into " + std::to_string(op.band->count) + " bands with a band " +
                 std::to_string(op.band->index),
             "");
    l.band_rows = g.rows / op.band->count;
    l.first_token_row = op.band->index * l.band_rows;
  }
  l.first_row = l.first_token_row * op.patch.h;
  // A band wholly inside the grid's padding covers no latent row.
  l.rows = std::max<int64_t>(0, std::min(op.latent.height, l.first_row + l.band_rows * op.patch.h) - l.first_row);
  l.per_frame = op.padded ? op.padded->tokens : l.band_rows * g.cols;
  l.frames_in = op.padded ? op.padded->frames : g.frames;
  return l;
}

struct Task {
  const UnpatchifyOp* op;
  const float* x;
  float* out;
  Layout l;
};

// Plane q = (s·C + c)·T + t of out: its `rows` latent rows.
void run_plane(const Task& t, int64_t q) {
  const UnpatchifyOp& op = *t.op;
  const int64_t C = op.channels, T = op.latent.frames, W = op.latent.width;
  const int64_t pt = op.patch.t, ph = op.patch.h, pw = op.patch.w;
  const int64_t F = pt * ph * pw * C;
  const int64_t s = q / (C * T), c = (q / T) % C, tf = q % T;
  const int64_t tg = tf / pt, kt = tf % pt;
  float* o = t.out + q * t.l.rows * W;
  for (int64_t y = 0; y < t.l.rows; y++) {
    const int64_t h = (t.l.first_row + y) / ph, kh = (t.l.first_row + y) % ph;
    for (int64_t xw = 0; xw < W; xw++) {
      const int64_t w = xw / pw, kw = xw % pw;
      const int64_t token = (s * t.l.frames_in + tg) * t.l.per_frame + (h - t.l.first_token_row) * op.grid.cols + w;
      *o++ = t.x[token * F + ((kt * ph + kh) * pw + kw) * C + c];
    }
  }
}

}  // namespace

void check_unpatchify(const UnpatchifyOp& op, Memory& mem) {
  OD_CHECK(op.samples >= 0 && op.channels >= 1 && op.patch.t >= 1 && op.patch.h >= 1 && op.patch.w >= 1 && op.grid.cols >= 1,
           "channels " + std::to_string(op.channels) + " and patch " + std::to_string(op.patch.t) + "x" + std::to_string(op.patch.h) + "x" +
               std::to_string(op.patch.w) + " are not unpatchify sizes",
           "");
  const Layout l = layout_of(op);
  const int64_t F = op.patch.t * op.patch.h * op.patch.w * op.channels;
  require_f32(mem, op.x, op.samples * l.frames_in * l.per_frame * F, "x");
  require_f32(mem, op.out, op.samples * op.channels * op.latent.frames * l.rows * op.latent.width, "out");
}

void run_unpatchify(const UnpatchifyOp& op, Memory& mem) {
  Task t{&op, mem.f32(op.x), mem.f32(op.out), layout_of(op)};
  parallel_for(op.samples * op.channels * op.latent.frames, 1, [&t](int64_t begin, int64_t end, int) {
    for (int64_t q = begin; q < end; q++) run_plane(t, q);
  });
}

}  // namespace od::cpu
