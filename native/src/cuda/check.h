// Checks of the CUDA backend: every CUDA runtime call and every kernel launch is checked, and a failure is an
// od::Error naming the call, the file:line and a hint (OD_FAIL in core/error.h). cuBLASLt's own check macro lives
// with the GEMM (cuda/gemm.*), so kernels compile where cuBLASLt's headers are absent.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

#define OD_CUDA_CHECK(call)                                                                                      \
  do {                                                                                                           \
    cudaError_t od_status_ = (call);                                                                             \
    if (od_status_ != cudaSuccess)                                                                               \
      ::od::fail(__FILE__, __LINE__, std::string("CUDA: ") + #call + " failed: " + cudaGetErrorString(od_status_), \
                 "");                                                                                            \
  } while (0)

// After a kernel launch: a bad configuration shows here; a fault inside the kernel at the next synchronisation.
#define OD_CUDA_LAUNCHED(kernel_name) OD_CUDA_CHECK(cudaGetLastError())
