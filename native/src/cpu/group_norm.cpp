// group_norm (compiler/plan/ops.ts GroupNormOp; the VAE decoder's norms, models.md §10.1): GroupNorm of NHWC rows
// x [frames, height, width, channels] over each frame's (height, width, channels / groups) values of each group,
// with the biased variance, then the per-channel affine and, with `silu`, SiLU:
//   out = act((x − mean) · (1 / sqrt(var + eps)) · weight[c] + bias[c])       act(v) = v / (1 + exp(−v)) or v
// Two passes in double: the mean, then the variance as the mean of (x − mean)². Each pass takes one partial sum
// per (frame, image row, group) (the row's pixels in order, each pixel's channels of the group in order), then
// adds a frame's partials in image-row order from 0. With `reduce`, x is this rank's band of rows and the
// statistics cover the whole group's bands: the partials of every member are all-gathered (member order is
// row order: bands are contiguous) and added in global row order, so every rank computes the mean and variance
// the whole frame would, bit for bit. Normalising is elementwise, so out may be x.
#include <cmath>
#include <string>

#include "comm/communicator.h"
#include "core/error.h"
#include "core/parallel.h"
#include "cpu/comm_support.h"
#include "cpu/ops.h"

namespace od::cpu {
namespace {

// The members of the statistics' group (1 without reduce) and this rank's place among them.
int64_t members_of(const GroupNormOp& op, const Memory& mem) {
  if (!op.reduce) return 1;
  return static_cast<int64_t>(mem.group(op.reduce->axis, "the " + op.reduce->axis + " group").size());
}

// The staging area in doubles: this rank's partials [F, H, G], everyone's [R, F, H, G], then mean and 1/σ [F, G].
struct Area {
  double* partial;
  double* gathered;
  double* mean;
  double* inv;
};

Area area_of(const GroupNormOp& op, Memory& mem, int64_t R) {
  double* s = static_cast<double*>(mem.staging());
  const int64_t local = op.frames * op.height * op.groups;
  Area a{};
  a.partial = s;
  a.gathered = R > 1 ? s + local : s;
  a.mean = s + local + (R > 1 ? R * local : 0);
  a.inv = a.mean + op.frames * op.groups;
  return a;
}

int64_t staging_doubles(const GroupNormOp& op, int64_t R) {
  const int64_t local = op.frames * op.height * op.groups;
  return local + (R > 1 ? R * local : 0) + 2 * op.frames * op.groups;
}

// Sums a frame's and group's partials over every member's rows in global row order into `out[f·G + g]`, divided
// by the count of values they cover.
void combine(const GroupNormOp& op, const double* gathered, int64_t R, double* out) {
  const int64_t F = op.frames, H = op.height, G = op.groups;
  const double n = static_cast<double>(R * H * op.width * (op.channels / G));
  for (int64_t f = 0; f < F; ++f) {
    for (int64_t g = 0; g < G; ++g) {
      double total = 0;
      for (int64_t j = 0; j < R; ++j)
        for (int64_t y = 0; y < H; ++y) total += gathered[((j * F + f) * H + y) * G + g];
      out[f * G + g] = total / n;
    }
  }
}

// The partials gathered over the group (every member's [F, H, G], member-major), or left where they are.
void gather(const GroupNormOp& op, Memory& mem, const Area& a, int64_t R) {
  if (R == 1) return;
  const std::vector<int>& group = mem.group(op.reduce->axis, "the " + op.reduce->axis + " group");
  const int64_t bytes = op.frames * op.height * op.groups * static_cast<int64_t>(sizeof(double));
  all_gather_bytes(*mem.comm(), group, a.partial, a.gathered, bytes, comm_what(mem, op.reduce->axis, group) + " (statistics)");
}

}  // namespace

void check_group_norm(const GroupNormOp& op, Memory& mem) {
  OD_CHECK(op.frames >= 0 && op.height >= 0 && op.width >= 0 && op.channels > 0 && op.groups > 0 && op.channels % op.groups == 0,
           "frames " + std::to_string(op.frames) + ", height " + std::to_string(op.height) + ", width " + std::to_string(op.width) + ", " +
               std::to_string(op.channels) + " channels in " + std::to_string(op.groups) + " groups are not GroupNorm sizes",
           "a plan defect: recompile the plan with this version of opendit");
  OD_CHECK(op.eps >= 0 && std::isfinite(op.eps), "eps " + std::to_string(op.eps) + " is not a non-negative number", "");
  const int64_t count = op.frames * op.height * op.width * op.channels;
  require_f32(mem, op.x, count, "x");
  require_f32(mem, op.weight, op.channels, "weight");
  require_f32(mem, op.bias, op.channels, "bias");
  OD_CHECK(mem.count(op.weight) == op.channels && mem.count(op.bias) == op.channels,
           "weight `" + mem.name(op.weight) + "` and bias `" + mem.name(op.bias) + "` hold " + std::to_string(mem.count(op.weight)) + " and " +
               std::to_string(mem.count(op.bias)) + " values, not " + std::to_string(op.channels),
           "the checkpoint tensors' shapes are not the plan's [channels]");
  require_f32(mem, op.out, count, "out");
  int64_t R = 1;
  if (op.reduce) R = static_cast<int64_t>(comm_group(mem, op.reduce->axis).size());
  mem.need_staging(staging_doubles(op, R) * static_cast<int64_t>(sizeof(double)));
}

void run_group_norm(const GroupNormOp& op, Memory& mem) {
  const int64_t F = op.frames, H = op.height, W = op.width, C = op.channels, G = op.groups, per = C / G;
  const int64_t R = members_of(op, mem);
  const float* x = mem.f32(op.x);
  const float* weight = mem.f32(op.weight);
  const float* bias = mem.f32(op.bias);
  float* out = mem.f32(op.out);
  const Area a = area_of(op, mem, R);

  // Pass 1: the mean. partial[(f·H + y)·G + g] = Σ over the row's pixels (in order) of its group-g channels.
  parallel_for(F * H, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = x + r * W * C;
      for (int64_t g = 0; g < G; ++g) {
        double s = 0;
        for (int64_t px = 0; px < W; ++px)
          for (int64_t c = g * per; c < (g + 1) * per; ++c) s += static_cast<double>(row[px * C + c]);
        a.partial[r * G + g] = s;
      }
    }
  });
  gather(op, mem, a, R);
  combine(op, a.gathered, R, a.mean);

  // Pass 2: the variance, Σ (x − mean)² in the same order.
  parallel_for(F * H, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = x + r * W * C;
      const double* mean = a.mean + (r / H) * G;
      for (int64_t g = 0; g < G; ++g) {
        double s = 0;
        for (int64_t px = 0; px < W; ++px) {
          for (int64_t c = g * per; c < (g + 1) * per; ++c) {
            const double d = static_cast<double>(row[px * C + c]) - mean[g];
            s += d * d;
          }
        }
        a.partial[r * G + g] = s;
      }
    }
  });
  gather(op, mem, a, R);
  combine(op, a.gathered, R, a.inv);
  for (int64_t i = 0; i < F * G; ++i) a.inv[i] = 1.0 / std::sqrt(a.inv[i] + op.eps);

  // Normalise, affine, SiLU: elementwise over the rows.
  parallel_for(F * H, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t r = begin; r < end; ++r) {
      const float* row = x + r * W * C;
      float* o = out + r * W * C;
      const double* mean = a.mean + (r / H) * G;
      const double* inv = a.inv + (r / H) * G;
      for (int64_t px = 0; px < W; ++px) {
        for (int64_t c = 0; c < C; ++c) {
          const int64_t g = c / per;
          double v = (static_cast<double>(row[px * C + c]) - mean[g]) * inv[g] * static_cast<double>(weight[c]) + static_cast<double>(bias[c]);
          if (op.silu) v = v / (1.0 + std::exp(-v));
          o[px * C + c] = static_cast<float>(v);
        }
      }
    }
  });
}

}  // namespace od::cpu
