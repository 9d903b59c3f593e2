// Standalone check of the CUDA backend's cuBLASLt wrapper (native/src/cuda/gemm.h) on a GPU: y = epilogue(x·Wᵀ + b)
// against a naive fp64 host GEMM over the same (dtype-rounded) inputs, for f32, bf16 and f16, with and without bias,
// GELU-tanh, strided and offset x and y (in_columns / out_columns), bf16 → f32 outputs (the staged path), and DiT
// sizes; then the bf16 throughput of an 8192³ GEMM. Exit status 0 when every case passes.
//
// Build and run from the repository root (on a machine with cuBLASLt):
//   nvcc -std=c++17 -O2 -arch=sm_90 -Inative/src native/test/cuda_gemm_test.cu native/src/cuda/gemm.cu
//        native/src/core/error.cpp -lcublasLt -o /tmp/cuda_gemm_test && /tmp/cuda_gemm_test
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/gemm.h"

using od::DType;
using od::cuda::Epilogue;
using od::cuda::Gemm;
using od::cuda::GemmKey;

namespace {

int bytes_of(DType t) { return t == DType::F32 ? 4 : 2; }
const char* name_of(DType t) { return t == DType::F32 ? "f32" : t == DType::BF16 ? "bf16" : "f16"; }

// The value a float becomes when stored as `t` (round to nearest even), and its bits.
float round_to(DType t, float v) {
  if (t == DType::BF16) return __bfloat162float(__float2bfloat16_rn(v));
  if (t == DType::F16) return __half2float(__float2half_rn(v));
  return v;
}
void store(DType t, void* base, int64_t i, float v) {
  if (t == DType::BF16) static_cast<__nv_bfloat16*>(base)[i] = __float2bfloat16_rn(v);
  else if (t == DType::F16) static_cast<__half*>(base)[i] = __float2half_rn(v);
  else static_cast<float*>(base)[i] = v;
}
float load(DType t, const void* base, int64_t i) {
  if (t == DType::BF16) return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[i]);
  if (t == DType::F16) return __half2float(static_cast<const __half*>(base)[i]);
  return static_cast<const float*>(base)[i];
}

double gelu_tanh(double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2.0 / 3.141592653589793) * (v + 0.044715 * v * v * v))); }

struct Case {
  const char* label;
  DType ab, d;
  int64_t rows, in, out;
  bool bias, gelu;
  int64_t ldx = 0, x_offset = 0;  // x rows ldx wide (0: in), the in columns from x_offset (in_columns)
  int64_t ldy = 0, y_offset = 0;  // y rows ldy wide (0: out), the out columns from y_offset (out_columns)
};

bool run_case(Gemm& gemm, cudaStream_t stream, const Case& c, std::mt19937& rng) {
  const int64_t ldx = c.ldx ? c.ldx : c.in, ldy = c.ldy ? c.ldy : c.out;
  const DType bias_type = c.d;  // the bias is stored in D's dtype
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  const float w_scale = 1.0f / std::sqrt(static_cast<float>(c.in));

  // Host values, already rounded to their storage dtype: the reference sees exactly what the GPU reads.
  std::vector<float> x(static_cast<size_t>(c.rows * ldx)), w(static_cast<size_t>(c.out * c.in)), b(static_cast<size_t>(c.out));
  for (float& v : x) v = round_to(c.ab, unit(rng));
  for (float& v : w) v = round_to(c.ab, unit(rng) * w_scale);
  for (float& v : b) v = round_to(bias_type, 0.5f * unit(rng));

  std::vector<uint8_t> hx(x.size() * bytes_of(c.ab)), hw(w.size() * bytes_of(c.ab)), hb(b.size() * bytes_of(bias_type));
  for (size_t i = 0; i < x.size(); ++i) store(c.ab, hx.data(), static_cast<int64_t>(i), x[i]);
  for (size_t i = 0; i < w.size(); ++i) store(c.ab, hw.data(), static_cast<int64_t>(i), w[i]);
  for (size_t i = 0; i < b.size(); ++i) store(bias_type, hb.data(), static_cast<int64_t>(i), b[i]);
  // y starts as a sentinel: the columns outside [y_offset, y_offset + out) must keep it.
  // Rounded to y's dtype, so an untouched column reads back exactly the sentinel (bf16 cannot hold 12345).
  const float sentinel = round_to(c.d, 12345.0f);
  std::vector<uint8_t> hy(static_cast<size_t>(c.rows * ldy) * bytes_of(c.d));
  for (int64_t i = 0; i < c.rows * ldy; ++i) store(c.d, hy.data(), i, sentinel);

  void *dx = nullptr, *dw = nullptr, *db = nullptr, *dy = nullptr;
  OD_CUDA_CHECK(cudaMalloc(&dx, hx.size()));
  OD_CUDA_CHECK(cudaMalloc(&dw, hw.size()));
  OD_CUDA_CHECK(cudaMalloc(&db, hb.size()));
  OD_CUDA_CHECK(cudaMalloc(&dy, hy.size()));
  OD_CUDA_CHECK(cudaMemcpy(dx, hx.data(), hx.size(), cudaMemcpyHostToDevice));
  OD_CUDA_CHECK(cudaMemcpy(dw, hw.data(), hw.size(), cudaMemcpyHostToDevice));
  OD_CUDA_CHECK(cudaMemcpy(db, hb.data(), hb.size(), cudaMemcpyHostToDevice));
  OD_CUDA_CHECK(cudaMemcpy(dy, hy.data(), hy.size(), cudaMemcpyHostToDevice));

  const void* xp = static_cast<const uint8_t*>(dx) + c.x_offset * bytes_of(c.ab);
  void* yp = static_cast<uint8_t*>(dy) + c.y_offset * bytes_of(c.d);
  GemmKey key;
  key.ab = c.ab;
  key.d = c.d;
  key.rows = c.rows;
  key.in = c.in;
  key.out = c.out;
  key.ldx = ldx;
  key.ldy = ldy;
  key.epilogue = c.bias ? (c.gelu ? Epilogue::GeluBias : Epilogue::Bias) : (c.gelu ? Epilogue::Gelu : Epilogue::None);
  key.align_w = od::cuda::alignment_of(reinterpret_cast<uintptr_t>(dw));
  key.align_x = od::cuda::alignment_of(reinterpret_cast<uintptr_t>(xp));
  key.align_y = od::cuda::alignment_of(reinterpret_cast<uintptr_t>(yp));
  key.align_bias = c.bias ? od::cuda::alignment_of(reinterpret_cast<uintptr_t>(db)) : 256;
  gemm.prepare(key, c.label);
  gemm.run(key, dw, xp, c.bias ? db : nullptr, yp, stream, c.label);
  OD_CUDA_CHECK(cudaStreamSynchronize(stream));
  OD_CUDA_CHECK(cudaMemcpy(hy.data(), dy, hy.size(), cudaMemcpyDeviceToHost));

  // fp64 reference.
  double max_ref = 0, max_err = 0;
  int64_t clobbered = 0, nonfinite = 0;
  for (int64_t r = 0; r < c.rows; ++r) {
    const float* xr = x.data() + r * ldx + c.x_offset;
    for (int64_t j = 0; j < c.out; ++j) {
      const float* wr = w.data() + j * c.in;
      double s = c.bias ? b[static_cast<size_t>(j)] : 0.0;
      for (int64_t k = 0; k < c.in; ++k) s += static_cast<double>(xr[k]) * wr[k];
      if (c.gelu) s = gelu_tanh(s);
      const double got = load(c.d, hy.data(), r * ldy + c.y_offset + j);
      if (!std::isfinite(got)) ++nonfinite;
      max_ref = std::max(max_ref, std::fabs(s));
      max_err = std::max(max_err, std::fabs(got - s));
    }
    for (int64_t j = 0; j < ldy; ++j) {
      if (j >= c.y_offset && j < c.y_offset + c.out) continue;
      if (load(c.d, hy.data(), r * ldy + j) != sentinel) ++clobbered;
    }
  }
  const double rel = max_ref > 0 ? max_err / max_ref : max_err;
  // f32: 1e-5, except through cuBLASLt's GELU epilogue, whose fp32 tanh may be a fast approximation (linear.cu
  // applies GELU to f32 outputs itself, in double; this bound only reports how far the epilogue is).
  const double bound = c.d == DType::F32 && c.ab == DType::F32 ? (c.gelu ? 2e-3 : 1e-5)
                       : c.ab == DType::F16 && c.d == DType::F16 ? 2e-3
                                                                  : 1e-2;
  const bool ok = rel <= bound && clobbered == 0 && nonfinite == 0;
  std::printf("%-4s %-44s %s→%s rows %5lld in %5lld out %5lld ldx %5lld ldy %5lld: max rel err %.3e (bound %.0e)%s%s\n",
              ok ? "PASS" : "FAIL", c.label, name_of(c.ab), name_of(c.d), static_cast<long long>(c.rows),
              static_cast<long long>(c.in), static_cast<long long>(c.out), static_cast<long long>(ldx),
              static_cast<long long>(ldy), rel, bound,
              clobbered ? (", " + std::to_string(clobbered) + " columns outside the output changed").c_str() : "",
              nonfinite ? (", " + std::to_string(nonfinite) + " non-finite outputs").c_str() : "");
  cudaFree(dx);
  cudaFree(dw);
  cudaFree(db);
  cudaFree(dy);
  return ok;
}

void time_gemm(Gemm& gemm, cudaStream_t stream, int64_t m, int64_t n, int64_t k, DType t) {
  void *dx = nullptr, *dw = nullptr, *dy = nullptr;
  OD_CUDA_CHECK(cudaMalloc(&dx, static_cast<size_t>(m * k * bytes_of(t))));
  OD_CUDA_CHECK(cudaMalloc(&dw, static_cast<size_t>(n * k * bytes_of(t))));
  OD_CUDA_CHECK(cudaMalloc(&dy, static_cast<size_t>(m * n * bytes_of(t))));
  OD_CUDA_CHECK(cudaMemset(dx, 0, static_cast<size_t>(m * k * bytes_of(t))));  // zeros: the speed does not depend on values
  OD_CUDA_CHECK(cudaMemset(dw, 0, static_cast<size_t>(n * k * bytes_of(t))));
  GemmKey key;
  key.ab = key.d = t;
  key.rows = m;
  key.in = k;
  key.out = n;
  key.ldx = k;
  key.ldy = n;
  gemm.prepare(key, "timing");
  for (int i = 0; i < 3; ++i) gemm.run(key, dw, dx, nullptr, dy, stream, "timing");
  cudaEvent_t start, stop;
  OD_CUDA_CHECK(cudaEventCreate(&start));
  OD_CUDA_CHECK(cudaEventCreate(&stop));
  const int iters = 20;
  OD_CUDA_CHECK(cudaEventRecord(start, stream));
  for (int i = 0; i < iters; ++i) gemm.run(key, dw, dx, nullptr, dy, stream, "timing");
  OD_CUDA_CHECK(cudaEventRecord(stop, stream));
  OD_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  OD_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  const double seconds = ms / 1e3 / iters;
  std::printf("TIME %s GEMM %lld×%lld×%lld: %.3f ms, %.1f TFLOP/s\n", name_of(t), static_cast<long long>(m),
              static_cast<long long>(n), static_cast<long long>(k), seconds * 1e3, 2.0 * m * n * k / seconds / 1e12);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(dx);
  cudaFree(dw);
  cudaFree(dy);
}

}  // namespace

int main() {
  try {
    cudaDeviceProp prop{};
    OD_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);
    OD_CUDA_CHECK(cudaSetDevice(0));
    cudaStream_t stream = nullptr;
    OD_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    Gemm gemm;
    std::mt19937 rng(1234);
    const DType F32 = DType::F32, BF16 = DType::BF16, F16 = DType::F16;
    const Case cases[] = {
        // label, ab, d, rows, in, out, bias, gelu, ldx, x_offset, ldy, y_offset
        {"f32 small", F32, F32, 64, 96, 80, false, false},
        {"f32 bias", F32, F32, 64, 96, 80, true, false},
        {"f32 bias+gelu", F32, F32, 33, 128, 72, true, true},
        {"f32 gelu, no bias", F32, F32, 17, 64, 40, false, true},
        {"f32 strided x (in_columns)", F32, F32, 50, 96, 64, true, false, 160, 32},
        {"f32 strided y (out_columns)", F32, F32, 50, 96, 64, true, false, 0, 0, 192, 64},
        {"f32 rows 2 (timestep MLP)", F32, F32, 2, 256, 1152, true, false},
        {"f32 DiT attn proj", F32, F32, 1024, 1152, 1152, true, false},
        {"bf16 small", BF16, BF16, 64, 96, 80, false, false},
        {"bf16 bias", BF16, BF16, 64, 96, 80, true, false},
        {"bf16 bias+gelu", BF16, BF16, 33, 128, 72, true, true},
        {"bf16 rows 1 (adaLN 6D)", BF16, BF16, 1, 1152, 6912, true, false},
        {"bf16 rows 2 (timestep MLP)", BF16, BF16, 2, 256, 1152, true, false},
        {"bf16 qkv k-columns (out_columns)", BF16, BF16, 256, 1152, 1152, true, false, 0, 0, 3456, 1152},
        {"bf16 head-padded proj (in_columns)", BF16, BF16, 256, 1152, 1152, true, false, 1536, 192},
        {"bf16 odd sizes", BF16, BF16, 37, 75, 53, true, true},
        {"bf16→f32 (staged)", BF16, F32, 128, 1152, 1152, false, false},
        {"bf16 DiT attn proj", BF16, BF16, 4096, 1152, 1152, true, false},
        {"bf16 DiT qkv", BF16, BF16, 4096, 1152, 3456, true, false},
        {"bf16 DiT mlp fc1 (gelu)", BF16, BF16, 4096, 1152, 4608, true, true},
        {"bf16 DiT mlp fc2", BF16, BF16, 4096, 4608, 1152, true, false},
        {"f16 bias+gelu", F16, F16, 256, 1152, 1152, true, true},
        {"f16→f32 (staged)", F16, F32, 64, 256, 128, false, false},
    };
    int failed = 0;
    for (const Case& c : cases) {
      try {
        if (!run_case(gemm, stream, c, rng)) ++failed;
      } catch (const std::exception& e) {
        std::printf("FAIL %s: %s\n", c.label, e.what());
        ++failed;
      }
    }
    time_gemm(gemm, stream, 8192, 8192, 8192, BF16);
    time_gemm(gemm, stream, 4096, 4608, 1152, BF16);
    time_gemm(gemm, stream, 4096, 1152, 4608, BF16);
    cudaStreamDestroy(stream);
    std::printf("%s: %d of %zu cases failed\n", failed ? "FAILED" : "OK", failed, sizeof(cases) / sizeof(cases[0]));
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 2;
  }
}
