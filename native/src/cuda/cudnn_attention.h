// Attention through cuDNN's fused flash-attention forward (cuDNN 9 graph API, cuda/cudnn_attention.cu), the
// alternative to the own kernel (cuda/attention_kernel.cu) that self_attention picks with OPENDIT_ATTENTION=cudnn
// (cuda/self_attention.cu). Compiled only where CMake found cuDNN (native/CMakeLists.txt: OPENDIT_WITH_CUDNN=1);
// this header has no cuDNN types, so it is included everywhere and the callers test OPENDIT_WITH_CUDNN.
//
// The graph, per distinct shape/strides (built once, cached, with a workspace shared by all plans and grown to
// the largest need): S = Q·Kᵀ (bf16/f16 in, fp32) → S·scale (a by-value fp32 scalar) → softmax as cuDNN's SDPA
// pattern (reduction MAX, SUB, EXP, reduction ADD, LOG + ADD into the virtual stats, DIV) → P (the I/O dtype) ·V →
// O. Q, K, V and O are 4-D [batch, heads, rows, head_dim] views of the packed rows (any row stride, head h at
// columns h·head_dim), so the packed qkv is read in place.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "cuda/attention_kernel.cuh"

namespace od::cuda {

// Whether the cuDNN path computes exactly what launch_attention does for these arguments: bf16 or f16 everywhere,
// no q/k RMSNorm, no RoPE, no mask, all rows attended (keys == kv_rows == queries: self-attention over whole
// sequences), queries > 128 (the streaming kernel's domain: spatial attention of DiT/STDiT/PixArt), head_dim a
// multiple of 8 up to 128, row strides multiples of 8 elements, (where set) 16-byte aligned pointers, and a cuDNN 9
// library at run time other than 9.10.0/9.10.1 (known fp16/bf16 SDPA bugs). Null pointers are not checked
// (cudnn_attention_prepare at check time has none yet).
bool cudnn_attention_fits(const AttentionArgs& a);

// Builds (or finds) the execution plan for these arguments' shape and strides and sizes the workspace. Call it
// outside any CUDA graph capture (the backend's check, a test's setup): building picks an engine by heuristics,
// may compile a kernel and allocates the workspace, none of which a capture allows. Fails (od::Error) where
// cuDNN refuses the graph, naming cuDNN's message. The arguments must fit (cudnn_attention_fits).
void cudnn_attention_prepare(const AttentionArgs& a);

// Enqueues the attention on `stream` (no synchronisation). Builds the plan first where it is not cached, except
// while `stream` is capturing a CUDA graph: then it fails (od::Error) saying the plan was not prepared.
void cudnn_attention_run(const AttentionArgs& a, cudaStream_t stream);

// "cuDNN 9.x.y" (the library loaded at run time), and the plan's choice for these arguments ("cuDNN 9.1.0 sdpa
// fprop, heuristics config 0 of 3, workspace 0 B"; "" where no plan is cached for them yet).
std::string cudnn_attention_version();
std::string cudnn_attention_describe(const AttentionArgs& a);

}  // namespace od::cuda
