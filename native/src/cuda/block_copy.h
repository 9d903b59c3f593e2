// The data movement of the collectives and transfers (cuda/all_to_all.cu, all_gather.cu, send.cu, recv.cu): packing
// the parts of a view into a staging area and unpacking received parts into a view are each a copy of P·Q blocks
// of equal length between two 2-level strided layouts, done here in one kernel. A copy of bytes (exact for every
// storage dtype), moving the widest unit (16, 8, 4, 2 or 1 bytes) that the length, every stride and both pointers
// allow; one contiguous block is a cudaMemcpyAsync.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace od::cuda {

// Block (p, q), p < outer, q < inner, of `length` bytes: from src + p·src_outer + q·src_inner to
// dst + p·dst_outer + q·dst_inner (all in bytes). The blocks of dst do not overlap each other or src.
struct BlockCopy {
  int64_t outer = 1, inner = 1, length = 0;
  int64_t src_outer = 0, src_inner = 0, dst_outer = 0, dst_inner = 0;
};

// Enqueues the copy on `stream` (nothing when it moves no bytes).
void copy_blocks(const void* src, void* dst, const BlockCopy& copy, cudaStream_t stream);

}  // namespace od::cuda
