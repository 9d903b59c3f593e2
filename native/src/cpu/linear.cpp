// `linear` (compiler/plan/ops.ts LinearOp; runtime/reference/ops/linear.ts): y = act(x · Wᵀ + b) over `rows` rows,
// W stored [out, in] as every checkpoint stores it, the activation an epilogue on the double sum: none, GELU-tanh
// 0.5·v·(1 + tanh(√(2/π)·(v + 0.044715·v³))) or SiLU v / (1 + exp(−v)), as the reference writes them. Each output
// is bias + Σ_k x[k]·W[j, k] summed in double in k order, exactly the reference's order (fp32 products are exact in
// double); only the final value is rounded to fp32.
//
// Column layouts, as the reference: `in_columns` reads the in_features columns [offset, offset + in_features) of x
// rows `stride` wide; `pad_columns` spreads the out_features results as `chunks` equal runs, each at the start of
// `width` columns whose rest (Ulysses' zero heads) is written as zeros; `out_columns` writes the resulting columns
// at [offset, ...) of out rows `stride` wide and leaves the other columns of out alone.
//
// Loops: threads take blocks of rows; within a block, W is packed NR output features at a time into a [K, NR]
// panel of doubles (per-thread scratch) so the MR×NR micro-tile reads it with vector loads, and the block's x rows
// stay in cache while every panel sweeps them. A block of fewer than MR rows (rows = samples: the timestep MLP,
// adaLN) reads W in place instead. Each row block's results go to scratch first and are stored whole once the
// block's x rows have been read, so, as the reference allows, x and out may even be one buffer (a row's output
// columns overlapping only that row's input columns, as with one stride for both).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"

namespace od::cpu {
namespace {

constexpr int64_t kMR = 4;  // rows of a micro-tile
constexpr int64_t kNR = 4;  // output features of a packed panel

// GCC/Clang vector extensions: element-wise IEEE mul and add, the same values as the scalar loop (no contraction
// under -ffp-contract=off, no reassociation), on whatever SIMD width the target has.
typedef double d2 __attribute__((vector_size(16)));

const double kGeluC = std::sqrt(2.0 / 3.141592653589793);

// Where result column j goes within a row's written columns, and how many columns a row writes.
struct Layout {
  int64_t in_stride = 0, in_offset = 0;
  int64_t written = 0;               // columns written per row: out_features, or chunks·width when padded
  int64_t run = 0, pad_width = 0;    // padded: runs of `run` results at the start of `pad_width` columns
  bool padded = false;
  int64_t out_stride = 0, out_offset = 0;
  int64_t place(int64_t j) const { return padded ? (j / run) * pad_width + j % run : j; }
};

// The layout of an op whose pad_columns check_linear has validated.
Layout layout_of(const LinearOp& op) {
  Layout l;
  l.in_stride = op.in_columns ? op.in_columns->stride : op.in_features;
  l.in_offset = op.in_columns ? op.in_columns->offset : 0;
  l.written = op.out_features;
  l.run = op.out_features;
  if (op.pad_columns) {
    l.padded = true;
    l.run = op.out_features / op.pad_columns->chunks;
    l.pad_width = op.pad_columns->width;
    l.written = op.pad_columns->chunks * op.pad_columns->width;
  }
  l.out_stride = op.out_columns ? op.out_columns->stride : l.written;
  l.out_offset = op.out_columns ? op.out_columns->offset : 0;
  return l;
}

// Rows per block: the block's x rows (about 256 KiB) stay in L2 while every panel of W passes over them.
int64_t row_block(int64_t in_features) {
  const int64_t rows = (65536 / std::max<int64_t>(1, in_features)) / kMR * kMR;
  return std::clamp<int64_t>(rows, kMR, 64);
}

double activate(double v, Activation activation) {
  switch (activation) {
    case Activation::None:
      return v;
    case Activation::GeluTanh:
      return 0.5 * v * (1 + std::tanh(kGeluC * (v + 0.044715 * v * v * v)));
    case Activation::Silu:
      return v / (1 + std::exp(-v));
  }
  return v;
}

// acc[i][jj] = bias[jj] + Σ_k x[i][k]·panel[k][jj] for M rows of x (`x_stride` apart) and the NR features of the
// panel ([K, NR] doubles, stored in float scratch two floats each), each sum in k order.
template <int M>
void micro_tile(const float* x, int64_t x_stride, const float* panel, int64_t K, const double* bias, double (*acc)[kNR]) {
  d2 lo[M], hi[M];
  const float* xr[M];
  for (int i = 0; i < M; ++i) {
    lo[i] = d2{bias[0], bias[1]};
    hi[i] = d2{bias[2], bias[3]};
    xr[i] = x + i * x_stride;
  }
  for (int64_t k = 0; k < K; ++k) {
    d2 wlo, whi;
    std::memcpy(&wlo, panel + 2 * (k * kNR), sizeof wlo);
    std::memcpy(&whi, panel + 2 * (k * kNR + 2), sizeof whi);
    for (int i = 0; i < M; ++i) {
      const double xv = xr[i][k];
      lo[i] += xv * wlo;
      hi[i] += xv * whi;
    }
  }
  for (int i = 0; i < M; ++i) {
    acc[i][0] = lo[i][0];
    acc[i][1] = lo[i][1];
    acc[i][2] = hi[i][0];
    acc[i][3] = hi[i][1];
  }
}

// The same sums for fewer than MR rows (rows = samples: the timestep MLP, adaLN), reading the NR rows of W
// `w_stride` apart directly: packing a panel would cost as much as the few rows it serves.
template <int M>
void micro_tile_direct(const float* x, int64_t x_stride, const float* const* w, int64_t K, const double* bias, double (*acc)[kNR]) {
  double a[M][kNR];
  for (int i = 0; i < M; ++i)
    for (int jj = 0; jj < kNR; ++jj) a[i][jj] = bias[jj];
  for (int64_t k = 0; k < K; ++k) {
    const double w0 = w[0][k], w1 = w[1][k], w2 = w[2][k], w3 = w[3][k];
    for (int i = 0; i < M; ++i) {
      const double xv = x[i * x_stride + k];
      a[i][0] += xv * w0;
      a[i][1] += xv * w1;
      a[i][2] += xv * w2;
      a[i][3] += xv * w3;
    }
  }
  for (int i = 0; i < M; ++i)
    for (int jj = 0; jj < kNR; ++jj) acc[i][jj] = a[i][jj];
}

}  // namespace

void check_linear(const LinearOp& op, Memory& mem) {
  const char* plan_hint = "a plan defect: recompile the plan with this version of opendit";
  const int64_t rows = op.rows, n_in = op.in_features, n_out = op.out_features;
  OD_CHECK(rows >= 0 && n_in >= 0 && n_out >= 0,
           "negative sizes: rows " + std::to_string(rows) + ", in_features " + std::to_string(n_in) + ", out_features " + std::to_string(n_out),
           plan_hint);
  if (op.pad_columns) {
    const int64_t chunks = op.pad_columns->chunks, width = op.pad_columns->width;
    OD_CHECK(chunks >= 1 && n_out % chunks == 0 && n_out / chunks <= width,
             std::to_string(n_out) + " features do not make " + std::to_string(chunks) + " runs of at most " + std::to_string(width) + " columns",
             plan_hint);
  }
  const Layout l = layout_of(op);
  OD_CHECK(l.in_offset >= 0 && l.in_offset + n_in <= l.in_stride,
           "input columns " + std::to_string(l.in_offset) + ".." + std::to_string(l.in_offset + n_in - 1) + " do not fit rows " +
               std::to_string(l.in_stride) + " wide",
           plan_hint);
  OD_CHECK(l.out_offset >= 0 && l.out_offset + l.written <= l.out_stride,
           "columns " + std::to_string(l.out_offset) + ".." + std::to_string(l.out_offset + l.written - 1) + " do not fit rows " +
               std::to_string(l.out_stride) + " wide",
           plan_hint);

  require_f32(mem, op.x, rows * l.in_stride, "x");
  require_f32(mem, op.weight, n_out * n_in, "weight");
  OD_CHECK(mem.count(op.weight) == n_out * n_in,
           "weight `" + mem.name(op.weight) + "` holds " + std::to_string(mem.count(op.weight)) + " values, not " + std::to_string(n_out) + "·" +
               std::to_string(n_in),
           "the checkpoint tensor's shape is not the plan's [out_features, in_features]");
  if (op.bias) {
    require_f32(mem, *op.bias, n_out, "bias");
    OD_CHECK(mem.count(*op.bias) == n_out,
             "bias `" + mem.name(*op.bias) + "` holds " + std::to_string(mem.count(*op.bias)) + " values, not " + std::to_string(n_out),
             "the checkpoint tensor's shape is not the plan's [out_features]");
  }
  require_f32(mem, op.out, rows * l.out_stride, "out");
  // A packed panel of W (doubles: two floats each), then the results of one row block.
  mem.need_scratch(2 * kNR * n_in + row_block(n_in) * l.written);
}

void run_linear(const LinearOp& op, Memory& mem) {
  const Layout l = layout_of(op);
  const int64_t rows = op.rows, K = op.in_features, N = op.out_features;
  const float* x = mem.f32(op.x) + l.in_offset;
  const float* w = mem.f32(op.weight);
  const float* b = op.bias ? mem.f32(*op.bias) : nullptr;
  float* out = mem.f32(op.out) + l.out_offset;
  const int64_t rb = row_block(K);
  const int64_t blocks = (rows + rb - 1) / rb;

  parallel_for(blocks, 1, [&](int64_t begin, int64_t end, int thread) {
    // The panel holds doubles (converted once here, not once per row) in float scratch, written and read by memcpy.
    float* panel = mem.scratch(thread);
    float* result = panel + 2 * kNR * K;
    double acc[kMR][kNR];
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t r0 = blk * rb, nr = std::min(rb, rows - r0);
      const float* xb = x + r0 * l.in_stride;
      // The zero heads between runs (every result column is overwritten below).
      if (l.padded) std::fill(result, result + nr * l.written, 0.0f);
      // The activated sums of acc's rows [0, mi) (block rows i0...) and features j0..j0+nj−1, rounded to fp32.
      const auto store = [&](int64_t i0, int64_t mi, int64_t j0, int64_t nj) {
        for (int64_t i = 0; i < mi; ++i) {
          float* res = result + (i0 + i) * l.written;
          for (int64_t jj = 0; jj < nj; ++jj) res[l.place(j0 + jj)] = static_cast<float>(activate(acc[i][jj], op.activation));
        }
      };
      for (int64_t j0 = 0; j0 < N; j0 += kNR) {
        const int64_t nj = std::min(kNR, N - j0);
        double bias[kNR] = {0, 0, 0, 0};
        if (nr < kMR) {
          // Missing features of the last group repeat feature j0; their sums are not stored.
          const float* wr[kNR];
          for (int64_t jj = 0; jj < kNR; ++jj) {
            wr[jj] = w + (j0 + (jj < nj ? jj : 0)) * K;
            if (jj < nj && b) bias[jj] = b[j0 + jj];
          }
          switch (nr) {
            case 3: micro_tile_direct<3>(xb, l.in_stride, wr, K, bias, acc); break;
            case 2: micro_tile_direct<2>(xb, l.in_stride, wr, K, bias, acc); break;
            default: micro_tile_direct<1>(xb, l.in_stride, wr, K, bias, acc); break;
          }
          store(0, nr, j0, nj);
          continue;
        }
        for (int64_t jj = 0; jj < kNR; ++jj) {
          const float* wj = jj < nj ? w + (j0 + jj) * K : nullptr;
          for (int64_t k = 0; k < K; ++k) {
            const double v = wj ? wj[k] : 0.0;
            std::memcpy(panel + 2 * (k * kNR + jj), &v, sizeof v);
          }
          if (wj && b) bias[jj] = b[j0 + jj];
        }
        for (int64_t i0 = 0; i0 < nr; i0 += kMR) {
          const int64_t mi = std::min(kMR, nr - i0);
          const float* xi = xb + i0 * l.in_stride;
          switch (mi) {
            case 4: micro_tile<4>(xi, l.in_stride, panel, K, bias, acc); break;
            case 3: micro_tile<3>(xi, l.in_stride, panel, K, bias, acc); break;
            case 2: micro_tile<2>(xi, l.in_stride, panel, K, bias, acc); break;
            default: micro_tile<1>(xi, l.in_stride, panel, K, bias, acc); break;
          }
          store(i0, mi, j0, nj);
        }
      }
      for (int64_t i = 0; i < nr; ++i) {
        std::memcpy(out + (r0 + i) * l.out_stride, result + i * l.written, static_cast<size_t>(l.written) * sizeof(float));
      }
    }
  });
}

}  // namespace od::cpu
