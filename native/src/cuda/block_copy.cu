// copy_blocks (cuda/block_copy.h): one thread per unit of the output, grid-stride, in units of U (uint4 … uint8_t)
// with 32-bit index arithmetic where the copy has fewer than 2^32 units (every plan's), else 64-bit.
#include "cuda/block_copy.h"

#include <cstdint>

#include "cuda/check.h"
#include "cuda/launch.cuh"

namespace od::cuda {
namespace {

// The copy in units: n units a block, strides in units.
template <typename I>
struct Units {
  I outer, inner, n;
  I src_outer, src_inner, dst_outer, dst_inner;
};

template <typename U, typename I>
__global__ void __launch_bounds__(kThreads) copy_blocks_kernel(const U* __restrict__ src, U* __restrict__ dst, Units<I> u) {
  const I total = u.outer * u.inner * u.n;
  for (I i = static_cast<I>(blockIdx.x) * kThreads + threadIdx.x; i < total; i += static_cast<I>(gridDim.x) * kThreads) {
    const I e = i % u.n, block = i / u.n;
    const I q = block % u.inner, p = block / u.inner;
    dst[p * u.dst_outer + q * u.dst_inner + e] = src[p * u.src_outer + q * u.src_inner + e];
  }
}

template <typename U, typename I>
void launch(const void* src, void* dst, const BlockCopy& c, cudaStream_t stream) {
  const int64_t s = static_cast<int64_t>(sizeof(U));
  Units<I> u{static_cast<I>(c.outer),       static_cast<I>(c.inner),       static_cast<I>(c.length / s),
             static_cast<I>(c.src_outer / s), static_cast<I>(c.src_inner / s), static_cast<I>(c.dst_outer / s),
             static_cast<I>(c.dst_inner / s)};
  copy_blocks_kernel<U, I><<<blocks_for(c.outer * c.inner * (c.length / s)), kThreads, 0, stream>>>(static_cast<const U*>(src),
                                                                                                     static_cast<U*>(dst), u);
  OD_CUDA_LAUNCHED(copy_blocks_kernel);
}

template <typename U>
void launch_indexed(const void* src, void* dst, const BlockCopy& c, cudaStream_t stream) {
  // Every index the kernel forms is below the larger of the units copied and the furthest unit addressed.
  const int64_t s = static_cast<int64_t>(sizeof(U));
  const int64_t units = c.outer * c.inner * (c.length / s);
  const int64_t reach_src = ((c.outer - 1) * c.src_outer + (c.inner - 1) * c.src_inner + c.length) / s;
  const int64_t reach_dst = ((c.outer - 1) * c.dst_outer + (c.inner - 1) * c.dst_inner + c.length) / s;
  const int64_t limit = int64_t{1} << 31;  // headroom for the grid stride's last step
  if (units < limit && reach_src < limit && reach_dst < limit)
    launch<U, uint32_t>(src, dst, c, stream);
  else
    launch<U, uint64_t>(src, dst, c, stream);
}

}  // namespace

void copy_blocks(const void* src, void* dst, const BlockCopy& c, cudaStream_t stream) {
  if (c.outer <= 0 || c.inner <= 0 || c.length <= 0) return;
  if (c.outer * c.inner == 1) {
    OD_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(c.length), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  // The widest unit every length, stride and address is a multiple of.
  const uint64_t all = static_cast<uint64_t>(c.length) | static_cast<uint64_t>(c.src_outer) | static_cast<uint64_t>(c.src_inner) |
                       static_cast<uint64_t>(c.dst_outer) | static_cast<uint64_t>(c.dst_inner) | reinterpret_cast<uintptr_t>(src) |
                       reinterpret_cast<uintptr_t>(dst);
  if (all % 16 == 0)
    launch_indexed<uint4>(src, dst, c, stream);
  else if (all % 8 == 0)
    launch_indexed<uint2>(src, dst, c, stream);
  else if (all % 4 == 0)
    launch_indexed<uint32_t>(src, dst, c, stream);
  else if (all % 2 == 0)
    launch_indexed<uint16_t>(src, dst, c, stream);
  else
    launch_indexed<uint8_t>(src, dst, c, stream);
}

}  // namespace od::cuda
