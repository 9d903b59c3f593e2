// Loads and stores of the storage dtypes as fp32. Two kinds: load_f/store_f take the dtype as a run-time value of
// the slot (plans mix f32 tables with bf16 activations) and branch per element on it (uniform, no divergence),
// for the generic fallback kernels; the typed helpers below (Elem<T>, load_vec/store_vec) serve kernels templated
// on the element type (float, __nv_bfloat16, __half; the launcher dispatches on the dtype once), moving 16 bytes
// (4 float, 8 bf16/f16) per access. Round to nearest even on store, as the CPU's conversions do.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "plan/plan.h"

namespace od::cuda {

__device__ __forceinline__ float load_f(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case DType::F16: return __half2float(static_cast<const __half*>(p)[i]);
    case DType::I32: return static_cast<float>(static_cast<const int32_t*>(p)[i]);
    default: return static_cast<const float*>(p)[i];
  }
}

__device__ __forceinline__ void store_f(void* p, DType t, int64_t i, float v) {
  switch (t) {
    case DType::BF16: static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v); break;
    case DType::F16: static_cast<__half*>(p)[i] = __float2half_rn(v); break;
    case DType::I32: static_cast<int32_t*>(p)[i] = static_cast<int32_t>(v); break;
    default: static_cast<float*>(p)[i] = v; break;
  }
}

// ---- typed access: T is float, __nv_bfloat16 or __half ----

// 32-bit words of T <-> fp32 values (kPer values a word); bf16 → fp32 is exact bit placement.
template <typename T>
struct Elem;
template <>
struct Elem<float> {
  static constexpr int kPer = 1;
  __device__ __forceinline__ static void unpack(uint32_t w, float* f) { f[0] = __uint_as_float(w); }
  __device__ __forceinline__ static uint32_t pack(const float* f) { return __float_as_uint(f[0]); }
};
template <>
struct Elem<__nv_bfloat16> {
  static constexpr int kPer = 2;
  __device__ __forceinline__ static void unpack(uint32_t w, float* f) {
    f[0] = __uint_as_float(w << 16);
    f[1] = __uint_as_float(w & 0xFFFF0000u);
  }
  __device__ __forceinline__ static uint32_t pack(const float* f) {
    return static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(f[0]))) |
           (static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(f[1]))) << 16);
  }
};
template <>
struct Elem<__half> {
  static constexpr int kPer = 2;
  __device__ __forceinline__ static void unpack(uint32_t w, float* f) {
    f[0] = __half2float(__ushort_as_half(static_cast<unsigned short>(w & 0xFFFFu)));
    f[1] = __half2float(__ushort_as_half(static_cast<unsigned short>(w >> 16)));
  }
  __device__ __forceinline__ static uint32_t pack(const float* f) {
    return static_cast<uint32_t>(__half_as_ushort(__float2half_rn(f[0]))) |
           (static_cast<uint32_t>(__half_as_ushort(__float2half_rn(f[1]))) << 16);
  }
};

// One value of T as fp32 and back (round to nearest even), for the tails of vectorized kernels.
__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
template <typename T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }

// Values of T in one 16-byte access.
template <typename T>
__host__ __device__ constexpr int vec_of() {
  return static_cast<int>(16 / sizeof(T));
}

// The 16 bytes at p (16-byte aligned) as raw words, and raw words as fp32 values.
__device__ __forceinline__ uint4 load16(const void* p) { return *static_cast<const uint4*>(p); }
template <typename T>
__device__ __forceinline__ void unpack16(const uint4& u, float (&f)[vec_of<T>()]) {
  constexpr int P = Elem<T>::kPer;
  Elem<T>::unpack(u.x, f);
  Elem<T>::unpack(u.y, f + P);
  Elem<T>::unpack(u.z, f + 2 * P);
  Elem<T>::unpack(u.w, f + 3 * P);
}

// N values of T at p as fp32 (N·sizeof(T) is 8 or a multiple of 16 bytes; p aligned to min(16, that)).
template <typename T, int N>
__device__ __forceinline__ void load_vec(const T* p, float (&f)[N]) {
  constexpr int kBytes = N * static_cast<int>(sizeof(T));
  constexpr int P = Elem<T>::kPer;
  static_assert(kBytes == 8 || kBytes % 16 == 0, "load_vec: 8 bytes or whole 16-byte accesses");
  if constexpr (kBytes == 8) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    Elem<T>::unpack(u.x, f);
    Elem<T>::unpack(u.y, f + P);
  } else {
#pragma unroll
    for (int q = 0; q < kBytes / 16; ++q) {
      const uint4 u = reinterpret_cast<const uint4*>(p)[q];
      Elem<T>::unpack(u.x, f + (4 * q) * P);
      Elem<T>::unpack(u.y, f + (4 * q + 1) * P);
      Elem<T>::unpack(u.z, f + (4 * q + 2) * P);
      Elem<T>::unpack(u.w, f + (4 * q + 3) * P);
    }
  }
}

// 16 bytes of T at p (16-byte aligned) from vec_of<T>() fp32 values, rounded to nearest even.
template <typename T>
__device__ __forceinline__ void store_vec(T* p, const float (&f)[vec_of<T>()]) {
  constexpr int P = Elem<T>::kPer;
  uint4 u;
  u.x = Elem<T>::pack(f);
  u.y = Elem<T>::pack(f + P);
  u.z = Elem<T>::pack(f + 2 * P);
  u.w = Elem<T>::pack(f + 3 * P);
  *reinterpret_cast<uint4*>(p) = u;
}

// The element type of a storage dtype, for launchers: calls fn(T{}) once with T the C++ type of t (float,
// __nv_bfloat16, __half) and returns true, or returns false for I32.
template <typename Fn>
bool with_float_type(DType t, Fn&& fn) {
  switch (t) {
    case DType::F32: fn(float{}); return true;
    case DType::BF16: fn(__nv_bfloat16{}); return true;
    case DType::F16: fn(__half{}); return true;
    default: return false;
  }
}

// True when p is 16-byte aligned.
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace od::cuda
