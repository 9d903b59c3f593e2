// Standalone GPU test of the VAE decoder's CUDA kernels (native/src/cuda/decode_kernels.h) against host references
// in double, on fresh random inputs rounded to the storage dtype (what the device holds), then their timing at the
// SD-VAE decoder's 512x512 shapes. Build and run from the repository root on a machine with a GPU and cuBLASLt:
//
//   nvcc -std=c++17 -arch=sm_90 -O3 -Inative/src native/test/cuda_vae_test.cu native/src/cuda/conv2d_kernel.cu
//        native/src/cuda/group_norm_kernel.cu native/src/cuda/upsample_nearest_kernel.cu
//        native/src/cuda/attention_gemm.cu native/src/cuda/gemm.cu native/src/core/error.cpp -lcublasLt
//        -o /tmp/cuda_vae_test && /tmp/cuda_vae_test
//
// Cases (bf16 and fp32; f32 bound 1e-4, bf16 1e-2 on max |gpu − ref| / max |ref| over the checked values):
// - conv2d kernel 1 and 3 (the tap-major gather on its 16-byte path and its value-by-value path: 4 input channels,
//   as decoder.conv_in), with and without bias, an f32 out from bf16 weights with a bf16 bias (the staged path), f32 x
//   into bf16 weights (the converting gather), several chunks (128x128 rows of 256 channels exceed the 64 MiB
//   columns budget), and the patch-parallel band arithmetic: the image split into 2 and 3 bands, each band run
//   with the rows above / below it as halo pointers (what cuda/conv2d.cu receives over NCCL), compared with the
//   whole image's convolution at the band's global rows (image border rows, band seams and interior checked).
// - group_norm with and without SiLU, 16-byte and value-by-value paths, inputs with a large mean (|mean| / std = 40:
//   the sum-of-squares variance must not cancel), 512x512x128 (the decoder's last level), and 2 and 4 bands whose
//   statistics triples are summed on the host between the two phases (what the NCCL all-reduce does).
// - upsample_nearest ×2 (exact: the values are copied).
// - the GEMM attention (head dim 512, 1 and 2 heads, with a mask, a sample without any valid key, and 16384 keys in
//   several query chunks) for sampled query rows.
// Exit status 1 when a case fails. Timings: median of 10 runs after 2 warm-ups, with TFLOP/s or GB/s.
//
// gpu-check-sources: native/src/cuda/conv2d_kernel.cu native/src/cuda/group_norm_kernel.cu native/src/cuda/upsample_nearest_kernel.cu native/src/cuda/attention_gemm.cu native/src/cuda/gemm.cu native/src/core/error.cpp
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/decode_kernels.h"
#include "cuda/gemm.h"

using od::DType;
using od::cuda::AttentionGemmArgs;
using od::cuda::Conv2dArgs;
using od::cuda::Gemm;
using od::cuda::GroupNormArgs;
using od::cuda::UpsampleArgs;

namespace {

const DType F32 = DType::F32, BF16 = DType::BF16;

uint64_t rng_state = 1;
double uniform() {  // [−1, 1)
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return static_cast<double>((rng_state >> 11) & ((1ull << 53) - 1)) / static_cast<double>(1ull << 52) - 1.0;
}

int esize(DType t) { return t == DType::F32 ? 4 : 2; }
const char* tname(DType t) { return t == DType::F32 ? "f32" : t == DType::BF16 ? "bf16" : "f16"; }

float round_to(DType t, float v) {
  if (t == DType::BF16) return __bfloat162float(__float2bfloat16_rn(v));
  if (t == DType::F16) return __half2float(__float2half_rn(v));
  return v;
}

std::vector<unsigned char> encode(const std::vector<float>& v, DType t) {
  std::vector<unsigned char> bytes(v.size() * esize(t));
  for (size_t i = 0; i < v.size(); i++) {
    if (t == DType::BF16) {
      const __nv_bfloat16 b = __float2bfloat16_rn(v[i]);
      std::memcpy(&bytes[i * 2], &b, 2);
    } else if (t == DType::F16) {
      const __half b = __float2half_rn(v[i]);
      std::memcpy(&bytes[i * 2], &b, 2);
    } else {
      std::memcpy(&bytes[i * 4], &v[i], 4);
    }
  }
  return bytes;
}

std::vector<float> decode(const std::vector<unsigned char>& bytes, DType t) {
  std::vector<float> out(bytes.size() / esize(t));
  for (size_t i = 0; i < out.size(); i++) {
    if (t == DType::BF16) {
      __nv_bfloat16 b;
      std::memcpy(&b, &bytes[i * 2], 2);
      out[i] = __bfloat162float(b);
    } else if (t == DType::F16) {
      __half b;
      std::memcpy(&b, &bytes[i * 2], 2);
      out[i] = __half2float(b);
    } else {
      std::memcpy(&out[i], &bytes[i * 4], 4);
    }
  }
  return out;
}

// Device memory freed at scope end.
struct Dev {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit Dev(size_t n) : bytes(n) {
    if (n) OD_CUDA_CHECK(cudaMalloc(&ptr, n));
  }
  ~Dev() { cudaFree(ptr); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
};

// Host values (already rounded to t) and their device copy.
struct Tensor {
  std::vector<float> host;
  DType dtype;
  Dev dev;
  Tensor(std::vector<float> values, DType t) : host(std::move(values)), dtype(t), dev(host.size() * esize(t)) {
    for (float& v : host) v = round_to(t, v);
    const std::vector<unsigned char> bytes = encode(host, t);
    if (!bytes.empty()) OD_CUDA_CHECK(cudaMemcpy(dev.ptr, bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
  }
  Tensor(size_t n, DType t) : host(n, 0.0f), dtype(t), dev(n * esize(t)) {
    if (n) OD_CUDA_CHECK(cudaMemset(dev.ptr, 0, n * esize(t)));
  }
  std::vector<float> download() const {
    std::vector<unsigned char> bytes(host.size() * esize(dtype));
    if (!bytes.empty()) OD_CUDA_CHECK(cudaMemcpy(bytes.data(), dev.ptr, bytes.size(), cudaMemcpyDeviceToHost));
    return decode(bytes, dtype);
  }
};

std::vector<float> randoms(size_t n, double amp, double offset = 0) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(offset + amp * uniform());
  return v;
}

// max |got − ref| / max |ref| over the values compared, and whether every value was finite.
struct Error {
  double max_err = 0, max_ref = 0;
  int64_t nonfinite = 0, compared = 0;
  void add(double got, double ref) {
    if (!std::isfinite(got)) ++nonfinite;
    max_err = std::max(max_err, std::fabs(got - ref));
    max_ref = std::max(max_ref, std::fabs(ref));
    ++compared;
  }
  double rel() const { return max_ref > 0 ? max_err / max_ref : max_err; }
};

int failures = 0;

bool report(const std::string& name, DType t, const Error& e, double bound_bf16 = 1e-2, double bound_f32 = 1e-4) {
  const double bound = t == DType::F32 ? bound_f32 : bound_bf16;
  const bool ok = e.rel() <= bound && e.nonfinite == 0 && e.compared > 0;
  std::printf("%s %-58s %-4s max rel err %.3e (bound %.0e) over %lld values%s\n", ok ? "PASS" : "FAIL", name.c_str(), tname(t), e.rel(), bound,
              static_cast<long long>(e.compared), e.nonfinite ? (", " + std::to_string(e.nonfinite) + " non-finite").c_str() : "");
  if (!ok) ++failures;
  return ok;
}

// Median ms of `iters` timed calls after 2 warm-ups.
double time_ms(cudaStream_t stream, const std::function<void()>& call, int iters = 10) {
  for (int i = 0; i < 2; ++i) call();
  cudaEvent_t a, b;
  OD_CUDA_CHECK(cudaEventCreate(&a));
  OD_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < iters; ++i) {
    OD_CUDA_CHECK(cudaEventRecord(a, stream));
    call();
    OD_CUDA_CHECK(cudaEventRecord(b, stream));
    OD_CUDA_CHECK(cudaEventSynchronize(b));
    float m = 0;
    OD_CUDA_CHECK(cudaEventElapsedTime(&m, a, b));
    ms.push_back(m);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// ---------------------------------------------------------------------------------------------- conv2d

struct ConvCase {
  std::string name;
  DType x = BF16, w = BF16, bias = BF16, out = BF16;
  bool has_bias = true;
  int64_t frames = 1, height = 8, width = 8, cin = 32, cout = 32, kernel = 3;
  int bands = 1;          // the image's rows split into this many bands, each run with its halo rows
  int64_t row_step = 1;   // check every row_step-th pixel
  bool edges = true;      // and every pixel of the image's and each band's first and last two rows
  bool time = false;
};

bool conv_case(Gemm& gemm, cudaStream_t stream, const ConvCase& c) {
  const int64_t F = c.frames, H = c.height, W = c.width, Ci = c.cin, Co = c.cout, K = c.kernel, P = K / 2;
  rng_state = 0x1234 + static_cast<uint64_t>(H * 131 + Ci * 7 + Co);
  std::vector<float> xh = randoms(static_cast<size_t>(F * H * W * Ci), 1.0);
  for (float& v : xh) v = round_to(c.x, v);
  const Tensor wt(randoms(static_cast<size_t>(Co * Ci * K * K), 1.0 / std::sqrt(static_cast<double>(Ci * K * K))), c.w);
  const Tensor bt(randoms(static_cast<size_t>(Co), 0.5), c.bias);
  const auto xin = [&](int64_t f, int64_t h, int64_t w, int64_t ci) -> double {
    if (h < 0 || h >= H || w < 0 || w >= W) return 0.0;
    return xh[static_cast<size_t>(((f * H + h) * W + w) * Ci + ci)];
  };
  const auto ref = [&](int64_t f, int64_t h, int64_t w, int64_t co) {
    double s = c.has_bias ? bt.host[static_cast<size_t>(co)] : 0.0;
    for (int64_t ci = 0; ci < Ci; ++ci)
      for (int64_t dy = 0; dy < K; ++dy)
        for (int64_t dx = 0; dx < K; ++dx)
          s += xin(f, h + dy - P, w + dx - P, ci) * static_cast<double>(wt.host[static_cast<size_t>(((co * Ci + ci) * K + dy) * K + dx)]);
    return s;
  };

  const int64_t Hb = H / c.bands;
  Error e;
  double ms = 0;
  for (int b = 0; b < c.bands; ++b) {
    const int64_t h0 = b * Hb;
    std::vector<float> band(static_cast<size_t>(F * Hb * W * Ci)), top(static_cast<size_t>(F * W * Ci)), bottom(top.size());
    for (int64_t f = 0; f < F; ++f) {
      std::memcpy(&band[static_cast<size_t>(f * Hb * W * Ci)], &xh[static_cast<size_t>((f * H + h0) * W * Ci)], static_cast<size_t>(Hb * W * Ci) * 4);
      if (b > 0) std::memcpy(&top[static_cast<size_t>(f * W * Ci)], &xh[static_cast<size_t>((f * H + h0 - 1) * W * Ci)], static_cast<size_t>(W * Ci) * 4);
      if (b + 1 < c.bands)
        std::memcpy(&bottom[static_cast<size_t>(f * W * Ci)], &xh[static_cast<size_t>((f * H + h0 + Hb) * W * Ci)], static_cast<size_t>(W * Ci) * 4);
    }
    const Tensor xb(band, c.x), tb(top, c.x), bb(bottom, c.x);
    Tensor out(static_cast<size_t>(F * Hb * W * Co), c.out);
    Conv2dArgs a;
    a.x = xb.dev.ptr;
    a.x_dtype = c.x;
    a.weight = wt.dev.ptr;
    a.weight_dtype = c.w;
    a.bias = c.has_bias ? bt.dev.ptr : nullptr;
    a.bias_dtype = c.bias;
    a.out = out.dev.ptr;
    a.out_dtype = c.out;
    a.frames = F;
    a.height = Hb;
    a.width = W;
    a.in_channels = Ci;
    a.out_channels = Co;
    a.kernel = K;
    a.halo_top = b > 0 ? tb.dev.ptr : nullptr;
    a.halo_bottom = b + 1 < c.bands ? bb.dev.ptr : nullptr;
    const od::cuda::Conv2dLayout layout = od::cuda::conv2d_layout(a);
    Dev scratch(layout.bytes);
    od::cuda::prepare_conv2d_gemms(a, gemm, c.name);
    od::cuda::launch_conv2d(a, gemm, scratch.ptr, scratch.bytes, stream, c.name);
    OD_CUDA_CHECK(cudaStreamSynchronize(stream));
    const std::vector<float> got = out.download();
    for (int64_t f = 0; f < F; ++f)
      for (int64_t h = 0; h < Hb; ++h)
        for (int64_t w = 0; w < W; ++w) {
          const int64_t gh = h0 + h, pixel = (f * Hb + h) * W + w;
          const bool edge = c.edges && (gh < 2 || gh >= H - 2 || h < 2 || h >= Hb - 2);
          if (!edge && pixel % c.row_step != 0) continue;
          for (int64_t co = 0; co < Co; ++co) e.add(got[static_cast<size_t>(pixel * Co + co)], ref(f, gh, w, co));
        }
    if (c.time && b == 0)
      ms = time_ms(stream, [&] { od::cuda::launch_conv2d(a, gemm, scratch.ptr, scratch.bytes, stream, c.name); });
    if (c.time && b == 0)
      std::printf("     %s: %d chunk(s) of %lld rows, %.1f MiB scratch\n", c.name.c_str(),
                  static_cast<int>((layout.rows + layout.chunk_rows - 1) / layout.chunk_rows), static_cast<long long>(layout.chunk_rows),
                  layout.bytes / 1048576.0);
  }
  const bool ok = report(c.name, c.out == F32 && c.w == F32 ? F32 : BF16, e);
  if (c.time) {
    const double flops = 2.0 * F * Hb * W * Co * Ci * K * K;
    std::printf("TIME conv2d %-44s %8.3f ms %7.1f TFLOP/s\n", c.name.c_str(), ms, flops / (ms * 1e-3) / 1e12);
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------- group_norm

struct NormCase {
  std::string name;
  DType t = BF16;
  int64_t frames = 1, height = 16, width = 16, channels = 128, groups = 32;
  bool silu = true;
  double offset = 0, amp = 1;  // inputs offset + amp·U(−1, 1)
  int bands = 1;
  bool time = false;
};

bool norm_case(cudaStream_t stream, const NormCase& c) {
  const int64_t F = c.frames, H = c.height, W = c.width, C = c.channels, G = c.groups, cg = C / G;
  rng_state = 0x9876 + static_cast<uint64_t>(H * 17 + C);
  std::vector<float> xh = randoms(static_cast<size_t>(F * H * W * C), c.amp, c.offset);
  for (float& v : xh) v = round_to(c.t, v);
  std::vector<float> wv = randoms(static_cast<size_t>(C), 0.2, 1.0), bv = randoms(static_cast<size_t>(C), 0.2);
  const Tensor weight(wv, c.t), bias(bv, c.t);
  const double eps = 1e-6;
  // Reference statistics per (frame, group) in double, two passes.
  std::vector<double> mean(static_cast<size_t>(F * G)), rstd(static_cast<size_t>(F * G));
  for (int64_t f = 0; f < F; ++f)
    for (int64_t g = 0; g < G; ++g) {
      double s = 0;
      for (int64_t p = 0; p < H * W; ++p)
        for (int64_t k = 0; k < cg; ++k) s += xh[static_cast<size_t>((f * H * W + p) * C + g * cg + k)];
      const double n = static_cast<double>(H * W * cg), m = s / n;
      double v = 0;
      for (int64_t p = 0; p < H * W; ++p)
        for (int64_t k = 0; k < cg; ++k) {
          const double d = xh[static_cast<size_t>((f * H * W + p) * C + g * cg + k)] - m;
          v += d * d;
        }
      mean[static_cast<size_t>(f * G + g)] = m;
      rstd[static_cast<size_t>(f * G + g)] = 1.0 / std::sqrt(v / n + eps);
    }

  const int64_t Hb = H / c.bands;
  std::vector<std::unique_ptr<Tensor>> xs, outs;
  std::vector<std::unique_ptr<Dev>> scratch;
  std::vector<GroupNormArgs> args;
  for (int b = 0; b < c.bands; ++b) {
    std::vector<float> band(static_cast<size_t>(F * Hb * W * C));
    for (int64_t f = 0; f < F; ++f)
      std::memcpy(&band[static_cast<size_t>(f * Hb * W * C)], &xh[static_cast<size_t>((f * H + b * Hb) * W * C)], static_cast<size_t>(Hb * W * C) * 4);
    xs.push_back(std::make_unique<Tensor>(band, c.t));
    outs.push_back(std::make_unique<Tensor>(band.size(), c.t));
    GroupNormArgs a;
    a.x = xs.back()->dev.ptr;
    a.x_dtype = c.t;
    a.weight = weight.dev.ptr;
    a.weight_dtype = c.t;
    a.bias = bias.dev.ptr;
    a.bias_dtype = c.t;
    a.out = outs.back()->dev.ptr;
    a.out_dtype = c.t;
    a.frames = F;
    a.height = Hb;
    a.width = W;
    a.channels = C;
    a.groups = G;
    a.eps = eps;
    a.silu = c.silu;
    args.push_back(a);
    scratch.push_back(std::make_unique<Dev>(od::cuda::group_norm_layout(a).bytes));
  }
  // Phase 1 on every band; the bands' triples summed (what ncclAllReduce does) into every band's totals.
  const size_t triples = static_cast<size_t>(F * G * 3);
  std::vector<double> sum(triples, 0.0), part(triples);
  std::vector<double*> totals;
  for (int b = 0; b < c.bands; ++b) totals.push_back(od::cuda::group_norm_statistics(args[b], scratch[b]->ptr, stream));
  if (c.bands > 1) {
    for (int b = 0; b < c.bands; ++b) {
      OD_CUDA_CHECK(cudaMemcpyAsync(part.data(), totals[b], triples * sizeof(double), cudaMemcpyDeviceToHost, stream));
      OD_CUDA_CHECK(cudaStreamSynchronize(stream));
      for (size_t i = 0; i < triples; ++i) sum[i] += part[i];
    }
    for (int b = 0; b < c.bands; ++b)
      OD_CUDA_CHECK(cudaMemcpyAsync(totals[b], sum.data(), triples * sizeof(double), cudaMemcpyHostToDevice, stream));
  }
  for (int b = 0; b < c.bands; ++b) od::cuda::group_norm_apply(args[b], scratch[b]->ptr, stream);
  OD_CUDA_CHECK(cudaStreamSynchronize(stream));

  Error e;
  for (int b = 0; b < c.bands; ++b) {
    const std::vector<float> got = outs[b]->download();
    for (int64_t f = 0; f < F; ++f)
      for (int64_t p = 0; p < Hb * W; ++p)
        for (int64_t ch = 0; ch < C; ++ch) {
          const size_t gi = static_cast<size_t>(((f * H + b * Hb) * W + p) * C + ch);
          const int64_t g = ch / cg;
          double y = (xh[gi] - mean[static_cast<size_t>(f * G + g)]) * rstd[static_cast<size_t>(f * G + g)] * wv[static_cast<size_t>(ch)] +
                     bv[static_cast<size_t>(ch)];
          if (c.silu) y = y / (1 + std::exp(-y));
          e.add(got[static_cast<size_t>((f * Hb * W + p) * C + ch)], y);
        }
  }
  // The reference uses the rounded weights, like the device.
  const bool ok = report(c.name, c.t, e);
  if (c.time) {
    const GroupNormArgs& a = args[0];
    const double ms = time_ms(stream, [&] {
      od::cuda::group_norm_statistics(a, scratch[0]->ptr, stream);
      od::cuda::group_norm_apply(a, scratch[0]->ptr, stream);
    });
    const double bytes = 3.0 * static_cast<double>(F * Hb * W * C) * esize(c.t);  // read twice, write once
    std::printf("TIME group_norm %-40s %8.3f ms %7.1f GB/s\n", c.name.c_str(), ms, bytes / (ms * 1e-3) / 1e9);
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------- upsample

bool upsample_case(cudaStream_t stream, const std::string& name, DType t, int64_t F, int64_t H, int64_t W, int64_t C, int64_t k, bool time) {
  rng_state = 0x5555 + static_cast<uint64_t>(C);
  const Tensor x(randoms(static_cast<size_t>(F * H * W * C), 1.0), t);
  Tensor out(static_cast<size_t>(F * H * k * W * k * C), t);
  UpsampleArgs a;
  a.x = x.dev.ptr;
  a.x_dtype = t;
  a.out = out.dev.ptr;
  a.out_dtype = t;
  a.frames = F;
  a.height = H;
  a.width = W;
  a.channels = C;
  a.factor = k;
  od::cuda::launch_upsample_nearest(a, stream);
  OD_CUDA_CHECK(cudaStreamSynchronize(stream));
  const std::vector<float> got = out.download();
  Error e;
  for (int64_t f = 0; f < F; ++f)
    for (int64_t h = 0; h < H * k; ++h)
      for (int64_t w = 0; w < W * k; ++w)
        for (int64_t c = 0; c < C; ++c)
          e.add(got[static_cast<size_t>(((f * H * k + h) * W * k + w) * C + c)], x.host[static_cast<size_t>(((f * H + h / k) * W + w / k) * C + c)]);
  const bool ok = report(name, t, e, 0.0, 0.0);  // a copy: exact
  if (time) {
    const double ms = time_ms(stream, [&] { od::cuda::launch_upsample_nearest(a, stream); });
    const double bytes = static_cast<double>(F * H * W * C) * esize(t) * (1 + k * k);
    std::printf("TIME upsample %-42s %8.3f ms %7.1f GB/s\n", name.c_str(), ms, bytes / (ms * 1e-3) / 1e9);
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------- attention

struct AttentionCase {
  std::string name;
  DType t = BF16;
  int64_t samples = 1, queries = 256, keys = 256, heads = 1, hd = 512;
  bool mask = false;  // scattered masked keys; the last sample (when more than one) has none valid
  int64_t rows_checked = 0;  // query rows checked per (sample, head), spread over the queries; 0 = all
  bool time = false;
};

bool attention_case(Gemm& gemm, cudaStream_t stream, const AttentionCase& c) {
  const int64_t S = c.samples, Q = c.queries, K = c.keys, Hh = c.heads, D = c.hd, Wd = Hh * D;
  rng_state = 0x4242 + static_cast<uint64_t>(K + D);
  const Tensor q(randoms(static_cast<size_t>(S * Q * Wd), 1.0), c.t), kv(randoms(static_cast<size_t>(S * K * 2 * Wd), 1.0), c.t);
  Tensor out(static_cast<size_t>(S * Q * Wd), c.t);
  std::vector<int32_t> mask(static_cast<size_t>(S * K), 1);
  if (c.mask) {
    for (int64_t s = 0; s < S; ++s)
      for (int64_t j = 0; j < K; ++j) mask[static_cast<size_t>(s * K + j)] = (S > 1 && s == S - 1) ? 0 : ((j * 7 + s) % 5 != 0);
  }
  Dev mask_dev(mask.size() * 4);
  OD_CUDA_CHECK(cudaMemcpy(mask_dev.ptr, mask.data(), mask.size() * 4, cudaMemcpyHostToDevice));
  AttentionGemmArgs a;
  a.q = q.dev.ptr;
  a.q_dtype = c.t;
  a.kv = kv.dev.ptr;
  a.kv_dtype = c.t;
  a.mask = c.mask ? static_cast<const int32_t*>(mask_dev.ptr) : nullptr;
  a.out = out.dev.ptr;
  a.out_dtype = c.t;
  a.samples = S;
  a.queries = Q;
  a.keys = K;
  a.heads = Hh;
  a.head_dim = D;
  a.scale = 1.0 / std::sqrt(static_cast<double>(D));
  const od::cuda::AttentionGemmLayout layout = od::cuda::attention_gemm_layout(a);
  Dev scratch(layout.bytes);
  od::cuda::prepare_attention_gemms(a, gemm, c.name);
  od::cuda::launch_attention_gemm(a, gemm, scratch.ptr, scratch.bytes, stream, c.name);
  OD_CUDA_CHECK(cudaStreamSynchronize(stream));
  const std::vector<float> got = out.download();
  Error e;
  std::vector<double> scores(static_cast<size_t>(K));
  std::vector<int64_t> rows;
  const int64_t step = c.rows_checked > 0 ? std::max<int64_t>(1, Q / c.rows_checked) : 1;
  for (int64_t i = 0; i < Q; i += step) rows.push_back(i);
  if (rows.back() != Q - 1) rows.push_back(Q - 1);
  std::vector<double> weights(static_cast<size_t>(K));
  for (int64_t s = 0; s < S; ++s)
    for (int64_t h = 0; h < Hh; ++h)
      for (const int64_t i : rows) {
        const float* qi = &q.host[static_cast<size_t>((s * Q + i) * Wd + h * D)];
        double mx = -INFINITY;
        for (int64_t j = 0; j < K; ++j) {
          if (!mask[static_cast<size_t>(s * K + j)]) continue;
          const float* kj = &kv.host[static_cast<size_t>((s * K + j) * 2 * Wd + h * D)];
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += static_cast<double>(qi[d]) * kj[d];
          scores[static_cast<size_t>(j)] = dot * a.scale;
          mx = std::max(mx, scores[static_cast<size_t>(j)]);
        }
        double total = 0;
        for (int64_t j = 0; j < K; ++j) {
          weights[static_cast<size_t>(j)] = mask[static_cast<size_t>(s * K + j)] ? std::exp(scores[static_cast<size_t>(j)] - mx) : 0.0;
          total += weights[static_cast<size_t>(j)];
        }
        std::vector<double> o(static_cast<size_t>(D), 0.0);
        if (total > 0)
          for (int64_t j = 0; j < K; ++j) {
            if (weights[static_cast<size_t>(j)] == 0) continue;
            const double wj = weights[static_cast<size_t>(j)] / total;
            const float* vj = &kv.host[static_cast<size_t>((s * K + j) * 2 * Wd + Wd + h * D)];
            for (int64_t d = 0; d < D; ++d) o[static_cast<size_t>(d)] += wj * vj[d];
          }
        for (int64_t d = 0; d < D; ++d) e.add(got[static_cast<size_t>((s * Q + i) * Wd + h * D + d)], o[static_cast<size_t>(d)]);
      }
  const bool ok = report(c.name, c.t, e);
  if (c.time) {
    const double ms = time_ms(stream, [&] { od::cuda::launch_attention_gemm(a, gemm, scratch.ptr, scratch.bytes, stream, c.name); });
    const double flops = 4.0 * S * Hh * Q * K * D;
    std::printf("TIME attention %-41s %8.3f ms %7.1f TFLOP/s (%lld queries a chunk, %.0f MiB scratch)\n", c.name.c_str(), ms,
                flops / (ms * 1e-3) / 1e12, static_cast<long long>(layout.chunk), layout.bytes / 1048576.0);
  }
  return ok;
}

}  // namespace

int main() {
  try {
    cudaDeviceProp prop{};
    OD_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
    OD_CUDA_CHECK(cudaSetDevice(0));
    cudaStream_t stream = nullptr;
    OD_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    Gemm gemm;
    const auto guarded = [](const std::string& name, const std::function<void()>& body) {
      try {
        body();
      } catch (const std::exception& e) {
        std::printf("FAIL %s: %s\n", name.c_str(), e.what());
        ++failures;
      }
    };

    // ---- conv2d ----
    std::vector<ConvCase> convs;
    const auto conv = [&](std::string name, DType t, int64_t F, int64_t H, int64_t W, int64_t ci, int64_t co, int64_t k) {
      ConvCase c;
      c.name = std::move(name);
      c.x = c.w = c.bias = c.out = t;
      c.frames = F;
      c.height = H;
      c.width = W;
      c.cin = ci;
      c.cout = co;
      c.kernel = k;
      return c;
    };
    for (DType t : {F32, BF16}) {
      const std::string p = std::string("conv2d ") + tname(t) + " ";
      convs.push_back(conv(p + "k1 2x5x7 64->96 (post_quant_conv-like)", t, 2, 5, 7, 64, 96, 1));
      convs.push_back(conv(p + "k1 1x6x6 4->4 (post_quant_conv)", t, 1, 6, 6, 4, 4, 1));
      convs.push_back(conv(p + "k3 2x9x11 32->48", t, 2, 9, 11, 32, 48, 3));
      convs.push_back(conv(p + "k3 1x8x8 4->64 (conv_in, value-by-value gather)", t, 1, 8, 8, 4, 64, 3));
      convs.push_back(conv(p + "k3 1x12x10 64->3 (conv_out)", t, 1, 12, 10, 64, 3, 3));
      ConvCase nb = conv(p + "k3 2x7x5 16->24 no bias", t, 2, 7, 5, 16, 24, 3);
      nb.has_bias = false;
      convs.push_back(nb);
      ConvCase two = conv(p + "k3 2x12x9 32->40 as 2 bands (halo)", t, 2, 12, 9, 32, 40, 3);
      two.bands = 2;
      convs.push_back(two);
      ConvCase three = conv(p + "k3 1x12x16 48->32 as 3 bands (halo)", t, 1, 12, 16, 48, 32, 3);
      three.bands = 3;
      convs.push_back(three);
      ConvCase edge = conv(p + "k3 1x8x8 4->16 as 4 bands of 2 rows (halo)", t, 1, 8, 8, 4, 16, 3);
      edge.bands = 4;
      convs.push_back(edge);
    }
    {
      ConvCase c = conv("conv2d bf16 weights, bf16 bias -> f32 out (staged)", BF16, 1, 6, 7, 32, 40, 3);
      c.out = F32;
      convs.push_back(c);
      c = conv("conv2d f32 x into bf16 weights (converting gather), k1", BF16, 1, 6, 7, 32, 40, 1);
      c.x = F32;
      convs.push_back(c);
      c = conv("conv2d bf16 k3 128x128 256->64 (2 chunks)", BF16, 1, 128, 128, 256, 64, 3);
      c.row_step = 61;
      convs.push_back(c);
      c = conv("conv2d bf16 k3 128x128 256->64 as 2 bands (chunks, halo)", BF16, 1, 128, 128, 256, 64, 3);
      c.row_step = 97;
      c.bands = 2;
      convs.push_back(c);
    }
    for (const ConvCase& c : convs) guarded(c.name, [&] { conv_case(gemm, stream, c); });

    // ---- group_norm ----
    std::vector<NormCase> norms;
    for (DType t : {F32, BF16}) {
      const std::string p = std::string("group_norm ") + tname(t) + " ";
      NormCase c;
      c.t = t;
      c.name = p + "2x16x16x128 g32 silu";
      c.frames = 2;
      norms.push_back(c);
      c.name = p + "2x16x16x128 g32 no silu, mean 40 std 0.6";
      c.silu = false;
      c.offset = 40;
      norms.push_back(c);
      c = NormCase();
      c.t = t;
      c.name = p + "1x9x7x12 g4 (value-by-value)";
      c.height = 9;
      c.width = 7;
      c.channels = 12;
      c.groups = 4;
      norms.push_back(c);
      c = NormCase();
      c.t = t;
      c.name = p + "1x16x16x512 g32 as 2 bands (reduce)";
      c.channels = 512;
      c.bands = 2;
      c.offset = 3;
      norms.push_back(c);
      c = NormCase();
      c.t = t;
      c.name = p + "2x32x8x64 g32 as 4 bands (reduce)";
      c.frames = 2;
      c.height = 32;
      c.width = 8;
      c.channels = 64;
      c.bands = 4;
      norms.push_back(c);
    }
    {
      NormCase c;
      c.t = BF16;
      c.name = "group_norm bf16 512x512x128 g32 silu, mean 2 (decoder's last)";
      c.height = c.width = 512;
      c.channels = 128;
      c.offset = 2;
      c.time = true;
      norms.push_back(c);
      c.name = "group_norm bf16 64x64x512 g32 silu (decoder's first)";
      c.height = c.width = 64;
      c.channels = 512;
      c.offset = 0;
      norms.push_back(c);
    }
    for (const NormCase& c : norms) guarded(c.name, [&] { norm_case(stream, c); });

    // ---- upsample ----
    guarded("upsample", [&] {
      upsample_case(stream, "upsample_nearest bf16 2x5x6x64 x2", BF16, 2, 5, 6, 64, 2, false);
      upsample_case(stream, "upsample_nearest f32 1x4x3x6 x2 (value by value)", F32, 1, 4, 3, 6, 2, false);
      upsample_case(stream, "upsample_nearest bf16 1x3x3x4 x3", BF16, 1, 3, 3, 4, 3, false);
      upsample_case(stream, "upsample_nearest bf16 1x256x256x256 x2", BF16, 1, 256, 256, 256, 2, true);
    });

    // ---- attention ----
    std::vector<AttentionCase> attentions;
    for (DType t : {F32, BF16}) {
      const std::string p = std::string("attention ") + tname(t) + " ";
      AttentionCase c;
      c.t = t;
      c.name = p + "2 samples 256q 300k 1x512";
      c.samples = 2;
      c.keys = 300;
      attentions.push_back(c);
      c.name = p + "3 samples 64q 200k 2x320 masked, last sample none";
      c.samples = 3;
      c.queries = 64;
      c.keys = 200;
      c.heads = 2;
      c.hd = 320;
      c.mask = true;
      attentions.push_back(c);
    }
    {
      AttentionCase c;
      c.name = "attention bf16 4096q 4096k 1x512 (512x512 mid-block)";
      c.queries = c.keys = 4096;
      c.rows_checked = 24;
      c.time = true;
      attentions.push_back(c);
      c.name = "attention bf16 16384q 16384k 1x512 (1024x1024, chunks)";
      c.queries = c.keys = 16384;
      c.rows_checked = 12;
      attentions.push_back(c);
    }
    for (const AttentionCase& c : attentions) guarded(c.name, [&] { attention_case(gemm, stream, c); });

    // ---- timings at the decoder's shapes (one 512x512 frame) ----
    std::printf("timings: the SD-VAE decoder's 3x3 convolutions at 512x512, bf16 (checked on a sample of rows)\n");
    const int64_t levels[][4] = {{64, 64, 512, 512}, {128, 128, 512, 512}, {256, 256, 512, 256}, {256, 256, 256, 256},
                                 {512, 512, 256, 256}, {512, 512, 256, 128}, {512, 512, 128, 128}, {512, 512, 128, 3}};
    for (const auto& l : levels) {
      ConvCase c = conv("k3 " + std::to_string(l[0]) + "x" + std::to_string(l[1]) + " " + std::to_string(l[2]) + "->" + std::to_string(l[3]), BF16, 1,
                        l[0], l[1], l[2], l[3], 3);
      c.row_step = 1021;
      c.edges = false;
      c.time = true;
      guarded(c.name, [&] { conv_case(gemm, stream, c); });
    }

    cudaStreamDestroy(stream);
    std::printf("%s: %d failed\n", failures ? "FAILED" : "OK", failures);
    return failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::printf("FAIL: %s\n", e.what());
    return 2;
  }
}
