// conv2d's kernels and GEMMs (cuda/decode_kernels.h says what they compute); cuda/conv2d.cu is the op's launcher.
//
// Why im2col + cuBLASLt and not an implicit-GEMM kernel of our own: the decoder's 3x3 convolutions are large GEMMs
// (rows = frames·H·W up to 262144 a frame, K = 9·Cin = 1152 to 4608, N = 128 to 512), where cuBLASLt's Hopper
// kernels run near the tensor cores' peak; gathering a chunk's columns costs one extra write and read of 9x the
// chunk's input, memory-bound and simple enough to be right the first time. An implicit-GEMM kernel (the gather
// folded into the GEMM's tile loads) saves that traffic only if it also matches cuBLASLt's tile efficiency, which
// a hand-written mma.sync kernel does not reach on Hopper (wgmma/TMA are what cuBLASLt uses there).
//
// Chunks: the columns of `chunk_rows` rows at a time, as many rows as fit the budget (64 MiB by default;
// OPENDIT_CUDA_CONV_CHUNK_MB overrides it, read once per process), a multiple of 128 rows so that every chunk's
// output pointer keeps the same alignment. Each chunk is one gather kernel and one GEMM on the stream; the columns'
// scratch is reused chunk after chunk (stream order keeps the next gather behind the GEMM that reads it).
//
// The weights [Cout, Cin, 3, 3] are rearranged once per call into [Cout, 3, 3, Cin] in scratch (at most 4.7 MB for
// 512→512 in bf16), so that a tap's Cin columns are contiguous in both operands and the gather copies 16-byte
// vectors of whole input rows.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/decode_kernels.h"
#include "cuda/dtype.cuh"
#include "cuda/gemm.h"
#include "cuda/launch.cuh"

namespace od::cuda {
namespace {

constexpr size_t kAlign = 256;

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// The columns' budget per chunk in bytes: OPENDIT_CUDA_CONV_CHUNK_MB (a whole number of MiB ≥ 1), else 64 MiB.
int64_t chunk_budget() {
  static const int64_t bytes = [] {
    const char* e = std::getenv("OPENDIT_CUDA_CONV_CHUNK_MB");
    if (!e || !*e) return int64_t{64} << 20;
    char* end = nullptr;
    const long long mb = std::strtoll(e, &end, 10);
    OD_CHECK(end && *end == '\0' && mb >= 1 && mb <= (1 << 20),
             std::string("OPENDIT_CUDA_CONV_CHUNK_MB=") + e + " is not a whole number of MiB between 1 and 1048576",
             "unset it for the default 64 MiB of convolution columns per chunk");
    return static_cast<int64_t>(mb) << 20;
  }();
  return bytes;
}

bool is_float(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

// ---- kernels ----

// wt[co, t, ci] = w[co, ci, t] for taps t < 9: the weights tap-major. U: the raw element (uint16_t or uint32_t).
template <typename U>
__global__ void rearrange_weights_kernel(const U* w, U* wt, int64_t cout, int64_t cin, int64_t taps) {
  const int64_t total = cout * taps * cin;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t co = i / (taps * cin), rem = i % (taps * cin);
    const int64_t t = rem / cin, ci = rem % cin;
    wt[i] = w[(co * cin + ci) * taps + t];
  }
}

struct Geometry {
  uint32_t height, width, cin, kernel, pad;
  uint32_t taps;  // kernel²
};

// The input row (f, hs, ws)'s first element, or null where it is zero padding: outside the width, or above / below
// the band without a halo row there. Pointer arithmetic in elements of `esize` bytes.
__device__ __forceinline__ const char* source_row(const char* x, const char* top, const char* bottom, size_t esize, const Geometry& g,
                                                  uint32_t f, int hs, int ws) {
  if (ws < 0 || ws >= static_cast<int>(g.width)) return nullptr;
  if (hs < 0) return top ? top + (static_cast<size_t>(f) * g.width + ws) * g.cin * esize : nullptr;
  if (hs >= static_cast<int>(g.height)) return bottom ? bottom + (static_cast<size_t>(f) * g.width + ws) * g.cin * esize : nullptr;
  return x + ((static_cast<size_t>(f) * g.height + hs) * g.width + ws) * g.cin * esize;
}

// Columns of rows [r0, r0 + n): cols[(i·taps + t)·Cin + c] = the tap t input of row r0 + i, channel c. One thread
// a 16-byte vector v of one row's channels, for every tap of that row (the row's position divided out once, not
// per tap); consecutive threads take consecutive vectors, so reads of a source row and writes of a tap's columns
// are contiguous. x and the columns share a dtype, Cin·esize % 16 == 0, 16-byte aligned pointers; 32-bit indices.
template <int K>
__global__ void __launch_bounds__(kThreads) gather_vec_kernel(const char* x, const char* top, const char* bottom, char* cols, Geometry g,
                                                              uint32_t esize, uint32_t r0, uint32_t n) {
  constexpr int kTaps = K * K, kPad = K / 2;
  const uint32_t vpr = g.cin * esize / 16;  // vectors per input row
  const uint32_t total = n * vpr;
  const uint32_t hw = g.height * g.width;
  for (uint32_t item = blockIdx.x * kThreads + threadIdx.x; item < total; item += gridDim.x * kThreads) {
    const uint32_t v = item % vpr, i = item / vpr;
    const uint32_t r = r0 + i;
    const uint32_t f = r / hw, p = r % hw;
    const int h = static_cast<int>(p / g.width), w = static_cast<int>(p % g.width);
    char* out = cols + (static_cast<size_t>(i) * kTaps * vpr + v) * 16;
#pragma unroll
    for (int t = 0; t < kTaps; ++t) {
      const char* src = source_row(x, top, bottom, esize, g, f, h + t / K - kPad, w + t % K - kPad);
      const uint4 value = src ? load16(src + static_cast<size_t>(v) * 16) : make_uint4(0u, 0u, 0u, 0u);
      *reinterpret_cast<uint4*>(out + static_cast<size_t>(t) * vpr * 16) = value;
    }
  }
}

// The same, value by value, converting x's dtype to the columns' (any sizes and alignments).
__global__ void gather_kernel(const void* x, const void* top, const void* bottom, DType xt, size_t esize, void* cols, DType ct, Geometry g,
                              int64_t r0, int64_t n) {
  const int64_t total = n * g.taps * g.cin;
  const int64_t hw = static_cast<int64_t>(g.height) * g.width;
  for (int64_t item = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; item < total; item += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = item % g.cin, rt = item / g.cin;
    const int64_t t = rt % g.taps, r = r0 + rt / g.taps;
    const int64_t f = r / hw, p = r % hw;
    const int hs = static_cast<int>(p / g.width) + static_cast<int>(t / g.kernel) - static_cast<int>(g.pad);
    const int ws = static_cast<int>(p % g.width) + static_cast<int>(t % g.kernel) - static_cast<int>(g.pad);
    const char* src = source_row(static_cast<const char*>(x), static_cast<const char*>(top), static_cast<const char*>(bottom), esize, g,
                                 static_cast<uint32_t>(f), hs, ws);
    store_f(cols, ct, item, src ? load_f(src, xt, c) : 0.0f);
  }
}

// out[(r0 + i)·Cout + co] = acc[i·Cout + co] + bias[co], rounded once to out's dtype (the staged GEMM's results).
__global__ void finish_staged_kernel(const float* acc, const void* bias, DType bt, void* out, DType ot, int64_t r0, int64_t n, int64_t cout) {
  const int64_t total = n * cout;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = acc[i];
    if (bias) v = __fadd_rn(v, load_f(bias, bt, i % cout));
    store_f(out, ot, r0 * cout + i, v);
  }
}

// ---- the GEMM of one chunk ----

struct Pointers {
  const void* w;  // the GEMM's W: the weights, or their tap-major copy in scratch
  const void* x;  // the chunk's first row of columns (scratch) or of x
  void* y;        // the chunk's first output row, or the staged fp32 scratch
};

GemmKey chunk_key(const Conv2dArgs& a, const Conv2dLayout& l, int64_t n, const Pointers& p) {
  GemmKey k;
  k.ab = a.weight_dtype;
  k.d = l.staged ? DType::F32 : a.out_dtype;
  k.rows = n;
  k.in = l.k;
  k.out = a.out_channels;
  k.ldx = l.k;
  k.ldy = a.out_channels;
  const bool bias = !l.staged && a.bias;
  k.epilogue = bias ? Epilogue::Bias : Epilogue::None;
  k.align_w = alignment_of(reinterpret_cast<uintptr_t>(p.w));
  k.align_x = alignment_of(reinterpret_cast<uintptr_t>(p.x));
  k.align_y = alignment_of(reinterpret_cast<uintptr_t>(p.y));
  k.align_bias = bias ? alignment_of(reinterpret_cast<uintptr_t>(a.bias)) : 256;
  return k;
}

// The chunk's operands from the scratch base (at check time 0, standing in for the backend's 256-byte aligned
// scratch) and the arguments' pointers (at check time stand-ins carrying the plan offsets' alignments). Integer
// arithmetic, so stand-ins never become invalid pointers.
Pointers chunk_pointers(const Conv2dArgs& a, const Conv2dLayout& l, uintptr_t scratch, int64_t r0) {
  const auto at = [](const void* base, int64_t bytes) { return reinterpret_cast<uintptr_t>(base) + static_cast<uintptr_t>(bytes); };
  Pointers p;
  p.w = reinterpret_cast<const void*>(l.rearrange ? scratch + l.weights_offset : at(a.weight, 0));
  p.x = reinterpret_cast<const void*>(l.gather ? scratch + l.columns_offset : at(a.x, r0 * a.in_channels * value_bytes(a.x_dtype)));
  p.y = reinterpret_cast<void*>(l.staged ? scratch + l.staged_offset : at(a.out, r0 * a.out_channels * value_bytes(a.out_dtype)));
  return p;
}

void check_args(const Conv2dArgs& a, const std::string& where) {
  OD_CHECK(a.kernel == 1 || a.kernel == 3, where + ": a " + std::to_string(a.kernel) + "x" + std::to_string(a.kernel) + " convolution",
           "conv2d takes kernel 1 or 3");
  OD_CHECK(is_float(a.weight_dtype) && is_float(a.x_dtype) && is_float(a.out_dtype) && (!a.bias || is_float(a.bias_dtype)),
           where + ": conv2d on " + value_type_name(a.x_dtype) + " x, " + value_type_name(a.weight_dtype) + " weights, " + value_type_name(a.out_dtype) + " out",
           "the convolution computes on f32, bf16 or f16 values");
  OD_CHECK(a.frames >= 0 && a.height >= 0 && a.width >= 0 && a.in_channels > 0 && a.out_channels > 0,
           where + ": conv2d sizes " + std::to_string(a.frames) + "x" + std::to_string(a.height) + "x" + std::to_string(a.width) + ", " +
               std::to_string(a.in_channels) + "→" + std::to_string(a.out_channels) + " channels",
           "a plan defect: recompile the plan");
}

}  // namespace

Conv2dLayout conv2d_layout(const Conv2dArgs& a) {
  Conv2dLayout l;
  const int64_t wb = value_bytes(a.weight_dtype);
  l.rows = a.frames * a.height * a.width;
  l.k = a.kernel * a.kernel * a.in_channels;
  l.rearrange = a.kernel != 1;
  l.gather = a.kernel != 1 || a.x_dtype != a.weight_dtype;
  l.staged = !((a.out_dtype == a.weight_dtype || a.out_dtype == DType::F32) && (!a.bias || a.bias_dtype == a.out_dtype));
  const int64_t per_row = (l.gather ? l.k * wb : 0) + (l.staged ? a.out_channels * 4 : 0);
  int64_t chunk = l.rows;
  if (per_row > 0) {
    chunk = chunk_budget() / per_row;
    if (chunk >= 128) chunk -= chunk % 128;
    chunk = std::max<int64_t>(1, std::min(chunk, l.rows));
  }
  l.chunk_rows = std::max<int64_t>(chunk, 0);
  size_t at = 0;
  l.weights_offset = at;
  if (l.rearrange) at = round_up(at + static_cast<size_t>(a.out_channels * l.k * wb));
  l.columns_offset = at;
  if (l.gather) at = round_up(at + static_cast<size_t>(l.chunk_rows * l.k * wb));
  l.staged_offset = at;
  if (l.staged) at = round_up(at + static_cast<size_t>(l.chunk_rows * a.out_channels * 4));
  l.bytes = at;
  return l;
}

void prepare_conv2d_gemms(const Conv2dArgs& a, Gemm& gemm, const std::string& where) {
  check_args(a, where);
  const Conv2dLayout l = conv2d_layout(a);
  // Scratch stands in at address 0 (the backend's scratch is 256-byte aligned).
  for (int64_t r0 = 0; r0 < l.rows; r0 += l.chunk_rows) {
    const int64_t n = std::min(l.chunk_rows, l.rows - r0);
    gemm.prepare(chunk_key(a, l, n, chunk_pointers(a, l, 0, r0)), where);
  }
}

void launch_conv2d(const Conv2dArgs& a, Gemm& gemm, void* scratch, size_t scratch_bytes, cudaStream_t stream, const std::string& where) {
  check_args(a, where);
  const Conv2dLayout l = conv2d_layout(a);
  if (l.rows == 0) return;
  OD_CHECK(l.bytes == 0 || (scratch && scratch_bytes >= l.bytes && reinterpret_cast<uintptr_t>(scratch) % kAlign == 0),
           where + ": conv2d needs " + std::to_string(l.bytes) + " bytes of 256-byte aligned scratch, the backend holds " +
               std::to_string(scratch_bytes),
           "a CUDA backend defect: check_op must declare conv2d_scratch_bytes");
  const int64_t xb = value_bytes(a.x_dtype), wb = value_bytes(a.weight_dtype);
  {
    const uintptr_t x0 = reinterpret_cast<uintptr_t>(a.x), x1 = x0 + static_cast<uintptr_t>(l.rows * a.in_channels * xb);
    const uintptr_t o0 = reinterpret_cast<uintptr_t>(a.out), o1 = o0 + static_cast<uintptr_t>(l.rows * a.out_channels * value_bytes(a.out_dtype));
    OD_CHECK(x1 <= o0 || o1 <= x0, where + ": conv2d's x and out share bytes", "a plan defect: a convolution cannot run in place");
  }
  char* s = static_cast<char*>(scratch);

  if (l.rearrange) {
    const int64_t total = a.out_channels * l.k;
    if (wb == 2)
      rearrange_weights_kernel<uint16_t><<<blocks_for(total), kThreads, 0, stream>>>(
          static_cast<const uint16_t*>(a.weight), reinterpret_cast<uint16_t*>(s + l.weights_offset), a.out_channels, a.in_channels, a.kernel * a.kernel);
    else
      rearrange_weights_kernel<uint32_t><<<blocks_for(total), kThreads, 0, stream>>>(
          static_cast<const uint32_t*>(a.weight), reinterpret_cast<uint32_t*>(s + l.weights_offset), a.out_channels, a.in_channels, a.kernel * a.kernel);
    OD_CUDA_LAUNCHED(rearrange_weights_kernel);
  }

  Geometry g;
  g.height = static_cast<uint32_t>(a.height);
  g.width = static_cast<uint32_t>(a.width);
  g.cin = static_cast<uint32_t>(a.in_channels);
  g.kernel = static_cast<uint32_t>(a.kernel);
  g.pad = static_cast<uint32_t>(a.kernel / 2);
  g.taps = g.kernel * g.kernel;
  const bool vec = a.x_dtype == a.weight_dtype && (a.in_channels * xb) % 16 == 0 && aligned16(a.x) &&
                   (!a.halo_top || aligned16(a.halo_top)) && (!a.halo_bottom || aligned16(a.halo_bottom)) &&
                   l.rows < (int64_t{1} << 31) && l.chunk_rows * l.k * xb / 16 < (int64_t{1} << 31);

  for (int64_t r0 = 0; r0 < l.rows; r0 += l.chunk_rows) {
    const int64_t n = std::min(l.chunk_rows, l.rows - r0);
    if (l.gather) {
      if (vec) {
        const auto gather = a.kernel == 3 ? gather_vec_kernel<3> : gather_vec_kernel<1>;
        gather<<<blocks_for(n * a.in_channels * xb / 16), kThreads, 0, stream>>>(
            static_cast<const char*>(a.x), static_cast<const char*>(a.halo_top), static_cast<const char*>(a.halo_bottom), s + l.columns_offset, g,
            static_cast<uint32_t>(xb), static_cast<uint32_t>(r0), static_cast<uint32_t>(n));
        OD_CUDA_LAUNCHED(gather_vec_kernel);
      } else {
        gather_kernel<<<blocks_for(n * l.k), kThreads, 0, stream>>>(a.x, a.halo_top, a.halo_bottom, a.x_dtype, static_cast<size_t>(xb),
                                                                    s + l.columns_offset, a.weight_dtype, g, r0, n);
        OD_CUDA_LAUNCHED(gather_kernel);
      }
    }
    const Pointers p = chunk_pointers(a, l, reinterpret_cast<uintptr_t>(s), r0);
    const GemmKey key = chunk_key(a, l, n, p);
    gemm.run(key, p.w, p.x, l.staged ? nullptr : a.bias, p.y, stream, where);
    if (l.staged) {
      finish_staged_kernel<<<blocks_for(n * a.out_channels), kThreads, 0, stream>>>(
          reinterpret_cast<const float*>(s + l.staged_offset), a.bias, a.bias_dtype, a.out, a.out_dtype, r0, n, a.out_channels);
      OD_CUDA_LAUNCHED(finish_staged_kernel);
    }
  }
}

}  // namespace od::cuda
