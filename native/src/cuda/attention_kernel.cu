// The attention forward kernels (cuda/attention_kernel.cuh says what they compute and when each is used).
//
// Tensor-core kernel (FlashAttention-2 forward, bf16/f16): block = WARPS warps, each owning 16 query rows; Q tile
// [16·WARPS, HDP] loaded once (cp.async), transformed (norm/rope) in shared memory, held in registers as MMA A
// fragments; per K/V tile of 64 keys: S = Q·Kᵀ (mma m16n8k16, fp32), scale·log2e, mask, online softmax (running
// max and sum per row, exp2), P rounded to the storage dtype and fed from registers as the A operand of O += P·V
// (V through ldmatrix.trans). The V load of tile j overlaps S of tile j; the K load of tile j+1 overlaps P·V of
// tile j (OD_ATTENTION_KV_STAGES 2, opt-in: K/V double-buffered, tile j+1's K and V load during all of tile j).
// Shared rows are HDP + 8 elements long (bank-conflict-free ldmatrix); columns [head_dim, HDP) are zero. The
// output is staged through the warp's own Q rows in shared memory and stored with 16-byte writes.
//
// Single-tile kernel (attention_tc1, keys ≤ 128: temporal attention over frames, cross-attention over ≤ 128 text
// tokens; OD_ATTENTION_SINGLE_TILE 0 routes those to the streaming kernel): no online softmax, several (sequence,
// head) problems per block so that short sequences still give 8-warp blocks, K/V of each problem loaded once for
// all its query rows (see the comment at the kernel).
#include "cuda/attention_kernel.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/dtype.cuh"

// 1: keys ≤ 128 (temporal attention, cross-attention with ≤ 128 text keys) use the single-tile tensor-core kernel
// (attention_tc1, several problems per block); 0: they use the streaming kernel (attention_tc) as everything else.
#ifndef OD_ATTENTION_SINGLE_TILE
#define OD_ATTENTION_SINGLE_TILE 1
#endif
// K/V stages of the streaming kernel (attention_tc, the spatial path): 1 = single buffer (V_j loads during S_j,
// K_{j+1} during P·V_j, two barriers per tile; the measured 0.92 ms / 169 TFLOP/s at STDiT spatial); 2 =
// double-buffered K and V (tile j+1's loads issued right after the one barrier of tile j, overlapping all of tile
// j's work; smem 45 → 68 KB a block at hd 80). 2 is not the default: under the 128-register cap (2 blocks of 8
// warps a SM) ptxas spills 40 bytes at hdp 80 and ~52 at hdp 64 in the loop, and it has not been timed. Try it with
// -DOD_ATTENTION_KV_STAGES=2 and the timings of native/test/cuda_attention_test.cu.
#ifndef OD_ATTENTION_KV_STAGES
#define OD_ATTENTION_KV_STAGES 1
#endif
static_assert(OD_ATTENTION_KV_STAGES == 1 || OD_ATTENTION_KV_STAGES == 2, "OD_ATTENTION_KV_STAGES is 1 or 2");
// The streaming-kernel variant used where neither AttentionArgs::variant nor OPENDIT_ATTENTION_VARIANT names one
// (kTcVariants below lists them). Chosen by the sweep of native/test/cuda_attention_test.cu on an H200
// (2026-11-21): v5 (8 warps, 64-key tiles, the scale folded into ex2.approx) was the fastest correct variant on every
// spatial shape: STDiT 32x16x1024 0.869 ms (177.8 TFLOP/s) against v0's 0.913, PixArt 4096 tokens 0.839 against
// 0.881, DiT 512 0.062 against 0.066.
#ifndef OD_ATTENTION_DEFAULT_VARIANT
#define OD_ATTENTION_DEFAULT_VARIANT 5
#endif

namespace od::cuda {

namespace {

constexpr int kMaxRopePairs = 128;  // head_dim ≤ 256

struct Transform {
  const void* weight;
  DType wdtype;
  float eps;
  int rope;
  int64_t pos0;
};

struct Params {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  DType q_dtype, kv_dtype, out_dtype;
  int64_t q_stride, kv_stride, out_stride;
  int64_t heads;
  int hd;
  int queries, kv_rows, keys;
  int tiles;  // query tiles per (sequence, head)
  int wpp, ppb;      // single-tile kernel: warps per problem, problems per block
  int64_t problems;  // single-tile kernel: batch·heads·tiles
  const int32_t* mask;
  float scale_log2;
  Transform qt, kt;
  int any_rope;
  float* lse;  // AttentionArgs::lse, or null
  // AttentionArgs::seq_inner and the *_seq strides (seq_offset below).
  int64_t seq_inner;
  int64_t q_outer, q_inner, kv_outer, kv_inner, out_outer, out_inner;
  float freq[kMaxRopePairs];  // copied into shared memory by the kernels (no dynamic indexing of params)
};

Transform make_transform(const QkTransform& t) {
  return Transform{t.norm_weight, t.norm_dtype, t.eps, t.rope ? 1 : 0, t.position_offset};
}

void fill_freq(float* freq, double theta, int64_t hd) {
  for (int j = 0; j < kMaxRopePairs; j++)
    freq[j] = j < hd / 2 ? static_cast<float>(std::pow(theta, -static_cast<double>(2 * j) / static_cast<double>(hd))) : 0.0f;
}

// ---- element helpers ----

template <typename T>
__device__ __forceinline__ float to_f(T x);
template <>
__device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }
template <>
__device__ __forceinline__ float to_f<__half>(__half x) { return __half2float(x); }
template <>
__device__ __forceinline__ float to_f<float>(float x) { return x; }

template <typename T>
__device__ __forceinline__ T from_f(float x);
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }
template <>
__device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <>
__device__ __forceinline__ float from_f<float>(float x) { return x; }

template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

// Element offset of sequence n's first row: n·rows·row_stride for contiguous sequences (inner == 0), else the
// decomposition n = (n / inner, n % inner) at outer_stride·(n / inner) + inner_stride·(n % inner). The division is
// 32-bit (the launcher checks batch < 2^31): inline, where a 64-bit one is a call that costs registers.
__device__ __forceinline__ int64_t seq_offset(int64_t n, int64_t inner, int64_t outer_stride, int64_t inner_stride, int64_t rows,
                                              int64_t row_stride) {
  if (inner == 0) return n * rows * row_stride;
  const uint32_t un = static_cast<uint32_t>(n), ui = static_cast<uint32_t>(inner);
  const uint32_t outer = un / ui;
  return static_cast<int64_t>(outer) * outer_stride + static_cast<int64_t>(un - outer * ui) * inner_stride;
}

constexpr float kLn2 = 0.6931471805599453f;

// A query's log-sum-exp (AttentionArgs::lse) from its softmax state: running max m and sum l = Σ 2^(x − m) where
// x = scale·log2(e)·q·k (m_scaled = m), or, for the fast streaming variants, m a raw score max (m_scaled =
// m·scale·log2(e)); −inf where no key was attended (l = 0).
__device__ __forceinline__ float lse_of(float m_scaled, float l) { return l > 0.0f ? (m_scaled + log2f(l)) * kLn2 : -INFINITY; }

// RMSNorm (if t.weight) then RoPE (if t.rope) of one shared row x at position `pos`, by one warp, in fp32; the
// result is rounded to T in place. Lanes own interleaved pairs (2j, 2j + 1).
template <typename T>
__device__ __forceinline__ void transform_row(T* x, int hd, const Transform& t, int64_t pos_i, const float* freq) {
  const int lane = threadIdx.x & 31;
  const int pairs = (hd + 1) / 2;
  float inv = 1.0f;
  if (t.weight) {
    float ss = 0;
    for (int e = lane; e < hd; e += 32) {
      const float a = to_f<T>(x[e]);
      ss += a * a;
    }
    ss = warp_sum(ss);
    inv = 1.0f / sqrtf(ss / static_cast<float>(hd) + t.eps);
  }
  const float pos = static_cast<float>(pos_i);
  for (int j = lane; j < pairs; j += 32) {
    const int e0 = 2 * j, e1 = 2 * j + 1;
    float a = to_f<T>(x[e0]);
    float b = e1 < hd ? to_f<T>(x[e1]) : 0.0f;
    if (t.weight) {
      a = load_f(t.weight, t.wdtype, e0) * (a * inv);
      if (e1 < hd) b = load_f(t.weight, t.wdtype, e1) * (b * inv);
    }
    if (t.rope) {
      float sn, cs;
      sincosf(pos * freq[j], &sn, &cs);
      const float ra = a * cs - b * sn;
      const float rb = b * cs + a * sn;
      a = ra;
      b = rb;
    }
    x[e0] = from_f<T>(a);
    if (e1 < hd) x[e1] = from_f<T>(b);
  }
}

// transform_row of rows [0, rows) of a shared tile (row r at position t.pos0 + first + r), one warp per row.
template <typename T>
__device__ void transform_rows(T* s, int ld, int rows, int hd, const Transform& t, int64_t first, const float* freq) {
  const int warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (int r = warp; r < rows; r += nwarps) transform_row<T>(s + static_cast<int64_t>(r) * ld, hd, t, t.pos0 + first + r, freq);
}

// ---- PTX wrappers ----

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool pred) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int n = pred ? 16 : 0;  // 0: zero-fill, nothing read
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

// The same on 32-bit shared-space addresses (fewer registers than generic pointers in the streaming loop).
__device__ __forceinline__ uint32_t smem_u32(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }
__device__ __forceinline__ void ldmatrix_x4_s(uint32_t (&r)[4], uint32_t a) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}
__device__ __forceinline__ void ldmatrix_x4_trans_s(uint32_t (&r)[4], uint32_t a) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma16816<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---- tensor-core kernel ----

constexpr int kStages = OD_ATTENTION_KV_STAGES;  // K/V stages of variant 0 (the default)
constexpr int kDefaultTcVariant = OD_ATTENTION_DEFAULT_VARIANT;

template <int HDP, int WARPS, int BN, int STAGES>
constexpr size_t tc_smem_bytes() {
  return static_cast<size_t>((16 * WARPS + 2 * STAGES * BN) * (HDP + 8)) * 2 + kMaxRopePairs * sizeof(float);
}

// Rows [0, rows) of a [R, HDP] tile from global rows src + r·stride (r < valid; the rest zero-filled), hd/8 chunks
// of 16 bytes per row; columns [hd, HDP) are left alone (zeroed once at the start).
template <typename T, int LD>
__device__ __forceinline__ void load_tile(T* s, const T* src, int64_t stride, int rows, int valid, int chunks) {
  for (int c = threadIdx.x; c < rows * chunks; c += blockDim.x) {
    const int r = c / chunks, k = c - r * chunks;
    const bool ok = r < valid;
    const T* g = ok ? src + r * stride + k * 8 : src;
    cp_async16(s + r * LD + k * 8, g, ok);
  }
}

// K and V rows [0, BN) of one tile into stage buffers sk, sv (rows past `valid` zero-filled), one loop for both.
template <typename T, int LD, int BN>
__device__ __forceinline__ void load_kv_tile(T* sk, T* sv, const T* k, const T* v, int64_t stride, int valid, int chunks) {
  for (int c = threadIdx.x; c < BN * chunks; c += blockDim.x) {
    const int r = c / chunks, q = c - r * chunks;
    const bool ok = r < valid;
    const int64_t off = ok ? r * stride + q * 8 : 0;
    cp_async16(sk + r * LD + q * 8, k + off, ok);
    cp_async16(sv + r * LD + q * 8, v + off, ok);
  }
}

// Blocks per SM asked of the register allocator: 16 warps per SM (≤ 128 registers) where that costs no spills
// (ptxas -v: hd ≤ 80 except 4 warps at 80, which spills ~20 bytes), else whatever the kernel needs.
template <int HDP, int WARPS>
constexpr int tc_min_blocks() {
  return (HDP <= 64 || (HDP == 80 && WARPS != 4)) ? 512 / (WARPS * 32) : 1;
}

// ex2.approx.ftz: one MUFU op (exp2f without -ftz adds the denormal scaling around it); ex2(−inf) = +0.
__device__ __forceinline__ float ex2_ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// The streaming kernel, one instantiation per variant (see kTcVariants): WARPS warps of 16 query rows, K/V tiles of
// BN keys, STAGES K/V buffers, MINB blocks per SM asked of the register allocator, FAST: the running max is kept
// on the raw scores and scale·log2e is fused into the exponent (p = ex2(s·sl2 − m·sl2), one FFMA + one MUFU per
// element; needs scale > 0, which the dispatcher checks).
template <typename T, int HDP, int WARPS, int BN, int STAGES, int MINB, bool FAST>
__global__ void __launch_bounds__(WARPS * 32, MINB) attention_tc(const Params p) {
  constexpr int BM = 16 * WARPS, LD = HDP + 8, KS = HDP / 16, NT = BN / 8, DT = HDP / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sK = sQ + BM * LD;
  T* sV = sK + STAGES * BN * LD;  // stage s of K at sK + s·BN·LD, of V at sV + s·BN·LD
  float* sFreq = reinterpret_cast<float*>(sV + STAGES * BN * LD);

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int hd = p.hd, chunks = hd / 8;
  const int64_t blk = blockIdx.x;
  const int tile = static_cast<int>(blk % p.tiles);
  const int64_t sh = blk / p.tiles;
  const int64_t h = sh % p.heads, b = sh / p.heads;
  const int q0 = tile * BM;
  const int qvalid = min(BM, p.queries - q0);

  const T* qg = static_cast<const T*>(p.q) + (b * p.queries + q0) * p.q_stride + h * hd;
  const T* kg = static_cast<const T*>(p.k) + b * p.kv_rows * p.kv_stride + h * hd;
  const T* vg = static_cast<const T*>(p.v) + b * p.kv_rows * p.kv_stride + h * hd;
  const int32_t* mask = p.mask ? p.mask + b * p.kv_rows : nullptr;
  const int keys = p.keys;
  const int ntiles = (keys + BN - 1) / BN;

  // Zero the padding columns [hd, HDP) of every shared row once (loads never write them).
  if (hd < HDP) {
    const int padc = (HDP - hd) / 8;
    for (int c = threadIdx.x; c < (BM + 2 * STAGES * BN) * padc; c += blockDim.x) {
      const int r = c / padc, k = c - r * padc;
      *reinterpret_cast<uint4*>(sQ + r * LD + hd + k * 8) = make_uint4(0, 0, 0, 0);
    }
  }
  if (p.any_rope)
    for (int j = threadIdx.x; j < kMaxRopePairs; j += blockDim.x) sFreq[j] = p.freq[j];

  load_tile<T, LD>(sQ, qg, p.q_stride, BM, qvalid, chunks);
  cp_async_commit();
  if (ntiles > 0) {
    load_tile<T, LD>(sK, kg, p.kv_stride, BN, min(BN, keys), chunks);
    if (STAGES == 2) load_tile<T, LD>(sV, vg, p.kv_stride, BN, min(BN, keys), chunks);
  }
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();
  if (p.qt.weight || p.qt.rope) {
    transform_rows<T>(sQ, LD, qvalid, hd, p.qt, q0, sFreq);
    __syncthreads();
  }

  const bool active = warp * 16 < qvalid;  // warps past the last query only help with loads
  uint32_t qa[KS][4];
  if (active) {
    // A fragments of Q: matrix i = lane/8 covers rows (i&1)·8.., columns (i>>1)·8.. of each 16×16 k-step.
    const int i = lane >> 3;
    const T* base = sQ + (warp * 16 + (i & 1) * 8 + (lane & 7)) * LD + (i >> 1) * 8;
#pragma unroll
    for (int ks = 0; ks < KS; ks++) ldmatrix_x4(qa[ks], base + ks * 16);
  }

  float o[DT][4];
#pragma unroll
  for (int d = 0; d < DT; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
  const float sl2 = p.scale_log2;

  for (int j = 0; j < ntiles; j++) {
    const int k0 = j * BN;
    const int kvalid = min(BN, keys - k0);
    // Element offset of tile j's stage: tile j (loaded during tile j − 1, or by the prologue) is in stage j&1;
    // tile j + 1 goes to the other stage, which every warp is done with once it passes the barrier below.
    const int so = STAGES == 2 ? (j & 1) * BN * LD : 0;
    if (STAGES == 2) {
      if (j > 0) {
        cp_async_wait_all();  // K_j, V_j
        __syncthreads();      // visible; every warp done with tile j − 1
      }
      if (j + 1 < ntiles) {
        const int k1 = k0 + BN, nv = min(BN, keys - k1);
        const int64_t off = static_cast<int64_t>(k1) * p.kv_stride;
        load_kv_tile<T, LD, BN>(sK + (BN * LD - so), sV + (BN * LD - so), kg + off, vg + off, p.kv_stride, nv, chunks);
        cp_async_commit();
      }
    } else {
      cp_async_wait_all();  // K_j
      __syncthreads();      // K_j visible; every warp done with V_{j−1}
      load_tile<T, LD>(sV, vg + static_cast<int64_t>(k0) * p.kv_stride, p.kv_stride, BN, kvalid, chunks);
      cp_async_commit();
    }
    if (p.kt.weight || p.kt.rope) {
      transform_rows<T>(sK + so, LD, kvalid, hd, p.kt, k0, sFreq);
      __syncthreads();
    }

    float s[NT][4];
    if (active) {
#pragma unroll
      for (int n = 0; n < NT; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
      // B fragments of Kᵀ: matrix i covers keys (i>>1)·8.., columns (i&1)·8.. of a 16-key pair of n-tiles.
      const int i = lane >> 3;
      const uint32_t kb = smem_u32(sK) + 2 * (so + ((i >> 1) * 8 + (lane & 7)) * LD + (i & 1) * 8);
#pragma unroll
      for (int ks = 0; ks < KS; ks++) {
#pragma unroll
        for (int np = 0; np < NT / 2; np++) {
          uint32_t bf[4];
          ldmatrix_x4_s(bf, kb + 2 * (np * 16 * LD + ks * 16));
          mma16816<T>(s[2 * np], qa[ks], bf[0], bf[1]);
          mma16816<T>(s[2 * np + 1], qa[ks], bf[2], bf[3]);
        }
      }
      // Scale (log2 domain) and mask: keys past `keys` or masked out get −inf.
      const bool partial = kvalid < BN || mask != nullptr;
      float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
      for (int n = 0; n < NT; n++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          float x = FAST ? s[n][e] : s[n][e] * sl2;
          if (partial) {
            const int col = n * 8 + 2 * t4 + (e & 1);
            if (col >= kvalid || (mask && __ldg(mask + k0 + col) == 0)) x = -INFINITY;
          }
          s[n][e] = x;
        }
        mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
        mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
      }
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
      const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
      // A row with no unmasked key so far keeps max −inf: subtract 0 instead (every exp2 is then 0, not NaN).
      const float mu0 = mn0 == -INFINITY ? 0.0f : mn0, mu1 = mn1 == -INFINITY ? 0.0f : mn1;
      float c0, c1, r0 = 0.0f, r1 = 0.0f;
      if (FAST) {
        // Raw-score max (scale > 0 keeps the order); m − mu ≤ 0, exactly −inf for a row's first unmasked tile.
        const float ms0 = mu0 * sl2, ms1 = mu1 * sl2;
        c0 = ex2_ftz((m0 - mu0) * sl2);
        c1 = ex2_ftz((m1 - mu1) * sl2);
#pragma unroll
        for (int n = 0; n < NT; n++) {
          s[n][0] = ex2_ftz(fmaf(s[n][0], sl2, -ms0));
          s[n][1] = ex2_ftz(fmaf(s[n][1], sl2, -ms0));
          s[n][2] = ex2_ftz(fmaf(s[n][2], sl2, -ms1));
          s[n][3] = ex2_ftz(fmaf(s[n][3], sl2, -ms1));
          r0 += s[n][0] + s[n][1];
          r1 += s[n][2] + s[n][3];
        }
      } else {
        c0 = exp2f(m0 - mu0);
        c1 = exp2f(m1 - mu1);
#pragma unroll
        for (int n = 0; n < NT; n++) {
          s[n][0] = exp2f(s[n][0] - mu0);
          s[n][1] = exp2f(s[n][1] - mu0);
          s[n][2] = exp2f(s[n][2] - mu1);
          s[n][3] = exp2f(s[n][3] - mu1);
          r0 += s[n][0] + s[n][1];
          r1 += s[n][2] + s[n][3];
        }
      }
      m0 = mn0;
      m1 = mn1;
      l0 = l0 * c0 + r0;
      l1 = l1 * c1 + r1;
#pragma unroll
      for (int d = 0; d < DT; d++) {
        o[d][0] *= c0;
        o[d][1] *= c0;
        o[d][2] *= c1;
        o[d][3] *= c1;
      }
    }

    if (STAGES == 1) {
      cp_async_wait_all();  // V_j
      __syncthreads();      // V_j visible; every warp done with K_j
      if (j + 1 < ntiles) {
        const int k1 = k0 + BN;
        load_tile<T, LD>(sK, kg + static_cast<int64_t>(k1) * p.kv_stride, p.kv_stride, BN, min(BN, keys - k1), chunks);
        cp_async_commit();
      }
    }

    if (active) {
      // O += P·V: P's C fragments of n-tiles 2kk, 2kk+1 are the A fragment of k-step kk.
      const int i = lane >> 3;
      const uint32_t vb = smem_u32(sV) + 2 * (so + ((i & 1) * 8 + (lane & 7)) * LD + (i >> 1) * 8);
#pragma unroll
      for (int kk = 0; kk < BN / 16; kk++) {
        uint32_t pa[4];
        pa[0] = pack2<T>(s[2 * kk][0], s[2 * kk][1]);
        pa[1] = pack2<T>(s[2 * kk][2], s[2 * kk][3]);
        pa[2] = pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
        pa[3] = pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
#pragma unroll
        for (int dp = 0; dp < DT / 2; dp++) {
          uint32_t bf[4];
          ldmatrix_x4_trans_s(bf, vb + 2 * (kk * 16 * LD + dp * 16));
          mma16816<T>(o[2 * dp], pa, bf[0], bf[1]);
          mma16816<T>(o[2 * dp + 1], pa, bf[2], bf[3]);
        }
      }
    }
  }

  if (!active) return;
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
  // Stage the warp's 16 rows in its own rows of sQ (its Q fragments are in registers), then 16-byte stores.
  T* so = sQ + warp * 16 * LD;
#pragma unroll
  for (int d = 0; d < DT; d++) {
    const int col = d * 8 + 2 * t4;
    *reinterpret_cast<uint32_t*>(so + g * LD + col) = pack2<T>(o[d][0] * inv0, o[d][1] * inv0);
    *reinterpret_cast<uint32_t*>(so + (g + 8) * LD + col) = pack2<T>(o[d][2] * inv1, o[d][3] * inv1);
  }
  __syncwarp();
  const int rows = min(16, qvalid - warp * 16);
  T* og = static_cast<T*>(p.out) + (b * p.queries + q0 + warp * 16) * p.out_stride + h * hd;
  for (int c = lane; c < rows * chunks; c += 32) {
    const int r = c / chunks, k = c - r * chunks;
    *reinterpret_cast<uint4*>(og + r * p.out_stride + k * 8) = *reinterpret_cast<const uint4*>(so + r * LD + k * 8);
  }
  if (p.lse != nullptr && t4 == 0) {
    float* lse = p.lse + (b * p.heads + h) * p.queries + q0 + warp * 16;
    if (g < rows) lse[g] = lse_of(FAST ? m0 * sl2 : m0, l0);
    if (g + 8 < rows) lse[g + 8] = lse_of(FAST ? m1 * sl2 : m1, l1);
  }
}

// ---- single-tile tensor-core kernel (keys ≤ 128: temporal and cross attention) ----
// All keys of a problem (one (sequence, head, query tile)) fit one K/V tile of BN ∈ {16, 32, 64, 128} keys, so
// there is no online softmax: S = Q·Kᵀ over the whole tile, one row max, P = exp2(S − max), O = P·V, O / Σ P.
// A block of ppb·wpp warps (≤ 8) covers ppb consecutive problems of wpp·16 query rows each (temporal attention with
// 16 tokens: 8 (sequence, head) pairs of one warp each; cross-attention: one problem of 128 query rows over 8
// warps); every problem's K/V rows are loaded once into the block's shared memory, all loads (Q, K, V of every
// problem) are issued at once with cp.async, and the keys past `keys` and masked keys get −inf from a per-problem
// bias row in shared memory. Shared: Q [16·warps rows], K and V [ppb·BN rows each] of HDP + 8 elements, the bias
// [ppb·BN] floats, the RoPE frequencies.
constexpr int kTc1MaxWarps = 8, kTc1MaxKvRows = 256;  // ppb·BN ≤ 256

template <int HDP>
size_t tc1_smem_bytes(int warps, int ppb, int bn) {
  return static_cast<size_t>(16 * warps + 2 * ppb * bn) * (HDP + 8) * 2 + static_cast<size_t>(ppb * bn + kMaxRopePairs) * sizeof(float);
}

// Blocks per SM asked of the register allocator (ptxas -v: no spills): 3 (≤ 85 registers) for short tiles, 2
// (≤ 128) else, 1 for the widest (hd > 80 with 128 keys).
template <int HDP, int BN>
constexpr int tc1_min_blocks() {
  return HDP > 80 && BN == 128 ? 1 : BN <= 32 && HDP <= 96 ? 3 : 2;
}

template <typename T, int HDP, int BN>
__global__ void __launch_bounds__(kTc1MaxWarps * 32, tc1_min_blocks<HDP, BN>()) attention_tc1(const Params p) {
  constexpr int LD = HDP + 8, KS = HDP / 16, NT = BN / 8, DT = HDP / 8;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __shared__ int64_t s_qoff[kTc1MaxWarps], s_kvoff[kTc1MaxWarps], s_ooff[kTc1MaxWarps], s_loff[kTc1MaxWarps];
  __shared__ int s_q0[kTc1MaxWarps], s_qvalid[kTc1MaxWarps];
  __shared__ const int32_t* s_mask[kTc1MaxWarps];

  const int nwarps = blockDim.x >> 5, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t4 = lane & 3;
  const int wpp = p.wpp, ppb = p.ppb, rp = 16 * wpp;  // warps and query rows per problem
  const int hd = p.hd, chunks = hd / 8, keys = p.keys;
  const int qrows = 16 * nwarps;
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sK = sQ + qrows * LD;
  T* sV = sK + ppb * BN * LD;
  float* sBias = reinterpret_cast<float*>(sV + ppb * BN * LD);
  float* sFreq = sBias + ppb * BN;

  if (threadIdx.x < ppb) {
    const int64_t gp = static_cast<int64_t>(blockIdx.x) * ppb + threadIdx.x;
    int q0 = 0, qv = 0;
    int64_t qo = 0, kvo = 0, oo = 0, lo = 0;
    const int32_t* m = nullptr;
    if (gp < p.problems) {
      const int tile = static_cast<int>(gp % p.tiles);
      const int64_t sh = gp / p.tiles;
      const int64_t h = sh % p.heads, b = sh / p.heads;
      q0 = tile * rp;
      qv = min(rp, p.queries - q0);
      qo = seq_offset(b, p.seq_inner, p.q_outer, p.q_inner, p.queries, p.q_stride) + static_cast<int64_t>(q0) * p.q_stride + h * hd;
      kvo = seq_offset(b, p.seq_inner, p.kv_outer, p.kv_inner, p.kv_rows, p.kv_stride) + h * hd;
      oo = seq_offset(b, p.seq_inner, p.out_outer, p.out_inner, p.queries, p.out_stride) + static_cast<int64_t>(q0) * p.out_stride + h * hd;
      lo = (b * p.heads + h) * p.queries + q0;
      m = p.mask ? p.mask + b * p.kv_rows : nullptr;
    }
    s_q0[threadIdx.x] = q0;
    s_qvalid[threadIdx.x] = qv;
    s_qoff[threadIdx.x] = qo;
    s_kvoff[threadIdx.x] = kvo;
    s_ooff[threadIdx.x] = oo;
    s_loff[threadIdx.x] = lo;
    s_mask[threadIdx.x] = m;
  }
  // Zero the padding columns [hd, HDP) of every shared row (loads never write them).
  if (hd < HDP) {
    const int padc = (HDP - hd) / 8;
    for (int c = threadIdx.x; c < (qrows + 2 * ppb * BN) * padc; c += blockDim.x) {
      const int r = c / padc, k = c - r * padc;
      *reinterpret_cast<uint4*>(sQ + r * LD + hd + k * 8) = make_uint4(0, 0, 0, 0);
    }
  }
  if (p.any_rope)
    for (int j = threadIdx.x; j < kMaxRopePairs; j += blockDim.x) sFreq[j] = p.freq[j];
  __syncthreads();  // problem table

  // Every load of the block at once: Q rows of all problems, then K and V rows [0, BN) (zero past `keys`).
  const T* qg = static_cast<const T*>(p.q);
  const T* kg = static_cast<const T*>(p.k);
  const T* vg = static_cast<const T*>(p.v);
  for (int c = threadIdx.x; c < qrows * chunks; c += blockDim.x) {
    const int r = c / chunks, k = c - r * chunks;
    const int pi = r / rp, lr = r - pi * rp;
    const bool ok = lr < s_qvalid[pi];
    cp_async16(sQ + r * LD + k * 8, ok ? qg + s_qoff[pi] + static_cast<int64_t>(lr) * p.q_stride + k * 8 : qg, ok);
  }
  for (int c = threadIdx.x; c < ppb * BN * chunks; c += blockDim.x) {
    const int r = c / chunks, k = c - r * chunks;
    const int pi = r / BN, lr = r - pi * BN;
    const bool ok = lr < keys && s_qvalid[pi] > 0;
    const int64_t off = ok ? s_kvoff[pi] + static_cast<int64_t>(lr) * p.kv_stride + k * 8 : 0;
    cp_async16(sK + r * LD + k * 8, kg + off, ok);
    cp_async16(sV + r * LD + k * 8, vg + off, ok);
  }
  cp_async_commit();
  const bool use_bias = p.mask != nullptr || keys < BN;
  if (use_bias)
    for (int i = threadIdx.x; i < ppb * BN; i += blockDim.x) {
      const int pi = i / BN, col = i - pi * BN;
      const int32_t* m = s_mask[pi];
      sBias[i] = col < keys && (m == nullptr || __ldg(m + col) != 0) ? 0.0f : -INFINITY;
    }
  cp_async_wait_all();
  __syncthreads();
  const bool tq = p.qt.weight || p.qt.rope, tk = p.kt.weight || p.kt.rope;
  if (tq)
    for (int r = warp; r < qrows; r += nwarps) {
      const int pi = r / rp, lr = r - pi * rp;
      if (lr < s_qvalid[pi]) transform_row<T>(sQ + r * LD, hd, p.qt, p.qt.pos0 + s_q0[pi] + lr, sFreq);
    }
  if (tk)
    for (int r = warp; r < ppb * BN; r += nwarps) {
      const int pi = r / BN, lr = r - pi * BN;
      if (lr < keys && s_qvalid[pi] > 0) transform_row<T>(sK + r * LD, hd, p.kt, p.kt.pos0 + lr, sFreq);
    }
  if (tq || tk) __syncthreads();

  // From here on each warp works alone on its 16 query rows (no more block barriers).
  const int pi = warp / wpp, lw = warp - pi * wpp;
  const int qvalid = s_qvalid[pi];
  if (lw * 16 >= qvalid) return;

  float s[NT][4];
  {
    uint32_t qa[KS][4];
    const int i = lane >> 3;
    const T* qb = sQ + (warp * 16 + (i & 1) * 8 + (lane & 7)) * LD + (i >> 1) * 8;
#pragma unroll
    for (int ks = 0; ks < KS; ks++) ldmatrix_x4(qa[ks], qb + ks * 16);
#pragma unroll
    for (int n = 0; n < NT; n++) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
    const T* kb = sK + (pi * BN + (i >> 1) * 8 + (lane & 7)) * LD + (i & 1) * 8;
#pragma unroll
    for (int ks = 0; ks < KS; ks++) {
#pragma unroll
      for (int np = 0; np < NT / 2; np++) {
        uint32_t bf[4];
        ldmatrix_x4(bf, kb + np * 16 * LD + ks * 16);
        mma16816<T>(s[2 * np], qa[ks], bf[0], bf[1]);
        mma16816<T>(s[2 * np + 1], qa[ks], bf[2], bf[3]);
      }
    }
  }
  const float sl2 = p.scale_log2;
  float mx0 = -INFINITY, mx1 = -INFINITY;
  const float* bias = sBias + pi * BN + 2 * t4;
#pragma unroll
  for (int n = 0; n < NT; n++) {
    float b0 = 0.0f, b1 = 0.0f;
    if (use_bias) {
      const float2 bb = *reinterpret_cast<const float2*>(bias + n * 8);
      b0 = bb.x;
      b1 = bb.y;
    }
    s[n][0] = fmaf(s[n][0], sl2, b0);
    s[n][1] = fmaf(s[n][1], sl2, b1);
    s[n][2] = fmaf(s[n][2], sl2, b0);
    s[n][3] = fmaf(s[n][3], sl2, b1);
    mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
    mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
  }
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
  mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
  mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
  // A row with no unmasked key has max −inf: subtract 0 instead (every exp2 is then 0, not NaN; output 0).
  const float mu0 = mx0 == -INFINITY ? 0.0f : mx0, mu1 = mx1 == -INFINITY ? 0.0f : mx1;
  float l0 = 0.0f, l1 = 0.0f;
  uint32_t pa[NT / 2][4];  // P as the A fragments of the NT/2 k-steps of P·V
#pragma unroll
  for (int n = 0; n < NT; n++) {
    const float e0 = exp2f(s[n][0] - mu0), e1 = exp2f(s[n][1] - mu0);
    const float e2 = exp2f(s[n][2] - mu1), e3 = exp2f(s[n][3] - mu1);
    l0 += e0 + e1;
    l1 += e2 + e3;
    pa[n / 2][(n & 1) * 2] = pack2<T>(e0, e1);
    pa[n / 2][(n & 1) * 2 + 1] = pack2<T>(e2, e3);
  }
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  if (p.lse != nullptr && t4 == 0) {
    float* lse = p.lse + s_loff[pi] + lw * 16;
    const int rows = qvalid - lw * 16;
    if (g < rows) lse[g] = lse_of(mx0, l0);
    if (g + 8 < rows) lse[g + 8] = lse_of(mx1, l1);
  }

  float o[DT][4];
#pragma unroll
  for (int d = 0; d < DT; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
  {
    const int i = lane >> 3;
    const T* vb = sV + (pi * BN + (i & 1) * 8 + (lane & 7)) * LD + (i >> 1) * 8;
#pragma unroll
    for (int kk = 0; kk < BN / 16; kk++) {
#pragma unroll
      for (int dp = 0; dp < DT / 2; dp++) {
        uint32_t bf[4];
        ldmatrix_x4_trans(bf, vb + kk * 16 * LD + dp * 16);
        mma16816<T>(o[2 * dp], pa[kk], bf[0], bf[1]);
        mma16816<T>(o[2 * dp + 1], pa[kk], bf[2], bf[3]);
      }
    }
  }
  const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
  // Stage the warp's 16 rows in its own rows of sQ (its Q fragments were consumed), then 16-byte stores.
  T* so = sQ + warp * 16 * LD;
#pragma unroll
  for (int d = 0; d < DT; d++) {
    const int col = d * 8 + 2 * t4;
    *reinterpret_cast<uint32_t*>(so + g * LD + col) = pack2<T>(o[d][0] * inv0, o[d][1] * inv0);
    *reinterpret_cast<uint32_t*>(so + (g + 8) * LD + col) = pack2<T>(o[d][2] * inv1, o[d][3] * inv1);
  }
  __syncwarp();
  const int rows = min(16, qvalid - lw * 16);
  T* og = static_cast<T*>(p.out) + s_ooff[pi] + static_cast<int64_t>(lw * 16) * p.out_stride;
  for (int c = lane; c < rows * chunks; c += 32) {
    const int r = c / chunks, k = c - r * chunks;
    *reinterpret_cast<uint4*>(og + r * p.out_stride + k * 8) = *reinterpret_cast<const uint4*>(so + r * LD + k * 8);
  }
}

// ---- fp32 SIMT kernel (fp32 plans and whatever the tensor-core kernel does not cover) ----
// Block = 4 warps × 8 query rows; K/V tiles of 32 keys as fp32 in shared memory (K rows padded by one float:
// lane j reads key j's column d conflict-free); lane j scores key j, the warp shares the softmax weights by
// shuffles and lane l accumulates output columns l, l + 32, ... (C = ⌈hd/32⌉ ≤ 8).

constexpr int kSimtWarps = 4, kSimtRows = 8, kSimtBM = kSimtWarps * kSimtRows, kSimtBN = 32;

size_t simt_smem_bytes(int hd) {
  return static_cast<size_t>(kSimtBM * hd + kSimtBN * (hd + 1) + kSimtBN * hd + kMaxRopePairs) * sizeof(float);
}

// 4 blocks per SM asked of the register allocator (≤ 128 registers): without it ptxas held C ≤ 3 to 64–72
// registers and spilled (ptxas -v).
template <int C>
__global__ void __launch_bounds__(kSimtWarps * 32, 4) attention_simt(const Params p) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int hd = p.hd, ldk = hd + 1;
  float* sQ = reinterpret_cast<float*>(smem_raw);
  float* sK = sQ + kSimtBM * hd;
  float* sV = sK + kSimtBN * ldk;
  float* sFreq = sV + kSimtBN * hd;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;

  const int64_t blk = blockIdx.x;
  const int tile = static_cast<int>(blk % p.tiles);
  const int64_t sh = blk / p.tiles;
  const int64_t h = sh % p.heads, b = sh / p.heads;
  const int q0 = tile * kSimtBM;
  const int qvalid = min(kSimtBM, p.queries - q0);
  // Element offsets of the tile's first query row and of the sequence's first key row (head h).
  const int64_t qbase =
      seq_offset(b, p.seq_inner, p.q_outer, p.q_inner, p.queries, p.q_stride) + static_cast<int64_t>(q0) * p.q_stride + h * hd;
  const int64_t kbase = seq_offset(b, p.seq_inner, p.kv_outer, p.kv_inner, p.kv_rows, p.kv_stride) + h * hd;
  const int32_t* mask = p.mask ? p.mask + b * p.kv_rows : nullptr;

  if (p.any_rope)
    for (int j = threadIdx.x; j < kMaxRopePairs; j += blockDim.x) sFreq[j] = p.freq[j];
  for (int c = threadIdx.x; c < kSimtBM * hd; c += blockDim.x) {
    const int r = c / hd, d = c - r * hd;
    sQ[c] = r < qvalid ? load_f(p.q, p.q_dtype, qbase + r * p.q_stride + d) : 0.0f;
  }
  __syncthreads();
  if (p.qt.weight || p.qt.rope) {
    transform_rows<float>(sQ, hd, qvalid, hd, p.qt, q0, sFreq);
    __syncthreads();
  }

  float m[kSimtRows], l[kSimtRows], acc[kSimtRows][C];
#pragma unroll
  for (int r = 0; r < kSimtRows; r++) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int c = 0; c < C; c++) acc[r][c] = 0.0f;
  }
  const float sl2 = p.scale_log2;

  for (int k0 = 0; k0 < p.keys; k0 += kSimtBN) {
    const int kvalid = min(kSimtBN, p.keys - k0);
    __syncthreads();  // every warp done with the previous tile
    for (int c = threadIdx.x; c < kSimtBN * hd; c += blockDim.x) {
      const int r = c / hd, d = c - r * hd;
      const int64_t at = kbase + static_cast<int64_t>(k0 + r) * p.kv_stride + d;
      sK[r * ldk + d] = r < kvalid ? load_f(p.k, p.kv_dtype, at) : 0.0f;
      sV[c] = r < kvalid ? load_f(p.v, p.kv_dtype, at) : 0.0f;
    }
    __syncthreads();
    if (p.kt.weight || p.kt.rope) {
      transform_rows<float>(sK, ldk, kvalid, hd, p.kt, k0, sFreq);
      __syncthreads();
    }
    const bool key_ok = lane < kvalid && (!mask || mask[k0 + lane] != 0);
#pragma unroll
    for (int r = 0; r < kSimtRows; r++) {
      const float* q = sQ + (warp * kSimtRows + r) * hd;
      const float* k = sK + lane * ldk;
      float dot = 0.0f;
      for (int d = 0; d < hd; d++) dot += q[d] * k[d];
      const float x = key_ok ? dot * sl2 : -INFINITY;
      const float mn = fmaxf(m[r], warp_max(x));
      const float mu = mn == -INFINITY ? 0.0f : mn;
      const float corr = exp2f(m[r] - mu);
      const float e = exp2f(x - mu);
      m[r] = mn;
      l[r] = l[r] * corr + warp_sum(e);
#pragma unroll
      for (int c = 0; c < C; c++) acc[r][c] *= corr;
      for (int j = 0; j < kvalid; j++) {
        const float w = __shfl_sync(0xffffffffu, e, j);
        const float* v = sV + j * hd;
#pragma unroll
        for (int c = 0; c < C; c++) {
          const int d = lane + 32 * c;
          if (d < hd) acc[r][c] += w * v[d];
        }
      }
    }
  }

  const int64_t obase =
      seq_offset(b, p.seq_inner, p.out_outer, p.out_inner, p.queries, p.out_stride) + static_cast<int64_t>(q0) * p.out_stride + h * hd;
#pragma unroll
  for (int r = 0; r < kSimtRows; r++) {
    const int row = warp * kSimtRows + r;
    if (row >= qvalid) continue;
    const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
#pragma unroll
    for (int c = 0; c < C; c++) {
      const int d = lane + 32 * c;
      if (d < hd) store_f(p.out, p.out_dtype, obase + row * p.out_stride + d, acc[r][c] * inv);
    }
    if (p.lse != nullptr && lane == 0) p.lse[(b * p.heads + h) * p.queries + q0 + row] = lse_of(m[r], l[r]);
  }
}

// ---- kv_cache pre-pass: one warp per (row, head) ----

struct CacheParams {
  const void* k;
  const void* v;
  DType src_dtype, cache_dtype;
  int64_t src_stride;
  void* cache;
  int64_t rows, seq, heads, cache_keys, cache_offset, cache_row_stride;
  int hd;
  Transform kt;
  float freq[kMaxRopePairs];
};

__global__ void kv_cache_write(const CacheParams p) {
  const int lane = threadIdx.x & 31;
  const int64_t task = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (task >= p.rows * p.heads) return;
  const int64_t row = task / p.heads, h = task % p.heads;
  const int64_t b = row / p.seq, i = row % p.seq;
  const int hd = p.hd;
  const int64_t width = p.heads * hd;
  const int64_t src = row * p.src_stride + h * hd;
  const int64_t dst = (b * p.cache_keys + p.cache_offset + i) * p.cache_row_stride + h * hd;
  float inv = 1.0f;
  if (p.kt.weight) {
    float ss = 0;
    for (int e = lane; e < hd; e += 32) {
      const float a = load_f(p.k, p.src_dtype, src + e);
      ss += a * a;
    }
    ss = warp_sum(ss);
    inv = 1.0f / sqrtf(ss / static_cast<float>(hd) + p.kt.eps);
  }
  const float pos = static_cast<float>(p.kt.pos0 + i);
  for (int j = lane; j < (hd + 1) / 2; j += 32) {
    const int e0 = 2 * j, e1 = 2 * j + 1;
    float a = load_f(p.k, p.src_dtype, src + e0);
    float c = e1 < hd ? load_f(p.k, p.src_dtype, src + e1) : 0.0f;
    if (p.kt.weight) {
      a = load_f(p.kt.weight, p.kt.wdtype, e0) * (a * inv);
      if (e1 < hd) c = load_f(p.kt.weight, p.kt.wdtype, e1) * (c * inv);
    }
    if (p.kt.rope) {
      float sn, cs;
      sincosf(pos * p.freq[j], &sn, &cs);
      const float ra = a * cs - c * sn;
      const float rc = c * cs + a * sn;
      a = ra;
      c = rc;
    }
    store_f(p.cache, p.cache_dtype, dst + e0, a);
    if (e1 < hd) store_f(p.cache, p.cache_dtype, dst + e1, c);
  }
  if (p.v == nullptr) return;
  for (int e = lane; e < hd; e += 32) store_f(p.cache, p.cache_dtype, dst + width + e, load_f(p.v, p.src_dtype, src + e));
}

// ---- dispatch ----

enum class Path { None, TC, TC1, Simt };
struct Choice {
  Path path = Path::None;
  int hdp = 0, warps = 0, c = 0;
  int bn = 0, wpp = 0, ppb = 0;  // TC1
  int64_t tiles = 0;             // TC1: query tiles per (sequence, head)
  int variant = 0;               // TC: the streaming-kernel variant that runs (0 where no other applies)
};

// The streaming-kernel variants (the spatial path), selected at run time: AttentionArgs::variant, or where that
// is −1 the environment variable OPENDIT_ATTENTION_VARIANT (read once), or else kDefaultTcVariant. They apply to
// 8-warp launches (queries > 64) at hdp 64 and 80 (fast variants also need scale > 0); elsewhere variant 0 runs.
struct TcVariant {
  int warps, bn, stages, minb;
  bool fast;
};
constexpr TcVariant kTcVariants[kAttentionVariants] = {
    {8, 64, kStages, 2, false},  // 0: the measured kernel (single-buffered K/V, two barriers a tile, ≤ 128 regs)
    {8, 64, 2, 1, false},        // 1: double-buffered K/V, 1 block/SM (no register cap below 255)
    {8, 32, 2, 2, false},        // 2: 32-key tiles double-buffered, 2 blocks/SM (≤ 128 regs)
    {4, 64, 2, 3, false},        // 3: 4 warps, double-buffered, 3 blocks/SM (≤ 168 regs; smem 57 KB a block)
    {4, 64, 1, 4, false},        // 4: 4 warps, single-buffered, 4 blocks/SM (≤ 128 regs)
    {8, 64, 1, 2, true},         // 5: 0 + fused-scale ex2.approx.ftz softmax
    {8, 32, 2, 2, true},         // 6: 2 + fast softmax
    {4, 64, 2, 3, true},         // 7: 3 + fast softmax
    {4, 64, 1, 4, true},         // 8: 4 + fast softmax
    {8, 64, 2, 1, true},         // 9: 1 + fast softmax
};

int requested_variant(const AttentionArgs& a) {
  if (a.variant >= 0) return a.variant;
  static const int env = [] {
    const char* e = std::getenv("OPENDIT_ATTENTION_VARIANT");
    if (!e || !*e) return -1;
    char* end = nullptr;
    const long v = std::strtol(e, &end, 10);
    return (*end == 0 && v >= 0 && v < kAttentionVariants) ? static_cast<int>(v) : -1;
  }();
  return env >= 0 ? env : kDefaultTcVariant;
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

Choice choose(const AttentionArgs& a) {
  Choice ch;
  const bool half = (a.q_dtype == DType::BF16 || a.q_dtype == DType::F16) && a.kv_dtype == a.q_dtype && a.out_dtype == a.q_dtype;
  const bool seq_strides = a.seq_inner == 0 || (a.q_seq.outer % 8 == 0 && a.q_seq.inner % 8 == 0 && a.kv_seq.outer % 8 == 0 &&
                                                 a.kv_seq.inner % 8 == 0 && a.out_seq.outer % 8 == 0 && a.out_seq.inner % 8 == 0);
  const bool layout = a.head_dim % 8 == 0 && a.head_dim <= 128 && a.q_stride % 8 == 0 && a.kv_stride % 8 == 0 &&
                      a.out_stride % 8 == 0 && seq_strides && aligned16(a.q) && aligned16(a.k) && aligned16(a.v) && aligned16(a.out);
  if (half && layout) {
    ch.path = Path::TC;
    ch.hdp = a.head_dim <= 32 ? 32 : a.head_dim <= 64 ? 64 : a.head_dim <= 80 ? 80 : a.head_dim <= 96 ? 96 : 128;
#if OD_ATTENTION_SINGLE_TILE
    if (a.keys <= 128) {
      // One K/V tile covers every key: the single-tile kernel, with several problems per block for short queries.
      ch.path = Path::TC1;
      ch.bn = a.keys <= 16 ? 16 : a.keys <= 32 ? 32 : a.keys <= 64 ? 64 : 128;
      ch.wpp = a.queries <= 16 * kTc1MaxWarps ? std::max(1, static_cast<int>((a.queries + 15) / 16)) : kTc1MaxWarps;
      ch.tiles = (a.queries + 16 * ch.wpp - 1) / (16 * ch.wpp);
      const int64_t problems = a.batch * a.heads * ch.tiles;
      ch.ppb = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({kTc1MaxWarps / ch.wpp, kTc1MaxKvRows / ch.bn, problems})));
      ch.warps = ch.ppb * ch.wpp;
      return ch;
    }
#endif
    // The streaming kernel reads contiguous sequences only (its registers are at the 128 cap): a decomposed layout
    // with more than 128 keys runs on the SIMT kernel (the permute fold only decomposes temporal attention, ≤ 128).
    if (a.seq_inner > 0) {
      ch.path = Path::Simt;
      ch.c = a.head_dim <= 32 ? 1 : a.head_dim <= 64 ? 2 : a.head_dim <= 96 ? 3 : 4;
      return ch;
    }
    // 16 query rows per warp; short sequences (temporal attention) get as few warps as cover them.
    ch.warps = a.queries <= 16 ? 1 : a.queries <= 32 ? 2 : a.queries <= 64 ? 4 : 8;
    const int v = requested_variant(a);
    if (ch.warps == 8 && (ch.hdp == 64 || ch.hdp == 80) && !(kTcVariants[v].fast && !(a.scale > 0))) ch.variant = v;
    return ch;
  }
  if (a.head_dim <= 256) {
    ch.path = Path::Simt;
    ch.c = a.head_dim <= 32 ? 1 : a.head_dim <= 64 ? 2 : a.head_dim <= 96 ? 3 : a.head_dim <= 128 ? 4 : 8;
  }
  return ch;
}

template <typename T, int HDP, int WARPS, int BN, int STAGES, int MINB, bool FAST>
void launch_tc_t(const Params& p, int64_t batch_heads, cudaStream_t stream) {
  constexpr size_t smem = tc_smem_bytes<HDP, WARPS, BN, STAGES>();
  Params q = p;
  q.tiles = (p.queries + 16 * WARPS - 1) / (16 * WARPS);
  const int64_t blocks = batch_heads * q.tiles;
  auto* kernel = attention_tc<T, HDP, WARPS, BN, STAGES, MINB, FAST>;
  if (smem > 48 * 1024)  // past the default: opt in (a cheap host call; per device, so not cached here)
    OD_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  kernel<<<static_cast<unsigned>(blocks), WARPS * 32, smem, stream>>>(q);
  OD_CUDA_LAUNCHED(attention_tc);
}

// Variant 0 (the default) at any warp count: the kernel as measured (kStages, tc_min_blocks, exact exp2f).
template <typename T, int HDP, int WARPS>
void launch_tc_v0(const Params& p, int64_t batch_heads, cudaStream_t stream) {
  launch_tc_t<T, HDP, WARPS, 64, kStages, tc_min_blocks<HDP, WARPS>(), false>(p, batch_heads, stream);
}

// The other variants of the 8-warp streaming kernel (kTcVariants), hdp 64 and 80 only (the spatial path of DiT,
// PixArt, STDiT: hd 72 → 80; hd 64); elsewhere variant 0 runs.
template <typename T, int HDP>
void launch_tc_variant(const Params& p, int variant, int64_t batch_heads, cudaStream_t stream) {
  switch (variant) {
    case 1: return launch_tc_t<T, HDP, 8, 64, 2, 1, false>(p, batch_heads, stream);
    case 2: return launch_tc_t<T, HDP, 8, 32, 2, 2, false>(p, batch_heads, stream);
    case 3: return launch_tc_t<T, HDP, 4, 64, 2, 3, false>(p, batch_heads, stream);
    case 4: return launch_tc_t<T, HDP, 4, 64, 1, 4, false>(p, batch_heads, stream);
    case 5: return launch_tc_t<T, HDP, 8, 64, 1, 2, true>(p, batch_heads, stream);
    case 6: return launch_tc_t<T, HDP, 8, 32, 2, 2, true>(p, batch_heads, stream);
    case 7: return launch_tc_t<T, HDP, 4, 64, 2, 3, true>(p, batch_heads, stream);
    case 8: return launch_tc_t<T, HDP, 4, 64, 1, 4, true>(p, batch_heads, stream);
    case 9: return launch_tc_t<T, HDP, 8, 64, 2, 1, true>(p, batch_heads, stream);
    default: return launch_tc_v0<T, HDP, 8>(p, batch_heads, stream);
  }
}

template <typename T, int HDP>
void launch_tc_w(const Params& p, int warps, int variant, int64_t batch_heads, cudaStream_t stream) {
  switch (warps) {
    case 1: return launch_tc_v0<T, HDP, 1>(p, batch_heads, stream);
    case 2: return launch_tc_v0<T, HDP, 2>(p, batch_heads, stream);
    case 4: return launch_tc_v0<T, HDP, 4>(p, batch_heads, stream);
    default:
      if constexpr (HDP == 64 || HDP == 80) {
        if (variant > 0) return launch_tc_variant<T, HDP>(p, variant, batch_heads, stream);
      }
      return launch_tc_v0<T, HDP, 8>(p, batch_heads, stream);
  }
}

template <typename T>
void launch_tc_h(const Params& p, const Choice& ch, int64_t batch_heads, cudaStream_t stream) {
  switch (ch.hdp) {
    case 32: return launch_tc_w<T, 32>(p, ch.warps, ch.variant, batch_heads, stream);
    case 64: return launch_tc_w<T, 64>(p, ch.warps, ch.variant, batch_heads, stream);
    case 80: return launch_tc_w<T, 80>(p, ch.warps, ch.variant, batch_heads, stream);
    case 96: return launch_tc_w<T, 96>(p, ch.warps, ch.variant, batch_heads, stream);
    default: return launch_tc_w<T, 128>(p, ch.warps, ch.variant, batch_heads, stream);
  }
}

template <typename T, int HDP, int BN>
void launch_tc1_t(const Params& p, const Choice& ch, int64_t batch_heads, cudaStream_t stream) {
  Params q = p;
  q.wpp = ch.wpp;
  q.ppb = ch.ppb;
  q.tiles = static_cast<int>(ch.tiles);
  q.problems = batch_heads * ch.tiles;
  const int64_t blocks = (q.problems + ch.ppb - 1) / ch.ppb;
  const size_t smem = tc1_smem_bytes<HDP>(ch.warps, ch.ppb, BN);
  if (smem > 48 * 1024)
    OD_CUDA_CHECK(cudaFuncSetAttribute(attention_tc1<T, HDP, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  attention_tc1<T, HDP, BN><<<static_cast<unsigned>(blocks), ch.warps * 32, smem, stream>>>(q);
  OD_CUDA_LAUNCHED(attention_tc1);
}

template <typename T, int HDP>
void launch_tc1_b(const Params& p, const Choice& ch, int64_t batch_heads, cudaStream_t stream) {
  switch (ch.bn) {
    case 16: return launch_tc1_t<T, HDP, 16>(p, ch, batch_heads, stream);
    case 32: return launch_tc1_t<T, HDP, 32>(p, ch, batch_heads, stream);
    case 64: return launch_tc1_t<T, HDP, 64>(p, ch, batch_heads, stream);
    default: return launch_tc1_t<T, HDP, 128>(p, ch, batch_heads, stream);
  }
}

template <typename T>
void launch_tc1_h(const Params& p, const Choice& ch, int64_t batch_heads, cudaStream_t stream) {
  switch (ch.hdp) {
    case 32: return launch_tc1_b<T, 32>(p, ch, batch_heads, stream);
    case 64: return launch_tc1_b<T, 64>(p, ch, batch_heads, stream);
    case 80: return launch_tc1_b<T, 80>(p, ch, batch_heads, stream);
    case 96: return launch_tc1_b<T, 96>(p, ch, batch_heads, stream);
    default: return launch_tc1_b<T, 128>(p, ch, batch_heads, stream);
  }
}

template <int C>
void launch_simt_c(const Params& p, int64_t batch_heads, cudaStream_t stream) {
  Params q = p;
  q.tiles = (p.queries + kSimtBM - 1) / kSimtBM;
  const size_t smem = simt_smem_bytes(p.hd);
  if (smem > 48 * 1024)
    OD_CUDA_CHECK(cudaFuncSetAttribute(attention_simt<C>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  attention_simt<C><<<static_cast<unsigned>(batch_heads * q.tiles), kSimtWarps * 32, smem, stream>>>(q);
  OD_CUDA_LAUNCHED(attention_simt);
}

}  // namespace

const char* attention_kernel_name(const AttentionArgs& a) {
  const Choice ch = choose(a);
  if (ch.path == Path::Simt) return "simt fp32";
  if (ch.path == Path::None) return "none";
  static thread_local std::string name;
  if (ch.path == Path::TC1) {
    name = std::string("tensor-core ") + (a.q_dtype == DType::BF16 ? "bf16" : "f16") + " hdp=" + std::to_string(ch.hdp) +
           " 1-tile bn=" + std::to_string(ch.bn) + " warps=" + std::to_string(ch.warps) + " (" + std::to_string(ch.ppb) + "x" +
           std::to_string(ch.wpp) + ")";
    return name.c_str();
  }
  if (ch.variant == 0) {
    name = std::string("tensor-core ") + (a.q_dtype == DType::BF16 ? "bf16" : "f16") + " hdp=" + std::to_string(ch.hdp) +
           " warps=" + std::to_string(ch.warps);
    return name.c_str();
  }
  const TcVariant& v = kTcVariants[ch.variant];
  name = std::string("tensor-core ") + (a.q_dtype == DType::BF16 ? "bf16" : "f16") + " hdp=" + std::to_string(ch.hdp) +
         " warps=" + std::to_string(v.warps) + " v" + std::to_string(ch.variant) + " bn=" + std::to_string(v.bn) + " st=" +
         std::to_string(v.stages) + " minb=" + std::to_string(v.minb) + (v.fast ? " fast" : "");
  return name.c_str();
}

void launch_attention(const AttentionArgs& a, cudaStream_t stream) {
  if (a.batch == 0 || a.heads == 0 || a.queries == 0) return;
  const Choice ch = choose(a);
  if (ch.path == Path::None)
    OD_FAIL("attention with head dim " + std::to_string(a.head_dim) + " has no CUDA kernel (at most 256)", "run this plan on the CPU backend");
  OD_CHECK(a.queries < (int64_t{1} << 31) && a.kv_rows < (int64_t{1} << 31) && a.keys <= a.kv_rows,
           "attention sizes out of the kernel's range: " + std::to_string(a.queries) + " queries, " + std::to_string(a.keys) + " of " +
               std::to_string(a.kv_rows) + " keys",
           "");
  OD_CHECK(!(a.q_tf.rope || a.k_tf.rope) || a.head_dim % 2 == 0, "rotary embedding needs an even head dim", "");
  OD_CHECK(a.batch < (int64_t{1} << 31) && a.seq_inner >= 0 && a.seq_inner < (int64_t{1} << 31),
           "attention over " + std::to_string(a.batch) + " sequences (decomposition inner count " + std::to_string(a.seq_inner) +
               ") is out of the kernel's range",
           "");
  OD_CHECK(a.variant >= -1 && a.variant < kAttentionVariants,
           "attention variant " + std::to_string(a.variant) + " out of range (-1 .. " + std::to_string(kAttentionVariants - 1) + ")", "");
  Params p{};
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.out = a.out;
  p.q_dtype = a.q_dtype;
  p.kv_dtype = a.kv_dtype;
  p.out_dtype = a.out_dtype;
  p.q_stride = a.q_stride;
  p.kv_stride = a.kv_stride;
  p.out_stride = a.out_stride;
  p.heads = a.heads;
  p.hd = static_cast<int>(a.head_dim);
  p.queries = static_cast<int>(a.queries);
  p.kv_rows = static_cast<int>(a.kv_rows);
  p.keys = static_cast<int>(a.keys);
  p.mask = a.mask;
  p.scale_log2 = static_cast<float>(a.scale * 1.4426950408889634);
  p.qt = make_transform(a.q_tf);
  p.kt = make_transform(a.k_tf);
  p.any_rope = (a.q_tf.rope || a.k_tf.rope) ? 1 : 0;
  p.lse = a.lse;
  p.seq_inner = a.seq_inner;
  p.q_outer = a.q_seq.outer;
  p.q_inner = a.q_seq.inner;
  p.kv_outer = a.kv_seq.outer;
  p.kv_inner = a.kv_seq.inner;
  p.out_outer = a.out_seq.outer;
  p.out_inner = a.out_seq.inner;
  if (p.any_rope) fill_freq(p.freq, a.rope_theta, a.head_dim);
  const int64_t bh = a.batch * a.heads;
  if (ch.path == Path::TC1) {
    if (a.q_dtype == DType::BF16)
      launch_tc1_h<__nv_bfloat16>(p, ch, bh, stream);
    else
      launch_tc1_h<__half>(p, ch, bh, stream);
    return;
  }
  if (ch.path == Path::TC) {
    if (a.q_dtype == DType::BF16)
      launch_tc_h<__nv_bfloat16>(p, ch, bh, stream);
    else
      launch_tc_h<__half>(p, ch, bh, stream);
    return;
  }
  switch (ch.c) {
    case 1: return launch_simt_c<1>(p, bh, stream);
    case 2: return launch_simt_c<2>(p, bh, stream);
    case 3: return launch_simt_c<3>(p, bh, stream);
    case 4: return launch_simt_c<4>(p, bh, stream);
    default: return launch_simt_c<8>(p, bh, stream);
  }
}

void launch_kv_cache_write(const KvCacheWriteArgs& a, cudaStream_t stream) {
  const int64_t rows = a.batch * a.seq;
  if (rows == 0 || a.heads == 0) return;
  OD_CHECK(a.head_dim <= 2 * kMaxRopePairs, "kv_cache write: head dim " + std::to_string(a.head_dim) + " over 256", "");
  CacheParams p{};
  p.k = a.k;
  p.v = a.v;
  p.src_dtype = a.src_dtype;
  p.cache_dtype = a.cache_dtype;
  p.src_stride = a.src_stride;
  p.cache = a.cache;
  p.rows = rows;
  p.seq = a.seq;
  p.heads = a.heads;
  p.cache_keys = a.cache_keys;
  p.cache_offset = a.cache_offset;
  p.cache_row_stride = a.cache_row_stride > 0 ? a.cache_row_stride : 2 * a.heads * a.head_dim;
  p.hd = static_cast<int>(a.head_dim);
  p.kt = make_transform(a.k_tf);
  if (a.k_tf.rope) fill_freq(p.freq, a.rope_theta, a.head_dim);
  constexpr int warps = 8;
  const int64_t blocks = (rows * a.heads + warps - 1) / warps;
  kv_cache_write<<<static_cast<unsigned>(blocks), warps * 32, 0, stream>>>(p);
  OD_CUDA_LAUNCHED(kv_cache_write);
}

}  // namespace od::cuda
