// Standalone GPU test of the CUDA attention kernels (native/src/cuda/attention_kernel.cu) against a host
// reference in double, on fresh random inputs rounded to the storage dtype, and their timing. Build and run from
// the package root on a machine with a GPU:
//
//   nvcc -std=c++17 -arch=sm_90 -O3 -Inative/src native/test/cuda_attention_test.cu \
//        native/src/cuda/attention_kernel.cu native/src/core/error.cpp -o /tmp/cuda_attention_test && \
//   /tmp/cuda_attention_test
//
// Each case prints the kernel chosen, max |gpu − ref| / max |ref| over the checked outputs (a sample of query
// rows of every (sequence, head) checked, or all of them for small cases; bf16 bound 1e-2, fp32 1e-4) and the
// median of 20 timed runs after warm-up with TFLOP/s = 4·batch·heads·queries·keys·head_dim / t (head_dim 72, not
// the padded 80) and GB/s = the bytes the kernel must move at least (q or all of packed qkv, out, cross K/V) / t
// (the memory-bound temporal and cross cases: compare with the ~4.3 TB/s of an H200). Exit status 1 when a case
// fails. The timed cases include the STDiT-XL/2 16×512×512 shapes: spatial 32x16h x1024, temporal 2048 x16,
// cross 2x16384 q x120 k. After the cases, every streaming-kernel variant (AttentionArgs::variant, 0 .. 
// kAttentionVariants − 1) is checked on the streaming-path correctness cases and timed on the spatial shapes; a
// table of ms and TFLOP/s per variant, with the fastest correct one per shape, ends the output.
//
// The temporal cases include the STDiT shape read in the spatial row order (AttentionArgs::seq_inner: the permutes
// around temporal attention folded away, cuda/permute_fold.h), timed beside the plain one.
//
// With cuDNN (add -DOPENDIT_WITH_CUDNN=1 native/src/cuda/cudnn_attention.cu -lcudnn to the command above;
// scripts/gpu-check.sh does where it finds cudnn.h and libcudnn.so), a last section checks cuDNN's fused attention
// (cuda/cudnn_attention.cu) against the same reference on the spatial shapes and prints, per timed shape,
// "cudnn: X ms, Y TFLOP/s (own vN: ...)" beside the fastest correct streaming variant of the table; a cuDNN
// failure counts as a failed case. Without it the section says it was not built.
//
// gpu-check-sources: native/src/cuda/attention_kernel.cu native/src/core/error.cpp
// gpu-check-cudnn-sources: native/src/cuda/cudnn_attention.cu
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cuda/attention_kernel.cuh"
#if OPENDIT_WITH_CUDNN
#include "cuda/cudnn_attention.h"
#endif

using od::DType;
using od::cuda::AttentionArgs;
using od::cuda::KvCacheWriteArgs;

#define CK(call)                                                                                  \
  do {                                                                                            \
    cudaError_t e_ = (call);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(2);                                                                               \
    }                                                                                             \
  } while (0)

namespace {

uint64_t rng_state = 0x9e3779b97f4a7c15ull;
double uniform() {  // [−1, 1)
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return static_cast<double>((rng_state >> 11) & ((1ull << 53) - 1)) / static_cast<double>(1ull << 52) - 1.0;
}

int esize(DType t) { return t == DType::F32 ? 4 : 2; }

// Host values rounded to `t` (what the device holds), and the device copy.
struct Tensor {
  std::vector<float> host;  // rounded values
  void* dev = nullptr;
  DType dtype;
  Tensor(int64_t n, DType t, double amp, uint64_t seed) : host(n), dtype(t) {
    rng_state = seed * 0x2545F4914F6CDD1Dull + 1;
    std::vector<unsigned char> bytes(n * esize(t));
    for (int64_t i = 0; i < n; i++) {
      const float x = static_cast<float>(amp * uniform());
      if (t == DType::BF16) {
        const __nv_bfloat16 b = __float2bfloat16_rn(x);
        host[i] = __bfloat162float(b);
        std::memcpy(&bytes[i * 2], &b, 2);
      } else if (t == DType::F16) {
        const __half b = __float2half_rn(x);
        host[i] = __half2float(b);
        std::memcpy(&bytes[i * 2], &b, 2);
      } else {
        host[i] = x;
        std::memcpy(&bytes[i * 4], &x, 4);
      }
    }
    CK(cudaMalloc(&dev, bytes.size()));
    CK(cudaMemcpy(dev, bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
  }
  ~Tensor() { cudaFree(dev); }
  char* at(int64_t elem) const { return static_cast<char*>(dev) + elem * esize(dtype); }
  std::vector<float> download() const {
    std::vector<unsigned char> bytes(host.size() * esize(dtype));
    CK(cudaMemcpy(bytes.data(), dev, bytes.size(), cudaMemcpyDeviceToHost));
    std::vector<float> out(host.size());
    for (size_t i = 0; i < host.size(); i++) {
      if (dtype == DType::BF16) {
        __nv_bfloat16 b;
        std::memcpy(&b, &bytes[i * 2], 2);
        out[i] = __bfloat162float(b);
      } else if (dtype == DType::F16) {
        __half b;
        std::memcpy(&b, &bytes[i * 2], 2);
        out[i] = __half2float(b);
      } else {
        std::memcpy(&out[i], &bytes[i * 4], 4);
      }
    }
    return out;
  }
};

// Host transform of one q or k row (double), as cpu/attention.h: RMSNorm then RoPE over interleaved pairs.
void transform(std::vector<double>& x, const float* weight, double eps, bool rope, double theta, int64_t pos) {
  const int64_t hd = static_cast<int64_t>(x.size());
  if (weight) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1 / std::sqrt(ss / hd + eps);
    for (int64_t d = 0; d < hd; d++) x[d] = weight[d] * (x[d] * inv);
  }
  if (rope) {
    for (int64_t j = 0; j < hd / 2; j++) {
      const double f = std::pow(theta, -static_cast<double>(2 * j) / hd);
      const double ang = pos * f, c = std::cos(ang), s = std::sin(ang);
      const double a = x[2 * j], b = x[2 * j + 1];
      x[2 * j] = a * c - b * s;
      x[2 * j + 1] = b * c + a * s;
    }
  }
}

struct Case {
  std::string name;
  DType dtype = DType::BF16;
  bool packed = true;  // self attention on packed qkv, else cross (q [rows, D], kv [rows, 2D])
  int64_t batch = 1, heads = 16, hd = 72, queries = 0, kv_rows = 0, keys = 0;
  int valid_in_mask = -1;        // cross: keys with mask 1 in sample 0 (scattered); the last sample gets none
  bool qk_norm = false, rope = false;
  int64_t cache_keys = 0, cache_offset = 0;  // > 0: kv_cache path
  int rows_checked = 64;         // query rows checked per (sequence, head); 0 = all
  int sequences_checked = 4;     // first and last few sequences; 0 = all
  bool time = false;
  int variant = -1;              // AttentionArgs::variant (−1: env OPENDIT_ATTENTION_VARIANT or the default)
  bool cudnn = false;            // run cuda/cudnn_attention.cu instead of launch_attention (OPENDIT_WITH_CUDNN builds)
  // Packed self-attention in a decomposed layout (AttentionArgs::seq_inner, cuda/permute_fold.h): inner > 0 lays
  // the batch's sequences out as STDiT's temporal attention without its permutes, rows in [batch / inner, queries,
  // inner] order (sequence b = (b / inner, b % inner), token i at row (b / inner)·queries·inner + i·inner +
  // b % inner); out in that order too (out_folded, the full fold) or in the plain [batch, queries] order.
  int64_t inner = 0;
  bool out_folded = true;
};

bool run_case(const Case& c, double* ms_out = nullptr) {
  const int64_t D = c.heads * c.hd;
  const bool cache = c.cache_keys > 0;
  const DType t = c.dtype;
  const double theta = 10000;
  // Inputs
  const int64_t qrows = c.batch * c.queries;
  Tensor qkv(c.packed ? qrows * 3 * D : qrows * D, t, 2.0, 1);
  Tensor kvt(c.packed ? 1 : c.batch * c.kv_rows * 2 * D, t, 2.0, 2);
  Tensor out(qrows * D, t, 0.0, 3);
  Tensor cbuf(cache ? c.batch * c.cache_keys * 2 * D : 1, t, 2.0, 4);  // stale rows: random
  Tensor qw(c.hd, DType::F32, 0.5, 5), kw(c.hd, DType::F32, 0.5, 6);
  for (auto* w : {&qw, &kw}) {  // weights near 1
    for (auto& v : w->host) v += 1.0f;
    CK(cudaMemcpy(w->dev, w->host.data(), w->host.size() * 4, cudaMemcpyHostToDevice));
  }
  std::vector<int32_t> mask;
  int32_t* dmask = nullptr;
  if (c.valid_in_mask >= 0) {
    mask.assign(c.batch * c.kv_rows, 1);
    for (int64_t s = 0; s < c.batch; s++) {
      const int want = s == c.batch - 1 && c.batch > 1 ? 0 : c.valid_in_mask;
      std::vector<int32_t> row(c.kv_rows, 0);
      for (int k = 0; k < want; k++) row[(k * 37 + 11) % c.kv_rows] = 1;  // 37 coprime with 300 and 120: distinct
      std::copy(row.begin(), row.end(), mask.begin() + s * c.kv_rows);
    }
    CK(cudaMalloc(&dmask, mask.size() * 4));
    CK(cudaMemcpy(dmask, mask.data(), mask.size() * 4, cudaMemcpyHostToDevice));
  }

  od::cuda::QkTransform qt, kt;
  if (c.qk_norm) {
    qt.norm_weight = qw.dev;
    kt.norm_weight = kw.dev;
    qt.norm_dtype = kt.norm_dtype = DType::F32;
    qt.eps = kt.eps = 1e-6f;
  }
  qt.rope = kt.rope = c.rope;
  qt.position_offset = kt.position_offset = c.cache_offset;

  AttentionArgs a;
  a.q = qkv.dev;
  a.q_dtype = a.kv_dtype = a.out_dtype = t;
  a.out = out.dev;
  a.out_stride = D;
  a.batch = c.batch;
  a.heads = c.heads;
  a.head_dim = c.hd;
  a.queries = c.queries;
  a.scale = 1 / std::sqrt(static_cast<double>(c.hd));
  a.q_tf = qt;
  a.rope_theta = theta;
  a.mask = dmask;
  KvCacheWriteArgs w;
  if (c.packed) {
    a.q_stride = 3 * D;
    if (cache) {
      w.k = qkv.at(D);
      w.v = qkv.at(2 * D);
      w.src_dtype = t;
      w.src_stride = 3 * D;
      w.cache = cbuf.dev;
      w.cache_dtype = t;
      w.batch = c.batch;
      w.seq = c.queries;
      w.heads = c.heads;
      w.head_dim = c.hd;
      w.cache_keys = c.cache_keys;
      w.cache_offset = c.cache_offset;
      w.k_tf = kt;
      w.rope_theta = theta;
      a.k = cbuf.at(0);
      a.v = cbuf.at(D);
      a.kv_stride = 2 * D;
      a.kv_rows = c.cache_keys;
    } else {
      a.k = qkv.at(D);
      a.v = qkv.at(2 * D);
      a.kv_stride = 3 * D;
      a.kv_rows = c.queries;
      a.k_tf = kt;
    }
  } else {
    a.q_stride = D;
    a.k = kvt.at(0);
    a.v = kvt.at(D);
    a.kv_stride = 2 * D;
    a.kv_rows = c.kv_rows;
  }
  a.keys = c.keys > 0 ? c.keys : a.kv_rows;
  a.variant = c.variant;
  if (c.inner > 0) {
    a.seq_inner = c.inner;
    a.q_seq = a.kv_seq = {c.queries * c.inner * 3 * D, 3 * D};
    a.q_stride = a.kv_stride = c.inner * 3 * D;
    if (c.out_folded) {
      a.out_seq = {c.queries * c.inner * D, D};
      a.out_stride = c.inner * D;
    } else {
      a.out_seq = {c.inner * c.queries * D, c.queries * D};
    }
  }
  // Rows of sequence b's token i in qkv (q) and in out (Case::inner).
  auto q_row = [&c](int64_t b, int64_t i) {
    return c.inner > 0 ? (b / c.inner) * c.queries * c.inner + i * c.inner + b % c.inner : b * c.queries + i;
  };
  auto out_row = [&c, &q_row](int64_t b, int64_t i) { return c.inner > 0 && c.out_folded ? q_row(b, i) : b * c.queries + i; };

  auto launch = [&] {
#if OPENDIT_WITH_CUDNN
    if (c.cudnn) {
      od::cuda::cudnn_attention_run(a, nullptr);
      return;
    }
#endif
    od::cuda::launch_attention(a, nullptr);
  };
  std::string kernel_name;
  try {
    if (c.cudnn) {
#if OPENDIT_WITH_CUDNN
      if (!od::cuda::cudnn_attention_fits(a)) {
        std::printf("%-40s FAIL: the cuDNN path does not fit these arguments\n", c.name.c_str());
        return false;
      }
      od::cuda::cudnn_attention_prepare(a);  // the plan is built here, outside the timed runs
      kernel_name = od::cuda::cudnn_attention_describe(a);
#else
      std::printf("%-40s FAIL: built without cuDNN\n", c.name.c_str());
      return false;
#endif
    } else {
      kernel_name = od::cuda::attention_kernel_name(a);
    }
    if (cache) od::cuda::launch_kv_cache_write(w, nullptr);
    launch();
  } catch (const std::exception& e) {
    std::printf("%-40s FAIL: %s\n", c.name.c_str(), e.what());
    return false;
  }
  CK(cudaDeviceSynchronize());
  const std::vector<float> got = out.download();

  // Reference over the checked (sequence, head, row) triples.
  const float* host_q = qkv.host.data();
  double max_err = 0, max_ref = 0;
  int64_t checked = 0;
  std::vector<int64_t> seqs;
  for (int64_t b = 0; b < c.batch; b++)
    if (c.sequences_checked == 0 || b < c.sequences_checked / 2 || b >= c.batch - (c.sequences_checked + 1) / 2) seqs.push_back(b);
  const int64_t nkeys = a.keys, kv_rows = a.kv_rows, hd = c.hd;
  std::vector<double> K(kv_rows * hd), V(kv_rows * hd), q(hd), s(kv_rows), x(hd);
  for (int64_t b : seqs) {
    for (int64_t h = 0; h < c.heads; h++) {
      // Keys and values of this (sequence, head) in double.
      for (int64_t j = 0; j < kv_rows; j++) {
        const float* kr;
        const float* vr;
        bool fresh = true;
        if (c.packed && cache) {
          const bool own = j >= c.cache_offset && j < c.cache_offset + c.queries;
          if (own) {
            const int64_t i = j - c.cache_offset;
            kr = host_q + (b * c.queries + i) * 3 * D + D + h * hd;
            vr = kr + D;
          } else {
            fresh = false;
            kr = cbuf.host.data() + (b * c.cache_keys + j) * 2 * D + h * hd;
            vr = kr + D;
          }
        } else if (c.packed) {
          kr = host_q + q_row(b, j) * 3 * D + D + h * hd;
          vr = kr + D;
        } else {
          kr = kvt.host.data() + (b * c.kv_rows + j) * 2 * D + h * hd;
          vr = kr + D;
        }
        for (int64_t d = 0; d < hd; d++) x[d] = kr[d];
        if (fresh && c.packed) transform(x, c.qk_norm ? kw.host.data() : nullptr, 1e-6, c.rope, theta, c.cache_offset + (cache ? j - c.cache_offset : j));
        for (int64_t d = 0; d < hd; d++) {
          K[j * hd + d] = x[d];
          V[j * hd + d] = vr[d];
        }
      }
      const int64_t step = c.rows_checked == 0 ? 1 : std::max<int64_t>(1, c.queries / c.rows_checked);
      for (int64_t i = (b * 7 + h) % step; i < c.queries; i += step) {
        const float* qr = host_q + (c.packed ? q_row(b, i) * 3 * D : (b * c.queries + i) * D) + h * hd;
        for (int64_t d = 0; d < hd; d++) q[d] = qr[d];
        if (c.packed) transform(q, c.qk_norm ? qw.host.data() : nullptr, 1e-6, c.rope, theta, c.cache_offset + i);
        double mx = -INFINITY;
        for (int64_t j = 0; j < nkeys; j++) {
          if (!mask.empty() && mask[b * c.kv_rows + j] == 0) {
            s[j] = -INFINITY;
            continue;
          }
          double dot = 0;
          for (int64_t d = 0; d < hd; d++) dot += q[d] * K[j * hd + d];
          s[j] = dot * a.scale;
          mx = std::max(mx, s[j]);
        }
        double total = 0;
        for (int64_t j = 0; j < nkeys; j++) {
          s[j] = s[j] == -INFINITY ? 0 : std::exp(s[j] - mx);
          total += s[j];
        }
        for (int64_t d = 0; d < hd; d++) {
          double acc = 0;
          if (total > 0)
            for (int64_t j = 0; j < nkeys; j++) acc += s[j] / total * V[j * hd + d];
          const double g = got[out_row(b, i) * D + h * hd + d];
          max_err = std::max(max_err, std::fabs(g - acc));
          max_ref = std::max(max_ref, std::fabs(acc));
          checked++;
        }
      }
    }
  }
  const double rel = max_err / std::max(max_ref, 1e-30);
  const double bound = t == DType::F32 ? 1e-4 : t == DType::F16 ? 5e-3 : 1e-2;
  const bool ok = rel <= bound && std::isfinite(rel);
  std::printf("%-40s %-50s rel err %.3e (max |ref| %.3f, %lld outputs) %s", c.name.c_str(), kernel_name.c_str(), rel, max_ref,
              static_cast<long long>(checked), ok ? "ok" : "FAIL");

  if (c.time) {
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int i = 0; i < 3; i++) launch();
    std::vector<float> ms;
    for (int i = 0; i < 20; i++) {
      CK(cudaEventRecord(e0));
      launch();
      CK(cudaEventRecord(e1));
      CK(cudaEventSynchronize(e1));
      float m = 0;
      CK(cudaEventElapsedTime(&m, e0, e1));
      ms.push_back(m);
    }
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2] * 1e-3;
    const double flops = 4.0 * c.batch * c.heads * c.queries * static_cast<double>(a.keys) * c.hd;
    // Bytes the kernel must move at least: q (all of packed qkv for self attention), K/V of the attended keys for
    // cross, out.
    const int64_t es = esize(t);
    const double bytes = c.packed && !cache ? static_cast<double>(qrows) * 3 * D * es + static_cast<double>(qrows) * D * es
                                            : static_cast<double>(qrows) * D * es * 2 + static_cast<double>(c.batch) * a.keys * 2 * D * es;
    if (ms_out) *ms_out = med * 1e3;
    std::printf("  | %.3f ms, %.1f TFLOP/s, %.0f GB/s", med * 1e3, flops / med * 1e-12, bytes / med * 1e-9);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
  }
  std::printf("\n");
  if (dmask) cudaFree(dmask);
  return ok;
}

}  // namespace

int main() {
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  std::vector<Case> cases;
  auto self = [](std::string name, int64_t batch, int64_t seq) {
    Case c;
    c.name = std::move(name);
    c.batch = batch;
    c.queries = c.kv_rows = seq;
    return c;
  };
  // Spatial attention of STDiT-XL/2 at 16×512×512: 2·16 sequences of 1,024 tokens, 16 heads, hd 72.
  {
    Case c = self("spatial 2x16h x1024 hd72", 2, 1024);
    c.time = true;
    cases.push_back(c);
    c = self("spatial 32x16h x1024 hd72 (16 frames)", 32, 1024);
    c.time = true;
    c.sequences_checked = 2;
    c.rows_checked = 16;
    cases.push_back(c);
    c = self("spatial 2x16h x1024 valid 1000", 2, 1024);
    c.time = false;
    c.keys = 1000;
    cases.push_back(c);
    c = self("spatial 2x16h x1000 (partial tiles)", 2, 1000);
    cases.push_back(c);
    c = self("spatial f16 2x16h x1024", 2, 1024);
    c.dtype = DType::F16;
    cases.push_back(c);
  }
  // Temporal attention: 2·1024 sequences of 16 and of 80 tokens.
  {
    Case c = self("temporal 2048 x16 hd72", 2048, 16);
    c.time = true;
    c.rows_checked = 0;
    c.sequences_checked = 8;
    cases.push_back(c);
    c = self("temporal 2048 x80 hd72", 2048, 80);
    c.time = true;
    c.rows_checked = 0;
    c.sequences_checked = 8;
    cases.push_back(c);
    c = self("temporal 2048 x80 valid 70", 2048, 80);
    c.keys = 70;
    c.rows_checked = 0;
    c.sequences_checked = 8;
    cases.push_back(c);
    c = self("temporal STDiT3 qk-norm+rope 2048 x16", 2048, 16);
    c.qk_norm = c.rope = true;
    c.rows_checked = 0;
    c.sequences_checked = 8;
    c.time = true;
    cases.push_back(c);
    c = self("temporal 2048 x16 valid 9", 2048, 16);
    c.keys = 9;
    c.rows_checked = 0;
    c.sequences_checked = 8;
    cases.push_back(c);
    c = self("temporal 3x5h x40 (partial blocks)", 3, 40);  // 15 problems of 3 warps, 2 per block
    c.heads = 5;
    c.rows_checked = 0;
    c.sequences_checked = 0;
    cases.push_back(c);
    c = self("temporal 7x3h x150 qk-norm+rope hd64", 7, 150);  // 128 + 22 query rows, keys 150 (streaming)
    c.heads = 3;
    c.hd = 64;
    c.qk_norm = c.rope = true;
    c.rows_checked = 0;
    c.sequences_checked = 0;
    cases.push_back(c);
    c = self("temporal 7x3h x100 qk-norm+rope hd64", 7, 100);
    c.heads = 3;
    c.hd = 64;
    c.qk_norm = c.rope = true;
    c.rows_checked = 0;
    c.sequences_checked = 0;
    cases.push_back(c);
    c = self("temporal f16 33x16h x32 hd128", 33, 32);
    c.dtype = DType::F16;
    c.hd = 128;
    c.rows_checked = 0;
    c.sequences_checked = 0;
    cases.push_back(c);
    c = self("temporal fp32 (simt) 64 x80", 64, 80);
    c.dtype = DType::F32;
    c.rows_checked = 0;
    cases.push_back(c);
    c = self("temporal fp32 qk-norm+rope 64 x80 v60", 64, 80);
    c.dtype = DType::F32;
    c.qk_norm = c.rope = true;
    c.keys = 60;
    c.rows_checked = 0;
    cases.push_back(c);
  }
  // Temporal attention in the spatial row order (cuda/permute_fold.h: the permutes around it folded away): the
  // STDiT shape, the full fold (out in [B, T, S] order) and the input fold (out in [B, S, T] order), then with
  // qk-norm + RoPE (STDiT3), fp32 (SIMT) and more than 128 keys (the SIMT kernel, the streaming one takes no
  // decomposition).
  {
    Case c = self("temporal folded 2x1024 x16 (full fold)", 2048, 16);
    c.inner = 1024;
    c.time = true;
    c.rows_checked = 0;
    c.sequences_checked = 8;
    cases.push_back(c);
    c.name = "temporal folded 2x1024 x16 (input fold)";
    c.out_folded = false;
    cases.push_back(c);
    c = self("temporal folded qk-norm+rope 3x40 x15", 120, 15);
    c.inner = 40;
    c.heads = 4;
    c.qk_norm = c.rope = true;
    c.keys = 13;
    c.rows_checked = 0;
    c.sequences_checked = 0;
    cases.push_back(c);
    c.name = "temporal folded qk-norm+rope 3x40 x15 (input fold)";
    c.out_folded = false;
    cases.push_back(c);
    c = self("temporal folded fp32 (simt) 2x24 x16", 48, 16);
    c.inner = 24;
    c.dtype = DType::F32;
    c.qk_norm = c.rope = true;
    c.rows_checked = 0;
    c.sequences_checked = 0;
    cases.push_back(c);
    c = self("temporal folded 2x3 x150 (simt: > 128 keys)", 6, 150);
    c.inner = 3;
    c.heads = 2;
    c.rows_checked = 0;
    c.sequences_checked = 0;
    cases.push_back(c);
  }
  // Cross-attention: 16,384 queries × 300 text keys, 120 valid (scattered); the second sample has none (zeros).
  {
    Case c;
    c.name = "cross 2x16384 q x300 k (120 valid)";
    c.packed = false;
    c.batch = 2;
    c.queries = 16384;
    c.kv_rows = c.keys = 300;
    c.valid_in_mask = 120;
    c.time = true;
    c.sequences_checked = 0;
    c.rows_checked = 32;
    cases.push_back(c);
    // STDiT's text length: 120 keys (≤ 128: the single-tile kernel), all valid in sample 0, none in sample 1.
    c.name = "cross 2x16384 q x120 k (STDiT)";
    c.kv_rows = c.keys = 120;
    cases.push_back(c);
    c.name = "cross 2x16384 q x120 k (77 valid)";
    c.valid_in_mask = 77;
    c.time = false;
    cases.push_back(c);
    c.name = "cross f16 2x1000 q x120 k (100 valid)";
    c.dtype = DType::F16;
    c.queries = 1000;
    c.valid_in_mask = 100;
    cases.push_back(c);
    c.dtype = DType::BF16;
    c.name = "cross 2x300 q x20 k (no mask)";
    c.queries = 300;
    c.kv_rows = c.keys = 20;
    c.valid_in_mask = -1;
    cases.push_back(c);
    c.name = "cross fp32 (simt) 2x512 q x300 k";
    c.kv_rows = c.keys = 300;
    c.valid_in_mask = 120;
    c.dtype = DType::F32;
    c.queries = 512;
    c.time = false;
    cases.push_back(c);
  }
  // DiT / PixArt sizes.
  {
    Case c = self("DiT 2x16h x256 hd72", 2, 256);
    c.time = true;
    cases.push_back(c);
    c = self("PixArt 2x16h x4096 hd72", 2, 4096);
    c.time = true;
    c.rows_checked = 16;
    cases.push_back(c);
  }
  // PipeFusion-style kv_cache: own 64 rows at offset 64 of 256 cached keys, qk-norm + rope.
  {
    Case c = self("kv_cache 2x4h 64 rows @64 of 256 keys", 2, 64);
    c.heads = 4;
    c.cache_keys = 256;
    c.cache_offset = 64;
    c.qk_norm = c.rope = true;
    c.rows_checked = 0;
    c.sequences_checked = 0;
    cases.push_back(c);
  }
  int failed = 0;
  for (const Case& c : cases) failed += run_case(c) ? 0 : 1;
  std::printf("%d of %zu cases failed\n", failed, cases.size());

  // Streaming-kernel variants (AttentionArgs::variant, attention_kernel.cu kTcVariants): every variant on the
  // correctness cases of the streaming path (partial tiles, valid keys, f16, masked cross, hd64 qk-norm+rope), then
  // timed on the spatial shapes; a table of ms and TFLOP/s per variant at the end.
  std::printf("\n---- streaming-kernel variants ----\n");
  std::vector<Case> checks;
  {
    Case c = self("  spatial 2x16h x1024 valid 1000", 2, 1024);
    c.keys = 1000;
    checks.push_back(c);
    checks.push_back(self("  spatial 2x16h x1000 (partial tiles)", 2, 1000));
    c = self("  spatial f16 2x16h x1024", 2, 1024);
    c.dtype = DType::F16;
    checks.push_back(c);
    c = self("  temporal 7x3h x150 qk-norm+rope hd64", 7, 150);
    c.heads = 3;
    c.hd = 64;
    c.qk_norm = c.rope = true;
    c.rows_checked = 0;
    c.sequences_checked = 0;
    checks.push_back(c);
    c = self("  spatial hd64 2x16h x1024", 2, 1024);
    c.hd = 64;
    checks.push_back(c);
    Case x;
    x.name = "  cross 2x2000 q x300 k (120 valid)";
    x.packed = false;
    x.batch = 2;
    x.queries = 2000;
    x.kv_rows = x.keys = 300;
    x.valid_in_mask = 120;
    x.sequences_checked = 0;
    x.rows_checked = 64;
    checks.push_back(x);
  }
  std::vector<Case> timed;
  {
    Case c = self("  spatial 2x16h x1024 hd72 (DiT-XL/2 512)", 2, 1024);
    c.time = true;
    timed.push_back(c);
    c = self("  spatial 32x16h x1024 hd72 (STDiT 16 fr)", 32, 1024);
    c.time = true;
    c.sequences_checked = 2;
    c.rows_checked = 16;
    timed.push_back(c);
    c = self("  PixArt 2x16h x4096 hd72", 2, 4096);
    c.time = true;
    c.rows_checked = 16;
    timed.push_back(c);
    c = self("  DiT 2x16h x256 hd72", 2, 256);
    c.time = true;
    timed.push_back(c);
  }
  const int nv = od::cuda::kAttentionVariants;
  std::vector<std::vector<double>> ms(timed.size(), std::vector<double>(nv, 0.0));
  std::vector<int> bad(nv, 0);
  for (int v = 0; v < nv; v++) {
    std::printf("variant %d\n", v);
    for (Case c : checks) {
      c.variant = v;
      if (!run_case(c)) bad[v]++;
    }
    for (size_t i = 0; i < timed.size(); i++) {
      Case c = timed[i];
      c.variant = v;
      if (!run_case(c, &ms[i][v])) bad[v]++;
    }
    failed += bad[v];
  }
  std::printf("\nvariant table (ms | TFLOP/s at hd 72; * = fastest correct; FAIL = a check of that variant failed)\n");
  std::printf("%-44s", "shape");
  for (int v = 0; v < nv; v++) std::printf(" %6s%-2d%5s", "v", v, "");
  std::printf("\n");
  for (size_t i = 0; i < timed.size(); i++) {
    const Case& c = timed[i];
    const double flops = 4.0 * c.batch * c.heads * c.queries * static_cast<double>(c.queries) * c.hd;
    int best = -1;
    for (int v = 0; v < nv; v++)
      if (!bad[v] && ms[i][v] > 0 && (best < 0 || ms[i][v] < ms[i][best])) best = v;
    std::printf("%-44s", c.name.c_str());
    for (int v = 0; v < nv; v++) std::printf(" %6.3f%c", ms[i][v], v == best ? '*' : ' ');
    std::printf("\n%-44s", "    TFLOP/s");
    for (int v = 0; v < nv; v++) std::printf(" %6.1f%c", ms[i][v] > 0 ? flops / (ms[i][v] * 1e-3) * 1e-12 : 0.0, bad[v] ? '!' : ' ');
    std::printf("\n");
    if (best >= 0)
      std::printf("    fastest: v%d %.3f ms (%.2fx v0)\n", best, ms[i][best], ms[i][0] > 0 ? ms[i][0] / ms[i][best] : 0.0);
  }
  for (int v = 0; v < nv; v++)
    if (bad[v]) std::printf("variant %d: %d case(s) FAIL\n", v, bad[v]);

  // cuDNN's fused attention (cuda/cudnn_attention.cu) on the spatial shapes, beside the own kernel's fastest
  // correct variant of the table above.
  std::printf("\n---- cuDNN fused attention ----\n");
#if OPENDIT_WITH_CUDNN
  std::printf("%s\n", od::cuda::cudnn_attention_version().c_str());
  {
    std::vector<Case> cchecks;
    Case c = self("  cudnn spatial f16 2x16h x1024", 2, 1024);
    c.dtype = DType::F16;
    cchecks.push_back(c);
    c = self("  cudnn spatial hd64 2x16h x1024", 2, 1024);
    c.hd = 64;
    cchecks.push_back(c);
    c = self("  cudnn spatial 2x16h x1000 (odd length)", 2, 1000);
    cchecks.push_back(c);
    for (Case x : cchecks) {
      x.cudnn = true;
      if (!run_case(x)) failed++;
    }
    for (size_t i = 0; i < timed.size(); i++) {
      Case x = timed[i];
      x.cudnn = true;
      x.name = "  cudnn" + x.name.substr(1);
      double cms = 0;
      const bool ok = run_case(x, &cms);
      if (!ok) failed++;
      const double flops = 4.0 * x.batch * x.heads * x.queries * static_cast<double>(x.queries) * x.hd;
      int best = -1;
      for (int v = 0; v < nv; v++)
        if (!bad[v] && ms[i][v] > 0 && (best < 0 || ms[i][v] < ms[i][best])) best = v;
      std::printf("%-44s cudnn: %.3f ms, %.1f TFLOP/s", x.name.c_str() + 8, cms, cms > 0 ? flops / (cms * 1e-3) * 1e-12 : 0.0);
      if (best >= 0)
        std::printf(" (own v%d: %.3f ms, %.1f TFLOP/s; cudnn/own time %.2f)%s\n", best, ms[i][best], flops / (ms[i][best] * 1e-3) * 1e-12,
                    cms / ms[i][best], ok ? "" : " FAIL");
      else
        std::printf(" (own: no correct variant)%s\n", ok ? "" : " FAIL");
    }
  }
#else
  std::printf("not built (compile with -DOPENDIT_WITH_CUDNN=1 native/src/cuda/cudnn_attention.cu -lcudnn)\n");
#endif
  std::printf("%d failed in all\n", failed);
  return failed ? 1 : 0;
}
