// What the CUDA collectives and transfers share (cuda/all_to_all.cu, all_gather.cu, send.cu, recv.cu): the size of
// the op's group (from the NCCL mesh; 1 without one), the local copy of a group of one rank, the storage dtype and
// staging a plan buffer gives them at check time, and the staging layout (cuda/ops.h collective_scratch_bytes).
#pragma once
#include <cstdint>
#include <string>

#include "cuda/ops.h"

namespace od::cuda {

constexpr int64_t kStagingAlign = 256;
inline int64_t staging_round(int64_t bytes) { return (bytes + kStagingAlign - 1) / kStagingAlign * kStagingAlign; }

// The size of this rank's group on `axis`: the mesh's, or 1 where the run has none (every group has one rank).
int group_size(const Context& ctx, const std::string& axis);

// out = x, `bytes` bytes (a group of one rank, as cpu/all_to_all.cpp copies): nothing when they are the same
// bytes, through the scratch when they overlap otherwise.
void local_copy(const void* x, void* out, int64_t bytes, Context& ctx);

// Whether [a, a + a_bytes) and [b, b + b_bytes) share a byte.
bool overlaps(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes);

// Check time: a collective's or transfer's buffers (x and out of one storage dtype, which NCCL moves as itself),
// naming the op's role; returns the bytes of one value.
int64_t exchange_value_bytes(const Memory& host, BufRef x, BufRef out);

}  // namespace od::cuda
