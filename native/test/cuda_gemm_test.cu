// Standalone check of the CUDA backend's cuBLASLt wrapper (native/src/cuda/gemm.h) on a GPU: y = epilogue(x·Wᵀ + b)
// against a naive fp64 host GEMM over the same (dtype-rounded) inputs, for f32, bf16 and f16, with and without bias,
// GELU-tanh, strided and offset x and y (in_columns / out_columns), bf16 → f32 outputs (the staged path), and DiT
// sizes; then the residual variant the backend fuses a DiT block's linear → gate → add into (cuda/fusion.h):
// y ← g_s ⊙ (x·Wᵀ) + y + g_s ⊙ b in place, a per-sample fp32 gate vector as cuBLASLt's alpha, batched over the
// samples, with an fp32 (or, where cuBLASLt takes none, y-typed) gated bias, and the ungated y ← x·Wᵀ + b + y; then
// the bf16 throughput of an 8192³ GEMM and of the DiT shapes, plain and residual. Exit status 0 when every case
// passes.
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

// ---- the residual variant (Gemm::prepare_residual / run_residual) ----

struct ResidualCase {
  const char* label;
  DType ab, d;  // W and x; y, the residual
  int64_t rows, in, out, samples;
  bool gate, bias;
  int64_t check_every;  // the fp64 reference covers every n-th row and each sample's first and last rows (1: all)
  // > 0: y's rows are x's permuted per sample, y row (j, i) = x row (i, j) for i < permute_rows, j < the rest (the
  // temporal branch's permute back before its gate): one call per sample of one batch per j.
  int64_t permute_rows = 0;
};

int64_t round_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

// The key the backend builds (cuda/fusion.cu): alignments of the actual pointers and of the batch and call strides.
od::cuda::ResidualKey residual_key(const ResidualCase& c, DType bias_type, const void* dw, const void* dx, const void* dy,
                                   const void* db) {
  od::cuda::ResidualKey key;
  key.ab = c.ab;
  key.d = c.d;
  key.in = c.in;
  key.out = c.out;
  key.alpha_vector = c.gate;
  key.bias = c.bias;
  key.bias_type = bias_type;
  const int64_t per = c.rows / c.samples, stride = round_up(c.out, 64);
  if (c.permute_rows > 0) {
    const int64_t d1 = c.permute_rows, d2 = per / d1;
    key.rows = d1;
    key.ldx = d2 * c.in;
    key.batches = d2;
    key.batch_x = c.in;
    key.batch_y = d1 * c.out;
    key.calls = c.samples;
    key.call_x = per * c.in;
    key.call_y = per * c.out;
    key.call_vector = c.gate ? stride : 0;
  } else if (c.gate) {
    key.rows = per;
    key.ldx = c.in;
    key.batches = c.samples;
    key.batch_x = per * c.in;
    key.batch_y = per * c.out;
    key.vector_stride = stride;
  } else {
    key.rows = c.rows;
    key.ldx = c.in;
  }
  auto align = [&](const void* p, int64_t batch, int64_t call, DType t) {
    uint32_t a = od::cuda::alignment_of(reinterpret_cast<uintptr_t>(p));
    if (key.batches > 1) a = std::min(a, od::cuda::alignment_of(static_cast<uintptr_t>(batch * bytes_of(t))));
    if (key.calls > 1) a = std::min(a, od::cuda::alignment_of(static_cast<uintptr_t>(call * bytes_of(t))));
    return a;
  };
  key.align_w = od::cuda::alignment_of(reinterpret_cast<uintptr_t>(dw));
  key.align_x = align(dx, key.batch_x, key.call_x, c.ab);
  key.align_y = align(dy, key.batch_y, key.call_y, c.d);
  key.align_bias = !c.bias ? 256
                   : c.gate ? std::min<uint32_t>(256, od::cuda::alignment_of(static_cast<uintptr_t>(stride * bytes_of(bias_type))))
                            : od::cuda::alignment_of(reinterpret_cast<uintptr_t>(db));
  return key;
}

// Prepares the case's key as the backend does: a gated bias in fp32 first, then in y's dtype. Returns the bias
// dtype cuBLASLt took, or fails naming why it took none.
DType prepare_residual_case(Gemm& gemm, const ResidualCase& c, const void* dw, const void* dx, const void* dy, const void* db,
                            od::cuda::ResidualKey& key) {
  std::vector<DType> types;
  if (!c.gate) types = {c.d};  // the linear's own bias weight, stored in y's dtype
  else if (c.d == DType::F32 || !c.bias) types = {DType::F32};
  else types = {DType::F32, c.d};
  std::string why;
  for (DType t : types) {
    key = residual_key(c, t, dw, dx, dy, db);
    if (gemm.prepare_residual(key, c.label, why)) return t;
  }
  OD_FAIL(std::string(c.label) + ": " + key.describe() + ": " + why, "the backend would run these ops unfused");
}

bool run_residual_case(Gemm& gemm, cudaStream_t stream, const ResidualCase& c, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  const float w_scale = 1.0f / std::sqrt(static_cast<float>(c.in));
  const int64_t batches = c.gate ? c.samples : 1, per = c.rows / c.samples;  // bias vectors, samples' rows
  const int64_t stride = c.gate ? round_up(c.out, 64) : c.out;

  std::vector<float> x(static_cast<size_t>(c.rows * c.in)), w(static_cast<size_t>(c.out * c.in)), b(static_cast<size_t>(c.out));
  std::vector<float> y0(static_cast<size_t>(c.rows * c.out)), g(static_cast<size_t>(c.samples * c.out), 1.0f);
  for (float& v : x) v = round_to(c.ab, unit(rng));
  for (float& v : w) v = round_to(c.ab, unit(rng) * w_scale);
  for (float& v : b) v = round_to(c.d, 0.5f * unit(rng));  // a plan's bias weight is stored in its dtype
  for (float& v : y0) v = round_to(c.d, unit(rng));
  if (c.gate)
    for (float& v : g) v = unit(rng);  // gates of either sign, fp32 as the backend's gate vectors are

  std::vector<uint8_t> hx(x.size() * bytes_of(c.ab)), hw(w.size() * bytes_of(c.ab)), hy(y0.size() * bytes_of(c.d));
  for (size_t i = 0; i < x.size(); ++i) store(c.ab, hx.data(), static_cast<int64_t>(i), x[i]);
  for (size_t i = 0; i < w.size(); ++i) store(c.ab, hw.data(), static_cast<int64_t>(i), w[i]);
  for (size_t i = 0; i < y0.size(); ++i) store(c.d, hy.data(), static_cast<int64_t>(i), y0[i]);

  void *dx = nullptr, *dw = nullptr, *dy = nullptr, *db = nullptr, *dg = nullptr;
  OD_CUDA_CHECK(cudaMalloc(&dx, hx.size()));
  OD_CUDA_CHECK(cudaMalloc(&dw, hw.size()));
  OD_CUDA_CHECK(cudaMalloc(&dy, hy.size()));
  OD_CUDA_CHECK(cudaMalloc(&db, static_cast<size_t>(batches * stride) * 4));
  OD_CUDA_CHECK(cudaMalloc(&dg, static_cast<size_t>(batches * stride) * 4));
  OD_CUDA_CHECK(cudaMemcpy(dx, hx.data(), hx.size(), cudaMemcpyHostToDevice));
  OD_CUDA_CHECK(cudaMemcpy(dw, hw.data(), hw.size(), cudaMemcpyHostToDevice));
  OD_CUDA_CHECK(cudaMemcpy(dy, hy.data(), hy.size(), cudaMemcpyHostToDevice));

  od::cuda::ResidualKey key;
  const DType bias_type = prepare_residual_case(gemm, c, dw, dx, dy, db, key);
  // The bias the GEMM reads: gated, g_s ⊙ b per sample rounded to the bias dtype (what cuda/fusion.cu's kernel
  // writes); ungated, b itself. The reference uses exactly these values.
  std::vector<float> gb(static_cast<size_t>(batches * stride), 0.0f);
  std::vector<uint8_t> hb(gb.size() * bytes_of(bias_type), 0), hg(gb.size() * 4, 0);
  for (int64_t s = 0; s < batches; ++s)
    for (int64_t j = 0; j < c.out; ++j) {
      const size_t i = static_cast<size_t>(s * stride + j);
      const float gv = g[static_cast<size_t>(s * c.out + j)];
      gb[i] = round_to(bias_type, c.gate ? gv * b[static_cast<size_t>(j)] : b[static_cast<size_t>(j)]);
      store(bias_type, hb.data(), static_cast<int64_t>(i), gb[i]);
      store(DType::F32, hg.data(), static_cast<int64_t>(i), gv);
    }
  OD_CUDA_CHECK(cudaMemcpy(db, hb.data(), hb.size(), cudaMemcpyHostToDevice));
  OD_CUDA_CHECK(cudaMemcpy(dg, hg.data(), hg.size(), cudaMemcpyHostToDevice));
  gemm.run_residual(key, dw, dx, c.gate ? static_cast<const float*>(dg) : nullptr, c.bias ? db : nullptr, dy, stream, c.label);
  OD_CUDA_CHECK(cudaStreamSynchronize(stream));
  OD_CUDA_CHECK(cudaMemcpy(hy.data(), dy, hy.size(), cudaMemcpyDeviceToHost));

  double max_ref = 0, max_err = 0;
  int64_t nonfinite = 0, checked = 0;
  for (int64_t i = 0; i < c.rows * c.out; ++i)
    if (!std::isfinite(load(c.d, hy.data(), i))) ++nonfinite;
  for (int64_t r = 0; r < c.rows; ++r) {
    const int64_t s = r / per, in_sample = r % per;
    if (!(in_sample % c.check_every == 0 || in_sample == per - 1)) continue;
    ++checked;
    const int64_t bs = c.gate ? s : 0;
    // Permuted: y row (j, i) of the sample reads its x row (i, j).
    const int64_t d1 = c.permute_rows, d2 = d1 > 0 ? per / d1 : 0;
    const int64_t xrow = d1 > 0 ? s * per + (in_sample % d1) * d2 + in_sample / d1 : r;
    const float* xr = x.data() + xrow * c.in;
    for (int64_t j = 0; j < c.out; ++j) {
      const float* wr = w.data() + j * c.in;
      double dot = 0;
      for (int64_t k = 0; k < c.in; ++k) dot += static_cast<double>(xr[k]) * wr[k];
      const double gate = c.gate ? g[static_cast<size_t>(s * c.out + j)] : 1.0;
      const double want = y0[static_cast<size_t>(r * c.out + j)] + gate * dot + (c.bias ? gb[static_cast<size_t>(bs * stride + j)] : 0.0);
      max_ref = std::max(max_ref, std::fabs(want));
      max_err = std::max(max_err, std::fabs(load(c.d, hy.data(), r * c.out + j) - want));
    }
  }
  const double rel = max_ref > 0 ? max_err / max_ref : max_err;
  const double bound = c.d == DType::F32 && c.ab == DType::F32 ? 1e-5 : 1e-2;
  const bool ok = rel <= bound && nonfinite == 0;
  std::printf("%-4s %-44s %s→%s rows %5lld (%lld samples%s) in %5lld out %5lld, bias %s, %lld rows checked: max rel err %.3e (bound %.0e)%s\n",
              ok ? "PASS" : "FAIL", c.label, name_of(c.ab), name_of(c.d), static_cast<long long>(c.rows), static_cast<long long>(c.samples),
              c.permute_rows > 0 ? ", permuted" : "",
              static_cast<long long>(c.in), static_cast<long long>(c.out), c.bias ? name_of(bias_type) : "none",
              static_cast<long long>(checked), rel, bound,
              nonfinite ? (", " + std::to_string(nonfinite) + " non-finite outputs").c_str() : "");
  cudaFree(dx);
  cudaFree(dw);
  cudaFree(dy);
  cudaFree(db);
  cudaFree(dg);
  return ok;
}

// The residual GEMM's time against the plain GEMM of the same shape (with its bias epilogue): what fusing the gate and
// the residual add costs the GEMM (the unfused path adds a gate + add pass reading and writing rows × out twice).
void time_residual(Gemm& gemm, cudaStream_t stream, int64_t m, int64_t n, int64_t k, int64_t samples) {
  const ResidualCase c{"timing", DType::BF16, DType::BF16, m, k, n, samples, true, true, 1, 0};
  void *dx = nullptr, *dw = nullptr, *dy = nullptr, *db = nullptr, *dg = nullptr;
  const size_t vectors = static_cast<size_t>(samples * round_up(n, 64)) * 4;
  OD_CUDA_CHECK(cudaMalloc(&dx, static_cast<size_t>(m * k * 2)));
  OD_CUDA_CHECK(cudaMalloc(&dw, static_cast<size_t>(n * k * 2)));
  OD_CUDA_CHECK(cudaMalloc(&dy, static_cast<size_t>(m * n * 2)));
  OD_CUDA_CHECK(cudaMalloc(&db, vectors));
  OD_CUDA_CHECK(cudaMalloc(&dg, vectors));
  OD_CUDA_CHECK(cudaMemset(dx, 0, static_cast<size_t>(m * k * 2)));
  OD_CUDA_CHECK(cudaMemset(dw, 0, static_cast<size_t>(n * k * 2)));
  OD_CUDA_CHECK(cudaMemset(dy, 0, static_cast<size_t>(m * n * 2)));
  OD_CUDA_CHECK(cudaMemset(db, 0, vectors));
  OD_CUDA_CHECK(cudaMemset(dg, 0, vectors));
  od::cuda::ResidualKey key;
  prepare_residual_case(gemm, c, dw, dx, dy, db, key);
  GemmKey plain;
  plain.ab = plain.d = DType::BF16;
  plain.rows = m;
  plain.in = plain.ldx = k;
  plain.out = plain.ldy = n;
  plain.epilogue = Epilogue::Bias;
  gemm.prepare(plain, "timing");
  cudaEvent_t start, stop;
  OD_CUDA_CHECK(cudaEventCreate(&start));
  OD_CUDA_CHECK(cudaEventCreate(&stop));
  const int iters = 20;
  double ms[2] = {0, 0};
  for (int variant = 0; variant < 2; ++variant) {
    auto once = [&] {
      if (variant == 0) gemm.run(plain, dw, dx, db, dy, stream, "timing");
      else gemm.run_residual(key, dw, dx, static_cast<const float*>(dg), db, dy, stream, "timing");
    };
    for (int i = 0; i < 3; ++i) once();
    OD_CUDA_CHECK(cudaEventRecord(start, stream));
    for (int i = 0; i < iters; ++i) once();
    OD_CUDA_CHECK(cudaEventRecord(stop, stream));
    OD_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    OD_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms[variant] = t / iters;
  }
  std::printf("TIME bf16 %lld×%lld×%lld, %lld samples: plain GEMM + bias %.3f ms, residual GEMM (gate vectors, gated %s bias, y in place) %.3f ms\n",
              static_cast<long long>(m), static_cast<long long>(n), static_cast<long long>(k), static_cast<long long>(samples), ms[0],
              name_of(key.bias_type), ms[1]);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(dx);
  cudaFree(dw);
  cudaFree(dy);
  cudaFree(db);
  cudaFree(dg);
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
    const ResidualCase residual_cases[] = {
        // label, ab, d, rows, in, out, samples, gate, bias, check_every, permute_rows
        {"bf16 gated attn proj (STDiT 16x512²)", BF16, BF16, 32768, 1152, 1152, 2, true, true, 61},
        {"bf16 gated mlp fc2 (STDiT 16x512²)", BF16, BF16, 32768, 4608, 1152, 2, true, true, 61},
        {"bf16 gated temporal proj, permuted back", BF16, BF16, 32768, 1152, 1152, 2, true, true, 61, 1024},
        {"f32 gated temporal proj, permuted back", F32, F32, 32768, 1152, 1152, 2, true, true, 61, 1024},
        {"bf16 gated permuted odd sizes", BF16, BF16, 3 * 7 * 5, 75, 53, 3, true, true, 1, 7},
        {"f32 gated attn proj", F32, F32, 32768, 1152, 1152, 2, true, true, 61},
        {"f32 gated mlp fc2", F32, F32, 32768, 4608, 1152, 2, true, true, 61},
        {"bf16 gated odd sizes", BF16, BF16, 111, 75, 53, 3, true, true, 1},
        {"f32 gated odd sizes", F32, F32, 111, 75, 53, 3, true, true, 1},
        {"f16 gated odd sizes", F16, F16, 111, 75, 53, 3, true, true, 1},
        {"bf16 gated, no bias", BF16, BF16, 512, 1152, 1152, 2, true, false, 3},
        {"bf16 gated, one sample", BF16, BF16, 1024, 1152, 1152, 1, true, true, 5},
        {"bf16 ungated (cross-attn proj)", BF16, BF16, 32768, 1152, 1152, 1, false, true, 61},
        {"f32 ungated odd sizes", F32, F32, 111, 75, 53, 1, false, true, 1},
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
    for (const ResidualCase& c : residual_cases) {
      try {
        if (!run_residual_case(gemm, stream, c, rng)) ++failed;
      } catch (const std::exception& e) {
        std::printf("FAIL %s: %s\n", c.label, e.what());
        ++failed;
      }
    }
    time_gemm(gemm, stream, 8192, 8192, 8192, BF16);
    time_gemm(gemm, stream, 4096, 4608, 1152, BF16);
    time_gemm(gemm, stream, 4096, 1152, 4608, BF16);
    try {
      time_residual(gemm, stream, 32768, 1152, 1152, 2);
      time_residual(gemm, stream, 32768, 1152, 4608, 2);
    } catch (const std::exception& e) {
      std::printf("FAIL residual timing: %s\n", e.what());
      ++failed;
    }
    cudaStreamDestroy(stream);
    const size_t total = sizeof(cases) / sizeof(cases[0]) + sizeof(residual_cases) / sizeof(residual_cases[0]);
    std::printf("%s: %d of %zu cases failed\n", failed ? "FAILED" : "OK", failed, total);
    return failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 2;
  }
}
