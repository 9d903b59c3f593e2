// conv2d (compiler/plan/ops.ts Conv2dOp; the VAE decoder's convolutions, models.md §10.1): a stride-1 convolution
// of NHWC rows x [frames, height, width, inChannels] with the checkpoint's weight [outChannels, inChannels, k, k]
// (k 1 or 3) into out [frames, height, width, outChannels]:
//   out[f, y, x, o] = bias[o] + Σ_{ky, kx, c} w[o, c, ky, kx] · x[f, y + ky − p, x + kx − p, c]     p = (k − 1) / 2
// summed in double in (ky, kx, c) order from the bias, rounded once to fp32. Taps outside the image read zeros
// (zero padding). With `halo`, x is this rank's band of image rows, and the rows just above and below it are
// those of the previous and next member of the halo group: the op sends its first row of every frame to the
// previous member and its last to the next, receives theirs (the first member's top and the last member's bottom
// are zeros: the image border), then computes. A pixel's taps read the same values in the same order whether its
// neighbour row is in this band or came from a halo, so a band gives the bits of the whole frame.
//
// Loops: threads take contiguous output rows; per group of 4 output channels the weights are packed into a
// [k·k·inChannels, 4] panel of doubles (per-thread scratch) that a 4-pixel × 4-channel micro-tile sweeps with
// vector loads (GCC/Clang vector extensions: elementwise IEEE mul and add, as the scalar loop, no contraction).
// x and out must not overlap (a pixel reads its neighbours); the check says so.
#include <algorithm>
#include <cstring>
#include <string>

#include "comm/communicator.h"
#include "core/error.h"
#include "core/parallel.h"
#include "cpu/comm_support.h"
#include "cpu/ops.h"

namespace od::cpu {
namespace {

constexpr int64_t kMR = 4;  // pixels of a micro-tile
constexpr int64_t kNR = 4;  // output channels of a packed panel

typedef double d2 __attribute__((vector_size(16)));

struct Geometry {
  int64_t F, H, W, C, O, k, pad;
  int64_t taps() const { return k * k; }
};

Geometry geometry_of(const Conv2dOp& op) {
  return {op.frames, op.height, op.width, op.in_channels, op.out_channels, op.kernel, (op.kernel - 1) / 2};
}

// Where the halo rows live in the staging area (floats): the rows this rank sends up and down, then those it
// receives from above and below; each F·W·C.
struct HaloArea {
  float* send_top;
  float* send_bottom;
  float* top;
  float* bottom;
};

// acc[i][0..4) = bias + Σ_kk src[i][kk]·panel[kk][0..4) over kk = tap·C + c, for M pixels whose sources per tap
// are `srcs[tap·M + i]` (C floats each: a pixel of x, of a halo row, or the zero row).
template <int M>
void micro_tile(const float* const* srcs, int64_t taps, int64_t C, const double* panel, const double* bias, double (*acc)[kNR]) {
  d2 lo[M], hi[M];
  for (int i = 0; i < M; ++i) {
    lo[i] = d2{bias[0], bias[1]};
    hi[i] = d2{bias[2], bias[3]};
  }
  for (int64_t t = 0; t < taps; ++t) {
    const float* const* s = srcs + t * M;
    const double* p = panel + t * C * kNR;
    for (int64_t c = 0; c < C; ++c) {
      d2 wlo, whi;
      std::memcpy(&wlo, p + c * kNR, sizeof wlo);
      std::memcpy(&whi, p + c * kNR + 2, sizeof whi);
      for (int i = 0; i < M; ++i) {
        const double xv = s[i][c];
        lo[i] += xv * wlo;
        hi[i] += xv * whi;
      }
    }
  }
  for (int i = 0; i < M; ++i) {
    acc[i][0] = lo[i][0];
    acc[i][1] = lo[i][1];
    acc[i][2] = hi[i][0];
    acc[i][3] = hi[i][1];
  }
}

// The halo exchange of a band: member i sends its first row of every frame to member i − 1 and its last to
// member i + 1, and receives theirs. Returns whether this rank has a row above / below (not the group's ends).
void exchange_halo(const Conv2dOp& op, const Geometry& g, Memory& mem, HaloArea* area, bool* has_top, bool* has_bottom) {
  const std::vector<int>& group = mem.group(op.halo->axis, "the " + op.halo->axis + " group");
  size_t me = 0;
  while (me < group.size() && group[me] != mem.rank()) me++;
  OD_CHECK(me < group.size(), "rank " + std::to_string(mem.rank()) + " is not in its " + op.halo->axis + " group " + group_text(group), "");
  *has_top = me > 0;
  *has_bottom = me + 1 < group.size();
  if (group.size() == 1) return;
  const float* x = mem.f32(op.x);
  const int64_t row = g.W * g.C;
  float* staging = static_cast<float*>(mem.staging());
  const int64_t part = g.F * row;
  *area = HaloArea{staging, staging + part, staging + 2 * part, staging + 3 * part};
  const int64_t bytes = g.F * row * static_cast<int64_t>(sizeof(float));
  const std::string what = comm_what(mem, op.halo->axis, group) + " (halo rows)";
  for (int64_t f = 0; f < g.F; ++f) {
    std::memcpy(area->send_top + f * row, x + (f * g.H) * row, static_cast<size_t>(row) * sizeof(float));
    std::memcpy(area->send_bottom + f * row, x + (f * g.H + g.H - 1) * row, static_cast<size_t>(row) * sizeof(float));
  }
  Communicator& comm = *mem.comm();
  if (*has_top) comm.send(group[me - 1], kCollectiveChannel, area->send_top, bytes, what);
  if (*has_bottom) comm.send(group[me + 1], kCollectiveChannel, area->send_bottom, bytes, what);
  if (*has_top) comm.recv(group[me - 1], kCollectiveChannel, area->top, bytes, what);
  if (*has_bottom) comm.recv(group[me + 1], kCollectiveChannel, area->bottom, bytes, what);
}

}  // namespace

void check_conv2d(const Conv2dOp& op, Memory& mem) {
  const Geometry g = geometry_of(op);
  OD_CHECK(g.F >= 0 && g.H >= 0 && g.W >= 0 && g.C > 0 && g.O > 0 && (g.k == 1 || g.k == 3),
           "frames " + std::to_string(g.F) + ", height " + std::to_string(g.H) + ", width " + std::to_string(g.W) + ", " +
               std::to_string(g.C) + " -> " + std::to_string(g.O) + " channels and kernel " + std::to_string(g.k) + " are not convolution sizes",
           "a plan defect: recompile the plan with this version of opendit");
  const int64_t pixels = g.F * g.H * g.W;
  require_f32(mem, op.x, pixels * g.C, "x");
  require_f32(mem, op.weight, g.O * g.C * g.taps(), "weight");
  OD_CHECK(mem.count(op.weight) == g.O * g.C * g.taps(),
           "weight `" + mem.name(op.weight) + "` holds " + std::to_string(mem.count(op.weight)) + " values, not " + std::to_string(g.O) + "·" +
               std::to_string(g.C) + "·" + std::to_string(g.k) + "·" + std::to_string(g.k),
           "the checkpoint tensor's shape is not the plan's [outChannels, inChannels, kernel, kernel]");
  if (op.bias) {
    require_f32(mem, *op.bias, g.O, "bias");
    OD_CHECK(mem.count(*op.bias) == g.O,
             "bias `" + mem.name(*op.bias) + "` holds " + std::to_string(mem.count(*op.bias)) + " values, not " + std::to_string(g.O),
             "the checkpoint tensor's shape is not the plan's [outChannels]");
  }
  require_f32(mem, op.out, pixels * g.O, "out");
  const float* x = mem.f32(op.x);
  const float* out = mem.f32(op.out);
  OD_CHECK(out + pixels * g.O <= x || x + pixels * g.C <= out,
           "x `" + mem.name(op.x) + "` and out `" + mem.name(op.out) + "` overlap, but a convolution reads each pixel's neighbours after writing it",
           "the plan must give a convolution's output its own buffer; recompile the plan");
  if (op.halo) {
    OD_CHECK(g.H > 0, "a band of no rows cannot lend halo rows to its neighbours", "a plan defect: recompile the plan");
    const std::vector<int>& group = comm_group(mem, op.halo->axis);
    if (group.size() > 1) mem.need_staging(4 * g.F * g.W * g.C * static_cast<int64_t>(sizeof(float)));
  }
  // The panel (doubles, two floats each), the 4·k·k source pointers of a tile, the zero row.
  const int64_t pointers = (kMR * g.taps() * static_cast<int64_t>(sizeof(const float*)) + 3) / 4;
  mem.need_scratch(2 * g.taps() * g.C * kNR + pointers + 2 + g.C);
}

void run_conv2d(const Conv2dOp& op, Memory& mem) {
  const Geometry g = geometry_of(op);
  const float* x = mem.f32(op.x);
  const float* w = mem.f32(op.weight);
  const float* b = op.bias ? mem.f32(*op.bias) : nullptr;
  float* out = mem.f32(op.out);
  const int64_t row = g.W * g.C;

  bool has_top = false, has_bottom = false;
  HaloArea area{};
  if (op.halo) exchange_halo(op, g, mem, &area, &has_top, &has_bottom);
  // Row yy of frame f's band, a halo row, or null (outside the image: the zero row is read instead).
  const auto source_row = [&](int64_t f, int64_t yy) -> const float* {
    if (yy >= 0 && yy < g.H) return x + (f * g.H + yy) * row;
    if (yy == -1 && has_top) return area.top + f * row;
    if (yy == g.H && has_bottom) return area.bottom + f * row;
    return nullptr;
  };

  parallel_for(g.F * g.H, 1, [&](int64_t begin, int64_t end, int thread) {
    float* scratch = mem.scratch(thread);
    double* panel = reinterpret_cast<double*>(scratch);
    const float** srcs = reinterpret_cast<const float**>(scratch + 2 * g.taps() * g.C * kNR);
    float* zeros = scratch + 2 * g.taps() * g.C * kNR + (kMR * g.taps() * static_cast<int64_t>(sizeof(const float*)) + 3) / 4 + 2;
    // Scratch is shared by every op's kernel: the zero row is made zero again here.
    std::fill(zeros, zeros + g.C, 0.0f);
    double acc[kMR][kNR];
    for (int64_t o0 = 0; o0 < g.O; o0 += kNR) {
      const int64_t no = std::min(kNR, g.O - o0);
      // panel[(tap·C + c)·4 + j] = w[o0 + j, c, tap]; missing channels of the last group are zeros, not stored.
      double bias[kNR] = {0, 0, 0, 0};
      for (int64_t j = 0; j < kNR; ++j) {
        if (j < no && b) bias[j] = b[o0 + j];
        for (int64_t t = 0; t < g.taps(); ++t)
          for (int64_t c = 0; c < g.C; ++c)
            panel[(t * g.C + c) * kNR + j] = j < no ? static_cast<double>(w[((o0 + j) * g.C + c) * g.taps() + t]) : 0.0;
      }
      for (int64_t r = begin; r < end; ++r) {
        const int64_t f = r / g.H, y = r % g.H;
        const float* rows[3] = {nullptr, nullptr, nullptr};
        for (int64_t ky = 0; ky < g.k; ++ky) rows[ky] = source_row(f, y + ky - g.pad);
        float* out_row = out + r * g.W * g.O;
        for (int64_t x0 = 0; x0 < g.W; x0 += kMR) {
          const int64_t m = std::min(kMR, g.W - x0);
          for (int64_t ky = 0; ky < g.k; ++ky) {
            for (int64_t kx = 0; kx < g.k; ++kx) {
              for (int64_t i = 0; i < m; ++i) {
                const int64_t xx = x0 + i + kx - g.pad;
                srcs[(ky * g.k + kx) * m + i] = rows[ky] && xx >= 0 && xx < g.W ? rows[ky] + xx * g.C : zeros;
              }
            }
          }
          switch (m) {
            case 4: micro_tile<4>(srcs, g.taps(), g.C, panel, bias, acc); break;
            case 3: micro_tile<3>(srcs, g.taps(), g.C, panel, bias, acc); break;
            case 2: micro_tile<2>(srcs, g.taps(), g.C, panel, bias, acc); break;
            default: micro_tile<1>(srcs, g.taps(), g.C, panel, bias, acc); break;
          }
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < no; ++j) out_row[(x0 + i) * g.O + o0 + j] = static_cast<float>(acc[i][j]);
        }
      }
    }
  });
}

}  // namespace od::cpu
