// The launch shape every elementwise-style kernel of the CUDA backend uses: blocks of kThreads threads, a grid
// capped at 2^20 blocks (the kernels stride over what the grid does not cover) and never empty.
#pragma once
#include <algorithm>
#include <cstdint>

namespace od::cuda {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, int64_t{1} << 20)));
}

}  // namespace od::cuda
