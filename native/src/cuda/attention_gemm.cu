// Attention through cuBLASLt GEMMs (cuda/decode_kernels.h says what it computes), for the head dims the fused
// kernel (cuda/attention_kernel.cuh, head_dim ≤ 256) does not cover: the VAE's mid-block attention, one head of 512
// over the frame's pixels (4096 keys at 512x512, 16384 at 1024x1024). cuda/cross_attention.cu picks it.
//
// Per (sample, head): K [keys, hd] copied contiguous (cudaMemcpy2DAsync, or a converting kernel where kv's dtype is
// not q's) and V transposed to Vᵀ [hd, keys] (32x32 tiles through shared memory), both in q's dtype, so that both
// products are the y = x·Wᵀ of cuda/gemm.h with W contiguous. Then per chunk of queries:
//   scores = Q·Kᵀ        cuBLASLt, fp32 out [chunk, keys] (fp32 accumulation; pedantic fp32 for f32 plans)
//   probs  = softmax     one block a row: max and sum in one pass (online rescaling), then exp(z − max) / sum in
//                        fp32 with precise expf, z = scale·score; masked keys 0; a row without keys all 0;
//                        written in q's dtype, as a fused attention feeds P to its second product
//   out    = probs·V     cuBLASLt, into out's rows (out's dtype: q's or f32)
// The chunk is as many queries as 256 MiB of scores and probs hold (all 4096 of a 512x512 frame; 2688 of a
// 1024x1024 frame's 16384), a multiple of 64. The FLOPs (4·queries·keys·hd a frame, 34 GFLOP at 512x512) are a
// few percent of the decoder's convolutions.
#include <algorithm>
#include <cmath>
#include <cstdint>
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
constexpr int64_t kChunkBytes = int64_t{256} << 20;  // scores (fp32) + probs of one chunk
constexpr int kSoftmaxThreads = 256;

size_t round_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

bool is_float(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

// dst[j, d] = src[j·src_stride + d] for j < rows, d < cols, converting dtypes.
__global__ void copy_rows_kernel(const void* src, DType st, int64_t src_stride, void* dst, DType dt, int64_t rows, int64_t cols) {
  const int64_t total = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    store_f(dst, dt, i, load_f(src, st, (i / cols) * src_stride + i % cols));
}

// dst[d, j] = src[j·src_stride + d] (V [rows = keys, cols = hd] → Vᵀ [hd, keys]), 32x32 tiles, block (32, 8).
__global__ void transpose_kernel(const void* src, DType st, int64_t src_stride, void* dst, DType dt, int64_t rows, int64_t cols) {
  __shared__ float tile[32][33];
  const int64_t d0 = static_cast<int64_t>(blockIdx.x) * 32, j0 = static_cast<int64_t>(blockIdx.y) * 32;
  for (int k = threadIdx.y; k < 32; k += 8) {
    const int64_t j = j0 + k, d = d0 + threadIdx.x;
    tile[k][threadIdx.x] = (j < rows && d < cols) ? load_f(src, st, j * src_stride + d) : 0.0f;
  }
  __syncthreads();
  for (int k = threadIdx.y; k < 32; k += 8) {
    const int64_t d = d0 + k, j = j0 + threadIdx.x;
    if (d < cols && j < rows) store_f(dst, dt, d * rows + j, tile[threadIdx.x][k]);
  }
}

// (max, sum) pairs merged: the sum rescaled to the larger max. −inf max: no key yet.
__device__ __forceinline__ void merge(float& m, float& l, float m2, float l2) {
  const float mm = fmaxf(m, m2);
  if (mm == -INFINITY) return;
  l = (m == -INFINITY ? 0.0f : l * expf(m - mm)) + (m2 == -INFINITY ? 0.0f : l2 * expf(m2 - mm));
  m = mm;
}

// Row r of scores [rows, keys] → probs (dtype pt) of the same shape; mask: the sample's [keys] row or null.
__global__ void __launch_bounds__(kSoftmaxThreads) softmax_kernel(const float* scores, void* probs, DType pt, const int32_t* mask, int64_t keys,
                                                                  float scale) {
  __shared__ float ms[kSoftmaxThreads / 32], ls[kSoftmaxThreads / 32];
  const float* s = scores + static_cast<int64_t>(blockIdx.x) * keys;
  const int64_t out0 = static_cast<int64_t>(blockIdx.x) * keys;
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = threadIdx.x; j < keys; j += kSoftmaxThreads) {
    if (mask && mask[j] == 0) continue;
    const float z = s[j] * scale;
    if (z > m) {
      l = (m == -INFINITY ? 0.0f : l * expf(m - z)) + 1.0f;
      m = z;
    } else {
      l += expf(z - m);
    }
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    const float m2 = __shfl_xor_sync(0xFFFFFFFFu, m, offset), l2 = __shfl_xor_sync(0xFFFFFFFFu, l, offset);
    merge(m, l, m2, l2);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    ms[warp] = m;
    ls[warp] = l;
  }
  __syncthreads();
  m = ms[0];
  l = ls[0];
  for (int w = 1; w < kSoftmaxThreads / 32; ++w) merge(m, l, ms[w], ls[w]);
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int64_t j = threadIdx.x; j < keys; j += kSoftmaxThreads) {
    float p = 0.0f;
    if (inv > 0.0f && !(mask && mask[j] == 0)) p = expf(s[j] * scale - m) * inv;
    store_f(probs, pt, out0 + j, p);
  }
}

struct Operands {
  const void* q;  // the chunk's first query row (head h)
  void* out;      // its first output row (head h)
};

Operands chunk_operands(const AttentionGemmArgs& a, int64_t s, int64_t h, int64_t i0) {
  const int64_t width = a.heads * a.head_dim;
  const int64_t row = s * a.queries + i0;
  Operands o;
  o.q = reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(a.q) + static_cast<uintptr_t>((row * width + h * a.head_dim) * value_bytes(a.q_dtype)));
  o.out = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(a.out) + static_cast<uintptr_t>((row * width + h * a.head_dim) * value_bytes(a.out_dtype)));
  return o;
}

// scores[n, keys] = q rows · Kᵀ (W = K [keys, hd] in scratch, 256-byte aligned).
GemmKey scores_key(const AttentionGemmArgs& a, int64_t n, const void* q) {
  GemmKey k;
  k.ab = a.q_dtype;
  k.d = DType::F32;
  k.rows = n;
  k.in = a.head_dim;
  k.out = a.keys;
  k.ldx = a.heads * a.head_dim;
  k.ldy = a.keys;
  k.epilogue = Epilogue::None;
  k.align_w = 256;
  k.align_x = alignment_of(reinterpret_cast<uintptr_t>(q));
  k.align_y = 256;
  return k;
}

// out rows [n, hd] = probs [n, keys] · Vᵀᵀ (W = Vᵀ [hd, keys] in scratch).
GemmKey values_key(const AttentionGemmArgs& a, int64_t n, const void* out) {
  GemmKey k;
  k.ab = a.q_dtype;
  k.d = a.out_dtype;
  k.rows = n;
  k.in = a.keys;
  k.out = a.head_dim;
  k.ldx = a.keys;
  k.ldy = a.heads * a.head_dim;
  k.epilogue = Epilogue::None;
  k.align_w = 256;
  k.align_x = 256;
  k.align_y = alignment_of(reinterpret_cast<uintptr_t>(out));
  return k;
}

void check_args(const AttentionGemmArgs& a, const std::string& where) {
  OD_CHECK(is_float(a.q_dtype) && is_float(a.kv_dtype) && (a.out_dtype == a.q_dtype || a.out_dtype == DType::F32),
           where + ": attention on " + value_type_name(a.q_dtype) + " q, " + value_type_name(a.kv_dtype) + " kv into " + value_type_name(a.out_dtype) + " out",
           "the GEMM attention takes f32, bf16 or f16 q and kv, and out in q's dtype or f32");
  OD_CHECK(a.samples >= 0 && a.queries >= 0 && a.keys >= 0 && a.heads >= 0 && a.head_dim > 0,
           where + ": attention sizes " + std::to_string(a.samples) + " samples, " + std::to_string(a.queries) + " queries, " +
               std::to_string(a.keys) + " keys, " + std::to_string(a.heads) + "x" + std::to_string(a.head_dim),
           "a plan defect: recompile the plan");
  OD_CHECK(a.keys <= int64_t{65535} * 32 && a.head_dim <= int64_t{65535} * 32,
           where + ": " + std::to_string(a.keys) + " keys of head dim " + std::to_string(a.head_dim),
           "the GEMM attention takes at most 2097120 keys a sample (the transpose's grid)");
}

}  // namespace

AttentionGemmLayout attention_gemm_layout(const AttentionGemmArgs& a) {
  AttentionGemmLayout l;
  const int64_t ab = value_bytes(a.q_dtype);
  const int64_t per_query = std::max<int64_t>(1, a.keys) * (4 + ab);
  int64_t chunk = kChunkBytes / per_query;
  if (chunk >= 64) chunk -= chunk % 64;
  l.chunk = std::max<int64_t>(1, std::min(chunk, std::max<int64_t>(a.queries, 1)));
  l.k_offset = 0;
  l.vt_offset = round_up(static_cast<size_t>(a.keys * a.head_dim * ab));
  l.scores_offset = l.vt_offset + round_up(static_cast<size_t>(a.keys * a.head_dim * ab));
  l.probs_offset = l.scores_offset + round_up(static_cast<size_t>(l.chunk * a.keys * 4));
  l.bytes = l.probs_offset + round_up(static_cast<size_t>(l.chunk * a.keys * ab));
  return l;
}

void prepare_attention_gemms(const AttentionGemmArgs& a, Gemm& gemm, const std::string& where) {
  check_args(a, where);
  if (a.queries == 0 || a.keys == 0) return;
  const AttentionGemmLayout l = attention_gemm_layout(a);
  for (int64_t s = 0; s < a.samples; ++s)
    for (int64_t h = 0; h < a.heads; ++h)
      for (int64_t i0 = 0; i0 < a.queries; i0 += l.chunk) {
        const int64_t n = std::min(l.chunk, a.queries - i0);
        const Operands o = chunk_operands(a, s, h, i0);
        gemm.prepare(scores_key(a, n, o.q), where);
        gemm.prepare(values_key(a, n, o.out), where);
      }
}

void launch_attention_gemm(const AttentionGemmArgs& a, Gemm& gemm, void* scratch, size_t scratch_bytes, cudaStream_t stream,
                           const std::string& where) {
  check_args(a, where);
  if (a.samples == 0 || a.queries == 0 || a.heads == 0) return;
  const int64_t width = a.heads * a.head_dim;
  if (a.keys == 0) {  // no key anywhere: zeros, as the CPU gives a query without keys
    OD_CUDA_CHECK(cudaMemsetAsync(a.out, 0, static_cast<size_t>(a.samples * a.queries * width * value_bytes(a.out_dtype)), stream));
    return;
  }
  const AttentionGemmLayout l = attention_gemm_layout(a);
  OD_CHECK(scratch && scratch_bytes >= l.bytes && reinterpret_cast<uintptr_t>(scratch) % kAlign == 0,
           where + ": the GEMM attention needs " + std::to_string(l.bytes) + " bytes of 256-byte aligned scratch, the backend holds " +
               std::to_string(scratch_bytes),
           "a CUDA backend defect: check_op must declare cross_attention_scratch_bytes");
  char* base = static_cast<char*>(scratch);
  void* k = base + l.k_offset;
  void* vt = base + l.vt_offset;
  float* scores = reinterpret_cast<float*>(base + l.scores_offset);
  void* probs = base + l.probs_offset;
  const int64_t kvb = value_bytes(a.kv_dtype), ab = value_bytes(a.q_dtype);
  const float scale = static_cast<float>(a.scale);
  for (int64_t s = 0; s < a.samples; ++s) {
    for (int64_t h = 0; h < a.heads; ++h) {
      const char* keys = static_cast<const char*>(a.kv) + (s * a.keys * 2 * width + h * a.head_dim) * kvb;
      const char* values = keys + width * kvb;
      if (a.kv_dtype == a.q_dtype) {
        OD_CUDA_CHECK(cudaMemcpy2DAsync(k, static_cast<size_t>(a.head_dim * ab), keys, static_cast<size_t>(2 * width * kvb),
                                        static_cast<size_t>(a.head_dim * ab), static_cast<size_t>(a.keys), cudaMemcpyDeviceToDevice, stream));
      } else {
        copy_rows_kernel<<<blocks_for(a.keys * a.head_dim), kThreads, 0, stream>>>(keys, a.kv_dtype, 2 * width, k, a.q_dtype, a.keys, a.head_dim);
        OD_CUDA_LAUNCHED(copy_rows_kernel);
      }
      const dim3 tiles(static_cast<unsigned>((a.head_dim + 31) / 32), static_cast<unsigned>((a.keys + 31) / 32));
      transpose_kernel<<<tiles, dim3(32, 8), 0, stream>>>(values, a.kv_dtype, 2 * width, vt, a.q_dtype, a.keys, a.head_dim);
      OD_CUDA_LAUNCHED(transpose_kernel);
      const int32_t* mask = a.mask ? a.mask + s * a.keys : nullptr;
      for (int64_t i0 = 0; i0 < a.queries; i0 += l.chunk) {
        const int64_t n = std::min(l.chunk, a.queries - i0);
        const Operands o = chunk_operands(a, s, h, i0);
        gemm.run(scores_key(a, n, o.q), k, o.q, nullptr, scores, stream, where);
        softmax_kernel<<<static_cast<unsigned>(n), kSoftmaxThreads, 0, stream>>>(scores, probs, a.q_dtype, mask, a.keys, scale);
        OD_CUDA_LAUNCHED(softmax_kernel);
        gemm.run(values_key(a, n, o.out), vt, probs, nullptr, o.out, stream, where);
      }
    }
  }
}

}  // namespace od::cuda
