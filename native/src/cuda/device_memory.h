// One rank's memory on the GPU: the plan's arena at the plan's own byte offsets and dtypes (activations share
// bytes by liveness exactly as the plan decided), the weights in the plan's dtype (converted from the host's
// fp32 on upload), and a slot per plan name so kernels find a buffer by BufRef without a string lookup.
// Allocated once by the CUDA backend's prepare(); nothing is allocated in the step loop.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "plan/plan.h"
#include "runtime/memory.h"

namespace od::cuda {

struct DeviceSlot {
  void* ptr = nullptr;
  DType dtype = DType::F32;  // storage dtype: f32, bf16, f16 or i32
  int64_t count = 0;
};

class DeviceMemory {
 public:
  // Allocates the arena (plan.arena_bytes) and the weights; uploads the weights from the host Memory (fp32) in
  // their plan dtype; binds every name the host Memory binds.
  explicit DeviceMemory(const Memory& host);
  ~DeviceMemory();
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  const DeviceSlot& slot(BufRef ref) const;
  // Host fp32 (or int32) values of a slot → device, converted to its dtype (async on `stream`).
  void upload(const Slot& host, BufRef ref, cudaStream_t stream);
  void upload_by_name(const Memory& host, const std::string& name, cudaStream_t stream);
  // Device → host fp32 (i32 converted to float); synchronises `stream`.
  void download(const std::string& name, float* out, int64_t count, cudaStream_t stream) const;
  int64_t bytes() const { return bytes_; }

 private:
  const Plan* plan_;
  void* arena_ = nullptr;
  void* weights_ = nullptr;
  void* staging_ = nullptr;  // pinned host staging for conversions
  int64_t staging_bytes_ = 0;
  int64_t bytes_ = 0;
  std::vector<DeviceSlot> by_id_;
};

}  // namespace od::cuda
