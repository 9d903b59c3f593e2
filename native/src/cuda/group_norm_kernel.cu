// group_norm's kernels (cuda/decode_kernels.h says what they compute); cuda/group_norm.cu is the op's launcher.
//
// Statistics, per (frame, group) over height·width·(channels / groups) values (up to 512·512·4 = 1M values at the
// decoder's last level), as Σx and Σx² in double: the variance E[x²] − E[x]² then loses only log10(mean² / var) of
// double's 16 digits, far below the storage dtype's rounding, and the sums of several bands add exactly as one
// pass would group them (patch-parallel decode sums the bands' triples with NCCL).
//   1. statistics_kernel: grid (blocks_per_frame, frames), each block a run of pixels of one frame. Its threads are
//      `lanes` channel columns (16-byte vectors of the channels when they fit, else single values) × `rows` pixel
//      rows; each thread sums its column over its pixels in double, the block sums its rows in order through shared
//      memory and folds its channels into their groups in channel order; one (sum, squares) pair per (frame, block,
//      group) goes to scratch.
//   2. totals_kernel: one warp per (frame, group) sums the blocks' pairs (a fixed butterfly), writing (sum, squares,
//      count). The result does not depend on timing: the same bits run after run.
//   3. moments_kernel: mean and 1/√(var + eps) per (frame, group), the variance clamped at 0, in double, as fp32.
//   4. normalize_kernel: (x − mean)·rstd·weight + bias, SiLU (x / (1 + e^−x), precise expf), 16 bytes a thread where
//      x and out share a dtype and the channels fill whole vectors, else value by value. Elementwise: out may be x.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/decode_kernels.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"

namespace od::cuda {
namespace {

constexpr size_t kAlign = 256;
constexpr int kBlock = 256;
constexpr int kMaxGroups = 1024;  // the statistics kernel keeps two doubles a group in shared memory

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// N values of T at p as fp32: one value, or one 16-byte vector.
template <typename T, int N>
__device__ __forceinline__ void load_n(const T* p, float (&f)[N]) {
  if constexpr (N == 1)
    f[0] = to_f(p[0]);
  else
    load_vec<T, N>(p, f);
}

template <typename T, int N>
__device__ __forceinline__ void store_n(T* p, const float (&f)[N]) {
  if constexpr (N == 1)
    p[0] = from_f<T>(f[0]);
  else
    store_vec<T>(p, f);
}

struct StatShape {
  uint32_t pixels;    // height·width of a frame
  uint32_t channels;  // C
  uint32_t groups;    // G
  uint32_t per_group; // C / G
  uint32_t chunk;     // pixels per block
  uint32_t blocks;    // blocks per frame
};

// Dynamic shared memory: [2][rows][lanes·N] doubles (a tile's per-row column sums), then [2][groups] doubles.
template <typename T, int N>
__global__ void __launch_bounds__(kBlock) statistics_kernel(const T* x, double* partials, StatShape s) {
  extern __shared__ double shared[];
  const uint32_t columns = s.channels / N;  // columns of N values a pixel
  const uint32_t lanes = columns < kBlock ? columns : kBlock;
  const uint32_t rows = kBlock / lanes;
  const uint32_t width = lanes * N;  // channels of one tile
  double* row_sum = shared;
  double* row_sq = row_sum + rows * width;
  double* group_sum = row_sq + rows * width;
  double* group_sq = group_sum + s.groups;

  const uint32_t tid = threadIdx.x, lane = tid % lanes, row = tid / lanes;
  const bool active = row < rows;
  const uint32_t f = blockIdx.y, b = blockIdx.x;
  const uint32_t p0 = b * s.chunk, p1 = min(p0 + s.chunk, s.pixels);
  const T* frame = x + static_cast<size_t>(f) * s.pixels * s.channels;
  for (uint32_t g = tid; g < s.groups; g += kBlock) group_sum[g] = group_sq[g] = 0.0;

  for (uint32_t c0 = 0; c0 < columns; c0 += lanes) {
    const uint32_t column = c0 + lane;
    double sum[N], sq[N];
#pragma unroll
    for (int e = 0; e < N; ++e) sum[e] = sq[e] = 0.0;
    if (active && column < columns) {
      for (uint32_t p = p0 + row; p < p1; p += rows) {
        float v[N];
        load_n<T, N>(frame + static_cast<size_t>(p) * s.channels + static_cast<size_t>(column) * N, v);
#pragma unroll
        for (int e = 0; e < N; ++e) {
          const double d = v[e];
          sum[e] += d;
          sq[e] += d * d;
        }
      }
    }
    if (active) {
#pragma unroll
      for (int e = 0; e < N; ++e) {
        row_sum[row * width + lane * N + e] = sum[e];
        row_sq[row * width + lane * N + e] = sq[e];
      }
    }
    __syncthreads();
    // Each tile channel j summed over the rows, in row order, into row 0.
    for (uint32_t j = tid; j < width; j += kBlock) {
      double a = row_sum[j], q = row_sq[j];
      for (uint32_t r = 1; r < rows; ++r) {
        a += row_sum[r * width + j];
        q += row_sq[r * width + j];
      }
      row_sum[j] = a;
      row_sq[j] = q;
    }
    __syncthreads();
    // The tile's channels into their groups, in channel order (one thread a group).
    const uint32_t first = c0 * N, end = min((c0 + lanes) * N, s.channels);
    for (uint32_t g = tid; g < s.groups; g += kBlock) {
      const uint32_t lo = max(g * s.per_group, first), hi = min((g + 1) * s.per_group, end);
      double a = group_sum[g], q = group_sq[g];
      for (uint32_t c = lo; c < hi; ++c) {
        a += row_sum[c - first];
        q += row_sq[c - first];
      }
      group_sum[g] = a;
      group_sq[g] = q;
    }
    __syncthreads();
  }
  double* out = partials + (static_cast<size_t>(f) * s.blocks + b) * s.groups * 2;
  for (uint32_t g = tid; g < s.groups; g += kBlock) {
    out[2 * g] = group_sum[g];
    out[2 * g + 1] = group_sq[g];
  }
}

// One warp per (frame, group): totals[(f·G + g)·3 ..] = (Σ sum, Σ squares, count) over the frame's blocks.
__global__ void __launch_bounds__(kBlock) totals_kernel(const double* partials, double* totals, StatShape s, uint32_t frames) {
  const uint32_t warp = (blockIdx.x * kBlock + threadIdx.x) / 32, lane = threadIdx.x % 32;
  if (warp >= frames * s.groups) return;
  const uint32_t f = warp / s.groups, g = warp % s.groups;
  double a = 0.0, q = 0.0;
  for (uint32_t b = lane; b < s.blocks; b += 32) {
    const double* p = partials + ((static_cast<size_t>(f) * s.blocks + b) * s.groups + g) * 2;
    a += p[0];
    q += p[1];
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    a += __shfl_xor_sync(0xFFFFFFFFu, a, offset);
    q += __shfl_xor_sync(0xFFFFFFFFu, q, offset);
  }
  if (lane == 0) {
    totals[3 * static_cast<size_t>(warp)] = a;
    totals[3 * static_cast<size_t>(warp) + 1] = q;
    totals[3 * static_cast<size_t>(warp) + 2] = static_cast<double>(s.pixels) * s.per_group;
  }
}

// moments[(f·G + g)·2 ..] = (mean, 1/√(var + eps)) from the totals; a (frame, group) without values gets (0, 0).
__global__ void moments_kernel(const double* totals, float* moments, uint32_t count, double eps) {
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
    const double n = totals[3 * static_cast<size_t>(i) + 2];
    double mean = 0.0, rstd = 0.0;
    if (n > 0) {
      mean = totals[3 * static_cast<size_t>(i)] / n;
      const double var = fmax(totals[3 * static_cast<size_t>(i) + 1] / n - mean * mean, 0.0);
      rstd = 1.0 / sqrt(var + eps);
    }
    moments[2 * static_cast<size_t>(i)] = static_cast<float>(mean);
    moments[2 * static_cast<size_t>(i) + 1] = static_cast<float>(rstd);
  }
}

struct NormShape {
  int64_t values;     // frames·pixels·channels
  int64_t channels;
  uint32_t pixels, groups, per_group;
  bool silu;
};

__device__ __forceinline__ float finish(float x, const float* m, float w, float b, bool silu) {
  const float y = fmaf((x - m[0]) * m[1], w, b);
  return silu ? y / (1.0f + expf(-y)) : y;
}

// N consecutive values of one pixel a thread (N = 1: any dtypes through load_f/store_f is the generic kernel below).
template <typename T, int N>
__global__ void __launch_bounds__(kBlock) normalize_kernel(const T* x, T* out, const void* weight, DType wt, const void* bias, DType bt,
                                                           const float* moments, NormShape s) {
  const int64_t vectors = s.values / N;
  for (int64_t v = blockIdx.x * static_cast<int64_t>(kBlock) + threadIdx.x; v < vectors; v += static_cast<int64_t>(gridDim.x) * kBlock) {
    const int64_t i = v * N;
    const int64_t pixel = i / s.channels;
    const uint32_t c = static_cast<uint32_t>(i - pixel * s.channels);
    const uint32_t f = static_cast<uint32_t>(pixel / s.pixels);
    uint32_t g = c / s.per_group, next = (g + 1) * s.per_group;
    float val[N];
    load_n<T, N>(x + i, val);
#pragma unroll
    for (int e = 0; e < N; ++e) {
      const uint32_t ch = c + e;
      if (ch == next) {
        ++g;
        next += s.per_group;
      }
      const float* m = moments + 2 * (static_cast<size_t>(f) * s.groups + g);
      val[e] = finish(val[e], m, load_f(weight, wt, ch), load_f(bias, bt, ch), s.silu);
    }
    store_n<T, N>(out + i, val);
  }
}

__global__ void normalize_any_kernel(const void* x, DType xt, void* out, DType ot, const void* weight, DType wt, const void* bias, DType bt,
                                     const float* moments, NormShape s) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < s.values; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t pixel = i / s.channels;
    const uint32_t ch = static_cast<uint32_t>(i - pixel * s.channels);
    const uint32_t f = static_cast<uint32_t>(pixel / s.pixels);
    const float* m = moments + 2 * (static_cast<size_t>(f) * s.groups + ch / s.per_group);
    store_f(out, ot, i, finish(load_f(x, xt, i), m, load_f(weight, wt, ch), load_f(bias, bt, ch), s.silu));
  }
}

void check_args(const GroupNormArgs& a) {
  OD_CHECK(a.frames >= 0 && a.height >= 0 && a.width >= 0 && a.channels > 0 && a.groups > 0 && a.channels % a.groups == 0,
           "group_norm of " + std::to_string(a.channels) + " channels in " + std::to_string(a.groups) + " groups",
           "a plan defect: the channels must split evenly into the groups");
  OD_CHECK(a.groups <= kMaxGroups, "group_norm with " + std::to_string(a.groups) + " groups",
           "the CUDA kernel takes at most 1024 groups (the VAE has 32)");
  OD_CHECK(a.height * a.width < (int64_t{1} << 31) && a.channels < (int64_t{1} << 31),
           "group_norm of a " + std::to_string(a.height) + "x" + std::to_string(a.width) + " frame", "frames of fewer than 2^31 pixels");
}

StatShape stat_shape(const GroupNormArgs& a, const GroupNormLayout& l) {
  StatShape s;
  s.pixels = static_cast<uint32_t>(a.height * a.width);
  s.channels = static_cast<uint32_t>(a.channels);
  s.groups = static_cast<uint32_t>(a.groups);
  s.per_group = static_cast<uint32_t>(a.channels / a.groups);
  s.blocks = static_cast<uint32_t>(l.blocks_per_frame);
  s.chunk = static_cast<uint32_t>((a.height * a.width + l.blocks_per_frame - 1) / l.blocks_per_frame);
  return s;
}

template <typename T, int N>
void launch_statistics(const GroupNormArgs& a, const StatShape& s, double* partials, cudaStream_t stream) {
  const uint32_t columns = s.channels / N;
  const uint32_t lanes = std::min<uint32_t>(columns, kBlock), rows = kBlock / lanes;
  // At most 2·256·8 + 2·1024 doubles = 48 KiB: within the default dynamic shared memory limit.
  const size_t shared = (2 * static_cast<size_t>(rows) * lanes * N + 2 * static_cast<size_t>(s.groups)) * sizeof(double);
  const dim3 grid(s.blocks, static_cast<unsigned>(a.frames));
  statistics_kernel<T, N><<<grid, kBlock, shared, stream>>>(static_cast<const T*>(a.x), partials, s);
  OD_CUDA_LAUNCHED(statistics_kernel);
}

}  // namespace

GroupNormLayout group_norm_layout(const GroupNormArgs& a) {
  GroupNormLayout l;
  const int64_t pixels = a.height * a.width;
  const int64_t frames = std::max<int64_t>(a.frames, 1);
  // About 1024 blocks in all, none with fewer than 64 pixels.
  l.blocks_per_frame = std::max<int64_t>(1, std::min<int64_t>((1024 + frames - 1) / frames, (pixels + 63) / 64));
  const size_t fg = static_cast<size_t>(a.frames * a.groups);
  l.partials_offset = 0;
  l.totals_offset = round_up(static_cast<size_t>(a.frames * l.blocks_per_frame * a.groups) * 2 * sizeof(double));
  l.moments_offset = l.totals_offset + round_up(fg * 3 * sizeof(double));
  l.bytes = l.moments_offset + round_up(fg * 2 * sizeof(float));
  return l;
}

double* group_norm_statistics(const GroupNormArgs& a, void* scratch, cudaStream_t stream) {
  check_args(a);
  const GroupNormLayout l = group_norm_layout(a);
  char* base = static_cast<char*>(scratch);
  double* partials = reinterpret_cast<double*>(base + l.partials_offset);
  double* totals = reinterpret_cast<double*>(base + l.totals_offset);
  if (a.frames == 0) return totals;
  const StatShape s = stat_shape(a, l);
  bool launched = false;
  if (a.height * a.width > 0 && aligned16(a.x)) {
    with_float_type(a.x_dtype, [&](auto t) {
      using T = decltype(t);
      constexpr int N = vec_of<T>();
      if (a.channels % N != 0) return;
      launch_statistics<T, N>(a, s, partials, stream);
      launched = true;
    });
  }
  if (!launched && a.height * a.width > 0) {
    const bool typed = with_float_type(a.x_dtype, [&](auto t) {
      using T = decltype(t);
      launch_statistics<T, 1>(a, s, partials, stream);
    });
    OD_CHECK(typed, std::string("group_norm of ") + value_type_name(a.x_dtype) + " values", "group_norm computes on f32, bf16 or f16");
  }
  if (a.height * a.width == 0) OD_CUDA_CHECK(cudaMemsetAsync(partials, 0, l.totals_offset, stream));
  const int64_t warps = a.frames * a.groups;
  totals_kernel<<<static_cast<unsigned>((warps * 32 + kBlock - 1) / kBlock), kBlock, 0, stream>>>(partials, totals, s,
                                                                                                  static_cast<uint32_t>(a.frames));
  OD_CUDA_LAUNCHED(totals_kernel);
  return totals;
}

void group_norm_apply(const GroupNormArgs& a, void* scratch, cudaStream_t stream) {
  check_args(a);
  const GroupNormLayout l = group_norm_layout(a);
  const int64_t fg = a.frames * a.groups;
  if (fg == 0 || a.height * a.width == 0) return;
  char* base = static_cast<char*>(scratch);
  const double* totals = reinterpret_cast<const double*>(base + l.totals_offset);
  float* moments = reinterpret_cast<float*>(base + l.moments_offset);
  moments_kernel<<<blocks_for(fg), kThreads, 0, stream>>>(totals, moments, static_cast<uint32_t>(fg), a.eps);
  OD_CUDA_LAUNCHED(moments_kernel);

  NormShape s;
  s.values = a.frames * a.height * a.width * a.channels;
  s.channels = a.channels;
  s.pixels = static_cast<uint32_t>(a.height * a.width);
  s.groups = static_cast<uint32_t>(a.groups);
  s.per_group = static_cast<uint32_t>(a.channels / a.groups);
  s.silu = a.silu;
  bool launched = false;
  if (a.x_dtype == a.out_dtype && aligned16(a.x) && aligned16(a.out)) {
    with_float_type(a.x_dtype, [&](auto t) {
      using T = decltype(t);
      constexpr int N = vec_of<T>();
      if (a.channels % N != 0) return;
      normalize_kernel<T, N><<<blocks_for(s.values / N), kBlock, 0, stream>>>(static_cast<const T*>(a.x), static_cast<T*>(a.out), a.weight,
                                                                           a.weight_dtype, a.bias, a.bias_dtype, moments, s);
      OD_CUDA_LAUNCHED(normalize_kernel);
      launched = true;
    });
  }
  if (launched) return;
  normalize_any_kernel<<<blocks_for(s.values), kThreads, 0, stream>>>(a.x, a.x_dtype, a.out, a.out_dtype, a.weight, a.weight_dtype, a.bias,
                                                                      a.bias_dtype, moments, s);
  OD_CUDA_LAUNCHED(normalize_any_kernel);
}

}  // namespace od::cuda
