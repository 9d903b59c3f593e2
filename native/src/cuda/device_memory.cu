// One rank's device memory (cuda/device_memory.h): the plan's arena at the plan's offsets and dtypes, the loaded
// weights in their plan dtype, and a slot per plan name.
//
// Conversions happen on the host, rounding to nearest even exactly as the CPU side rounds (checkpoint/safetensors.h
// f32_to_bf16 / f32_to_f16, dtype.ts), so a bf16 plan's device weights are bit for bit the values the CPU backend
// rounds its own to. Weights and downloads pass through a pinned staging buffer in pieces of at most kStagingBytes
// (copied, then the stream synchronised, before the piece is reused). Uploads of activations and inputs convert
// into a pageable host vector instead: cudaMemcpyAsync from pageable memory returns once the source has been
// staged by the driver, so the host may change it at once, and the copy stays ordered on the stream without the
// host waiting for queued kernels.
#include "cuda/device_memory.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "checkpoint/safetensors.h"
#include "core/error.h"
#include "cuda/check.h"

namespace od::cuda {
namespace {

constexpr int64_t kAlign = 256;                       // every weight starts 256-byte aligned (cuBLASLt's default)
constexpr int64_t kStagingBytes = int64_t{32} << 20;  // pinned staging for weights and downloads

int64_t round_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

int64_t product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// `count` host values (fp32, or int32 for an i32 slot) as `dtype` storage into `dst`.
void encode(const Slot& host, int64_t first, int64_t count, DType dtype, void* dst) {
  switch (dtype) {
    case DType::BF16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < count; ++i) d[i] = f32_to_bf16(host.f[first + i]);
      break;
    }
    case DType::F16: {
      uint16_t* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < count; ++i) d[i] = f32_to_f16(host.f[first + i]);
      break;
    }
    case DType::I32: {
      int32_t* d = static_cast<int32_t*>(dst);
      if (host.is_int)
        std::memcpy(d, host.i + first, static_cast<size_t>(count) * 4);
      else
        for (int64_t i = 0; i < count; ++i) d[i] = static_cast<int32_t>(host.f[first + i]);
      break;
    }
    case DType::F32: {
      float* d = static_cast<float*>(dst);
      if (host.is_int)
        for (int64_t i = 0; i < count; ++i) d[i] = static_cast<float>(host.i[first + i]);
      else
        std::memcpy(d, host.f + first, static_cast<size_t>(count) * 4);
      break;
    }
  }
}

void decode(const void* src, DType dtype, int64_t count, float* out) {
  switch (dtype) {
    case DType::BF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < count; ++i) out[i] = bf16_to_f32(s[i]);
      break;
    }
    case DType::F16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < count; ++i) out[i] = f16_to_f32(s[i]);
      break;
    }
    case DType::I32: {
      const int32_t* s = static_cast<const int32_t*>(src);
      for (int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(s[i]);
      break;
    }
    case DType::F32:
      std::memcpy(out, src, static_cast<size_t>(count) * 4);
      break;
  }
}

}  // namespace

DeviceMemory::DeviceMemory(const Memory& host) : plan_(&host.plan()) {
  const Plan& plan = *plan_;
  std::unordered_map<std::string, const PlanBuffer*> buffers;
  for (const PlanBuffer& b : plan.buffers) buffers.emplace(b.name, &b);
  std::unordered_map<std::string, const PlanWeight*> weights;
  for (const PlanWeight& w : plan.weights) weights.emplace(w.name, &w);

  // The weights this rank holds (the host Memory's loaded ones), each at a 256-byte aligned offset.
  struct Placed {
    const Slot* host;
    DType dtype;
    int64_t offset;
  };
  std::vector<Placed> placed;
  std::unordered_map<std::string, size_t> placed_by_name;
  int64_t weight_bytes = 0;
  for (const PlanWeight& w : plan.weights) {
    const Slot* s = host.find(w.name);
    if (!s || !s->is_weight) continue;  // another pipeline stage's weight: unbound here as on the host
    OD_CHECK(w.dtype != DType::I32, "weight `" + w.name + "` has dtype i32", "the plan's weights are f32, bf16 or f16");
    placed_by_name.emplace(w.name, placed.size());
    placed.push_back({s, w.dtype, weight_bytes});
    weight_bytes += round_up(s->count * dtype_bytes(w.dtype), kAlign);
  }

  const int64_t arena_bytes = std::max<int64_t>(plan.arena_bytes, 0);
  auto allocate = [&](void** p, int64_t bytes, const char* what) {
    if (bytes <= 0) return;
    const cudaError_t st = cudaMalloc(p, static_cast<size_t>(bytes));
    if (st != cudaSuccess) {
      *p = nullptr;
      OD_FAIL(std::string("CUDA: cannot allocate the ") + what + " (" + std::to_string(bytes) + " bytes) on the device: " +
                  cudaGetErrorString(st),
              "the plan needs more GPU memory than is free: fewer samples per rank, a smaller resolution, or more ranks");
    }
    bytes_ += bytes;
  };
  auto bind_and_upload = [&]() {
    // A slot per plan name: buffers at arena + offset in their plan dtype, loaded weights in theirs.
    by_id_.assign(plan.names.size(), DeviceSlot{});
    for (size_t id = 0; id < plan.names.size(); ++id) {
      const std::string& name = plan.names[id];
      DeviceSlot& d = by_id_[id];
      if (auto b = buffers.find(name); b != buffers.end()) {
        const PlanBuffer& pb = *b->second;
        const int64_t count = product(pb.shape);
        OD_CHECK(pb.offset >= 0 && pb.offset + count * dtype_bytes(pb.dtype) <= arena_bytes,
                 "plan buffer `" + name + "` at offset " + std::to_string(pb.offset) + " does not fit the plan's arena of " +
                     std::to_string(arena_bytes) + " bytes",
                 "the plan's memory layout is inconsistent; recompile it");
        d.ptr = static_cast<uint8_t*>(arena_) + pb.offset;
        d.dtype = pb.dtype;
        d.count = count;
      } else if (auto w = placed_by_name.find(name); w != placed_by_name.end()) {
        const Placed& p = placed[w->second];
        d.ptr = static_cast<uint8_t*>(weights_) + p.offset;
        d.dtype = p.dtype;
        d.count = p.host->count;
      }
      // else: a weight of another stage, unbound (slot() fails naming it)
    }

    // The weights, converted piece by piece through the pinned staging buffer.
    for (const Placed& p : placed) {
      const int esize = dtype_bytes(p.dtype);
      const int64_t per_piece = staging_bytes_ / esize;
      for (int64_t first = 0; first < p.host->count; first += per_piece) {
        const int64_t n = std::min(per_piece, p.host->count - first);
        encode(*p.host, first, n, p.dtype, staging_);
        OD_CUDA_CHECK(cudaMemcpy(static_cast<uint8_t*>(weights_) + p.offset + first * esize, staging_,
                                 static_cast<size_t>(n * esize), cudaMemcpyHostToDevice));
      }
    }
    // The memset and copies ran on the legacy default stream, which the backend's non-blocking stream does not wait
    // for: finish them before any kernel may read the memory.
    OD_CUDA_CHECK(cudaDeviceSynchronize());
  };
  try {
    allocate(&arena_, arena_bytes, "plan's arena");
    allocate(&weights_, weight_bytes, "weights");
    // The host Memory zeroes every buffer at bind; so does the device (padding and caches read zeros).
    if (arena_) OD_CUDA_CHECK(cudaMemset(arena_, 0, static_cast<size_t>(arena_bytes)));
    staging_bytes_ = kStagingBytes;
    OD_CUDA_CHECK(cudaMallocHost(&staging_, static_cast<size_t>(staging_bytes_)));
    bind_and_upload();
  } catch (...) {
    // The destructor does not run for a constructor that throws.
    if (arena_) cudaFree(arena_);
    if (weights_) cudaFree(weights_);
    if (staging_) cudaFreeHost(staging_);
    arena_ = weights_ = staging_ = nullptr;
    throw;
  }
}


DeviceMemory::~DeviceMemory() {
  // No checks: a destructor must not throw (a sticky error already surfaced elsewhere).
  if (arena_) cudaFree(arena_);
  if (weights_) cudaFree(weights_);
  if (staging_) cudaFreeHost(staging_);
}

const DeviceSlot& DeviceMemory::slot(BufRef ref) const {
  OD_CHECK(ref.id >= 0 && static_cast<size_t>(ref.id) < by_id_.size(),
           "buffer reference " + std::to_string(ref.id) + " is not a name of the plan", "a plan parser defect");
  const DeviceSlot& s = by_id_[static_cast<size_t>(ref.id)];
  OD_CHECK(s.ptr, "`" + plan_->name_of(ref) + "` is not on this device: a weight of another pipeline stage",
           "only the ops of this rank's stage may name it");
  return s;
}

void DeviceMemory::upload(const Slot& host, BufRef ref, cudaStream_t stream) {
  const DeviceSlot& d = slot(ref);
  OD_CHECK(host.count == d.count,
           "`" + plan_->name_of(ref) + "` holds " + std::to_string(host.count) + " values on the host but " +
               std::to_string(d.count) + " on the device",
           "a CUDA backend defect");
  if (d.count == 0) return;
  const size_t bytes = static_cast<size_t>(d.count) * static_cast<size_t>(dtype_bytes(d.dtype));
  const bool same = (d.dtype == DType::F32 && !host.is_int) || (d.dtype == DType::I32 && host.is_int);
  if (same) {
    // Pageable source: the call returns once the driver has staged it.
    OD_CUDA_CHECK(cudaMemcpyAsync(d.ptr, host.is_int ? static_cast<const void*>(host.i) : static_cast<const void*>(host.f),
                                  bytes, cudaMemcpyHostToDevice, stream));
    return;
  }
  std::vector<uint8_t> converted(bytes);
  encode(host, 0, d.count, d.dtype, converted.data());
  OD_CUDA_CHECK(cudaMemcpyAsync(d.ptr, converted.data(), bytes, cudaMemcpyHostToDevice, stream));
}

void DeviceMemory::upload_by_name(const Memory& host, const std::string& name, cudaStream_t stream) {
  const Slot* s = host.find(name);
  OD_CHECK(s, "no host buffer `" + name + "` to upload", "a CUDA backend defect");
  for (size_t id = 0; id < plan_->names.size(); ++id) {
    if (plan_->names[id] == name) {
      upload(*s, BufRef{static_cast<int>(id)}, stream);
      return;
    }
  }
  // No op names it: nothing on the device reads it.
}

void DeviceMemory::download(const std::string& name, float* out, int64_t count, cudaStream_t stream) const {
  const DeviceSlot* d = nullptr;
  for (size_t id = 0; id < plan_->names.size(); ++id) {
    if (plan_->names[id] == name) {
      d = &slot(BufRef{static_cast<int>(id)});
      break;
    }
  }
  OD_CHECK(d, "`" + name + "` is named by no op of the plan, so the device never holds it", "ask for a plan buffer");
  OD_CHECK(count >= 0 && count <= d->count,
           "download of " + std::to_string(count) + " values of `" + name + "`, which holds " + std::to_string(d->count),
           "a CUDA backend defect");
  // Every queued op first (the values wanted may still be computed), and errors surface here, naming the download.
  OD_CUDA_CHECK(cudaStreamSynchronize(stream));
  const int esize = dtype_bytes(d->dtype);
  const int64_t per_piece = staging_bytes_ / esize;
  for (int64_t first = 0; first < count; first += per_piece) {
    const int64_t n = std::min(per_piece, count - first);
    OD_CUDA_CHECK(cudaMemcpyAsync(staging_, static_cast<const uint8_t*>(d->ptr) + first * esize, static_cast<size_t>(n * esize),
                                  cudaMemcpyDeviceToHost, stream));
    OD_CUDA_CHECK(cudaStreamSynchronize(stream));
    decode(staging_, d->dtype, n, out + first);
  }
}

}  // namespace od::cuda
