// The VAE decoder's kernels on raw device pointers (the SD-VAE decode of the plan's `decode` program,
// compiler/plan/ops.ts Conv2dOp, GroupNormOp, UpsampleNearestOp, and cross_attention with a head dim over 256):
// what the op launchers (cuda/conv2d.cu, group_norm.cu, upsample_nearest.cu, cross_attention.cu) call once they
// have the op's device slots and, for patch-parallel decode, done the NCCL transfers; native/test/cuda_vae_test.cu
// calls them directly against an fp64 reference. No Memory, Context or NCCL here, so the test links these files,
// cuda/gemm.cu and core/error.cpp alone.
//
// Activations are NHWC rows ([frames, height, width, channels] row-major); convolution weights keep their official
// layout [Cout, Cin, kh, kw]. Storage dtypes f32, bf16 or f16; every kernel computes in fp32 (statistics in
// double). Every function only enqueues on `stream`; scratch is the caller's device memory of at least the bytes
// the matching *_scratch_bytes says, 256-byte aligned (the backend's scratch is cudaMalloc'd).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "plan/plan.h"

namespace od::cuda {

class Gemm;

// Bytes and names of the storage dtypes, here rather than plan/parse.cpp's dtype_bytes / dtype_name, so that the
// standalone test links these kernels without the plan parser.
inline int64_t value_bytes(DType t) { return t == DType::F32 || t == DType::I32 ? 4 : 2; }
inline const char* value_type_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::F16: return "f16";
    case DType::I32: return "i32";
  }
  return "?";
}

// ---- conv2d (cuda/conv2d_kernel.cu) ----
// out[f, h, w, :] = bias + Σ_{dy, dx, ci} x[f, h + dy − p, w + dx − p, ci] · weight[:, ci, dy, dx], stride 1, zero
// padding p = kernel / 2, as GEMMs on cuBLASLt: kernel 1 is x · Wᵀ over the frames·height·width rows; kernel 3
// gathers each chunk of rows' 3x3 neighbourhoods into scratch (im2col, tap-major: column t·Cin + ci holds tap
// t = dy·3 + dx of input channel ci) and multiplies it by the weights laid out tap-major as well ([Cout, 9, Cin],
// rearranged into scratch once per call). The bias rides in the GEMM's epilogue. `halo_top` / `halo_bottom`: the
// image rows just above and below this band ([frames, width, Cin] in x's dtype each), or null where the band
// touches the image border (zeros). x and out must not share bytes.
struct Conv2dArgs {
  const void* x = nullptr;
  DType x_dtype = DType::BF16;
  const void* weight = nullptr;  // [Cout, Cin, kernel, kernel]
  DType weight_dtype = DType::BF16;
  const void* bias = nullptr;  // [Cout], or null
  DType bias_dtype = DType::BF16;
  void* out = nullptr;
  DType out_dtype = DType::BF16;
  int64_t frames = 0, height = 0, width = 0, in_channels = 0, out_channels = 0, kernel = 3;
  const void* halo_top = nullptr;
  const void* halo_bottom = nullptr;
};

// How a conv2d runs: the GEMM's operands and where its pieces sit in scratch (byte offsets, 256-aligned). The same
// for every call of an op (sizes and dtypes only), so check time and run time agree.
struct Conv2dLayout {
  int64_t rows = 0;        // frames·height·width
  int64_t k = 0;           // the GEMM's inner size: kernel²·Cin
  int64_t chunk_rows = 0;  // rows per GEMM (the last chunk may be shorter)
  bool gather = false;     // columns gathered into scratch (kernel 3, or x in another dtype than the weights)
  bool rearrange = false;  // weights rearranged tap-major into scratch (kernel 3)
  bool staged = false;     // GEMM into fp32 scratch, then bias and rounding by a kernel (out or bias dtype ≠ the GEMM's)
  size_t weights_offset = 0, columns_offset = 0, staged_offset = 0;
  size_t bytes = 0;        // scratch bytes in all
};
Conv2dLayout conv2d_layout(const Conv2dArgs& a);
// Creates the descriptors and picks the cuBLASLt algorithm of every chunk's GEMM (check time; the pointers may be
// stand-ins with the real ones' alignments: the plan's offsets). `where` names the op in errors.
void prepare_conv2d_gemms(const Conv2dArgs& a, Gemm& gemm, const std::string& where);
void launch_conv2d(const Conv2dArgs& a, Gemm& gemm, void* scratch, size_t scratch_bytes, cudaStream_t stream,
                   const std::string& where);

// ---- group_norm (cuda/group_norm_kernel.cu) ----
// out = (x − mean) / √(var + eps) · weight[c] + bias[c], then SiLU when `silu`, with mean and the biased variance
// over the height·width·(channels / groups) values of each (frame, group). The statistics are Σx and Σx² in double:
// per block of pixels (each thread's channels summed in double, then the block's channels folded into its
// groups in a fixed order), the blocks summed in a fixed order (deterministic run to run), kept as double
// (sum, sum of squares, count) triples per (frame, group) so that partial triples of several bands add up to the
// whole image's (patch-parallel decode sums them over the group with NCCL between the two phases below).
struct GroupNormArgs {
  const void* x = nullptr;
  DType x_dtype = DType::BF16;
  const void* weight = nullptr;  // [channels]
  DType weight_dtype = DType::BF16;
  const void* bias = nullptr;  // [channels]
  DType bias_dtype = DType::BF16;
  void* out = nullptr;  // may be x
  DType out_dtype = DType::BF16;
  int64_t frames = 0, height = 0, width = 0, channels = 0, groups = 32;
  double eps = 1e-6;
  bool silu = false;
};
struct GroupNormLayout {
  int64_t blocks_per_frame = 0;  // pixel blocks of the statistics pass
  size_t partials_offset = 0;    // [frames, blocks_per_frame, groups] (sum, squares) doubles
  size_t totals_offset = 0;      // [frames, groups] (sum, squares, count) doubles: what a band contributes
  size_t moments_offset = 0;     // [frames, groups] (mean, 1/√(var + eps)) floats
  size_t bytes = 0;
};
GroupNormLayout group_norm_layout(const GroupNormArgs& a);
// Phase 1: this band's (sum, squares, count) per (frame, group) into the totals (device doubles
// [frames·groups·3] at scratch + totals_offset, returned).
double* group_norm_statistics(const GroupNormArgs& a, void* scratch, cudaStream_t stream);
// Phase 2: the moments from the totals (which may since have been summed over other bands), then the normalisation.
void group_norm_apply(const GroupNormArgs& a, void* scratch, cudaStream_t stream);

// ---- upsample_nearest (cuda/upsample_nearest_kernel.cu) ----
// out[f, h·factor + i, w·factor + j, c] = x[f, h, w, c] for i, j < factor.
struct UpsampleArgs {
  const void* x = nullptr;
  DType x_dtype = DType::BF16;
  void* out = nullptr;
  DType out_dtype = DType::BF16;
  int64_t frames = 0, height = 0, width = 0, channels = 0, factor = 2;
};
void launch_upsample_nearest(const UpsampleArgs& a, cudaStream_t stream);

// ---- attention through GEMMs (cuda/attention_gemm.cu), for head dims the fused kernel does not cover ----
// cross_attention's semantics (cpu/cross_attention.cpp): sample s's query rows attend to its key rows whose mask
// entry is non-zero (every key when mask is null); a query with no valid key gets zeros. Per (sample, head): K
// copied contiguous and V transposed into scratch in q's dtype; then per chunk of queries (as many as the score
// budget holds) S = Q·Kᵀ on cuBLASLt into fp32 scratch, a row softmax in fp32 (scale, mask) writing P in q's dtype,
// and out = P·V on cuBLASLt. The VAE's mid-block attention: 1 head of 512, keys = the frame's pixels.
struct AttentionGemmArgs {
  const void* q = nullptr;  // [samples·queries, heads·head_dim]
  DType q_dtype = DType::BF16;
  const void* kv = nullptr;  // [samples·keys, 2·heads·head_dim]: keys, then values
  DType kv_dtype = DType::BF16;
  const int32_t* mask = nullptr;  // [samples, keys], 0 = masked; null: every key
  void* out = nullptr;            // [samples·queries, heads·head_dim]
  DType out_dtype = DType::BF16;
  int64_t samples = 0, queries = 0, keys = 0, heads = 0, head_dim = 0;
  double scale = 1;
};
struct AttentionGemmLayout {
  int64_t chunk = 0;  // queries per score chunk
  size_t k_offset = 0, vt_offset = 0, scores_offset = 0, probs_offset = 0;
  size_t bytes = 0;
};
AttentionGemmLayout attention_gemm_layout(const AttentionGemmArgs& a);
void prepare_attention_gemms(const AttentionGemmArgs& a, Gemm& gemm, const std::string& where);
void launch_attention_gemm(const AttentionGemmArgs& a, Gemm& gemm, void* scratch, size_t scratch_bytes, cudaStream_t stream,
                           const std::string& where);

}  // namespace od::cuda
