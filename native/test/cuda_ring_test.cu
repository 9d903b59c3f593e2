// Standalone GPU test of ring attention's math on one GPU, without NCCL (native/src/cuda/ring_fold.cu over the
// attention kernels of native/src/cuda/attention_kernel.cu), against a host reference in double on fresh random
// inputs rounded to the storage dtype. Build and run from the package root on a machine with a GPU:
//
//   nvcc -std=c++17 -arch=sm_90 -O3 -Inative/src native/test/cuda_ring_test.cu
//        native/src/cuda/attention_kernel.cu native/src/cuda/ring_fold.cu native/src/core/error.cpp
//        -o /tmp/cuda_ring_test && /tmp/cuda_ring_test
//
// (one command line; scripts/gpu-check.sh builds it from the gpu-check-sources line below).
//
// Two sections, every case printing the kernel(s) that ran, its error and ok/FAIL; exit status 1 when a case fails:
// 1. log-sum-exp (AttentionArgs::lse) of the streaming tensor-core kernel (fast-softmax variant 5 and variant 0),
//    the single-tile kernel and the fp32 SIMT kernel: max |gpu − ref| / max(1, |ref|) over every query (bf16/f16
//    bound 1e-2, fp32 1e-4; −inf exactly where a query has no key), and the output beside it as
//    cuda_attention_test.cu checks it (bf16 1e-2, f16 5e-3, fp32 1e-4 of max |ref|).
// 2. the ring: R members' chunks of `seq` tokens form one sequence of R·seq; for each member r the blocks are folded
//    in ring order (round t: member (r − t) mod R's raw k|v block, copied into a contiguous block as the transfer
//    leaves it, round 0 read in place from qkv; q RMSNorm + RoPE at r·seq + i, k's at the block's global positions)
//    with ring_fold's modes, and the output is compared with full attention over the whole sequence's first
//    validKeys keys in double (validKeys cutting inside a block, whole blocks without a valid key, no valid key at
//    all: zeros), bf16, f16 and fp32, through the streaming, single-tile and SIMT kernels.
//
// gpu-check-sources: native/src/cuda/attention_kernel.cu native/src/cuda/ring_fold.cu native/src/core/error.cpp
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "cuda/attention_kernel.cuh"
#include "cuda/ring_fold.cuh"

using od::DType;
using od::cuda::AttentionArgs;

#define CK(call)                                                                                  \
  do {                                                                                            \
    cudaError_t e_ = (call);                                                                      \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(2);                                                                               \
    }                                                                                             \
  } while (0)

namespace {

uint64_t rng_state = 1;
double uniform() {  // [−1, 1)
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return static_cast<double>((rng_state >> 11) & ((1ull << 53) - 1)) / static_cast<double>(1ull << 52) - 1.0;
}

int esize(DType t) { return t == DType::F32 ? 4 : 2; }

// Host values rounded to `t` (what the device holds) and the device copy.
struct Tensor {
  std::vector<float> host;
  void* dev = nullptr;
  DType dtype;
  Tensor(int64_t n, DType t, double amp, uint64_t seed, double shift = 0) : host(n), dtype(t) {
    rng_state = seed * 0x2545F4914F6CDD1Dull + 7;
    std::vector<unsigned char> bytes(n * esize(t));
    for (int64_t i = 0; i < n; i++) {
      const float x = static_cast<float>(shift + amp * uniform());
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
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
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

struct DeviceFloats {
  float* dev = nullptr;
  int64_t n = 0;
  explicit DeviceFloats(int64_t count) : n(count) { CK(cudaMalloc(&dev, std::max<int64_t>(1, n) * sizeof(float))); }
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  ~DeviceFloats() { cudaFree(dev); }
  std::vector<float> download() const {
    std::vector<float> out(n);
    CK(cudaMemcpy(out.data(), dev, n * sizeof(float), cudaMemcpyDeviceToHost));
    return out;
  }
};

// q or k row transform in double, as cpu/attention.h: RMSNorm then RoPE over interleaved pairs at `pos`.
void transform(std::vector<double>& x, const float* weight, bool rope, double theta, int64_t pos) {
  const int64_t hd = static_cast<int64_t>(x.size());
  if (weight) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1 / std::sqrt(ss / hd + 1e-6);
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

double out_bound(DType t) { return t == DType::F32 ? 1e-4 : t == DType::F16 ? 5e-3 : 1e-2; }
double lse_bound(DType t) { return t == DType::F32 ? 1e-4 : 1e-2; }

// Softmax attention of one query row over keys K[j], V[j] (j < keys) in double: out and the log-sum-exp.
void reference_row(const std::vector<double>& q, const std::vector<double>& K, const std::vector<double>& V, int64_t keys, int64_t hd,
                   double scale, std::vector<double>& s, std::vector<double>& out, double& lse) {
  double mx = -INFINITY;
  for (int64_t j = 0; j < keys; j++) {
    double dot = 0;
    for (int64_t d = 0; d < hd; d++) dot += q[d] * K[j * hd + d];
    s[j] = dot * scale;
    mx = std::max(mx, s[j]);
  }
  double total = 0;
  for (int64_t j = 0; j < keys; j++) {
    s[j] = std::exp(s[j] - mx);
    total += s[j];
  }
  for (int64_t d = 0; d < hd; d++) {
    double acc = 0;
    for (int64_t j = 0; j < keys; j++) acc += s[j] * V[j * hd + d];
    out[d] = total > 0 ? acc / total : 0.0;
  }
  lse = total > 0 ? mx + std::log(total) : -INFINITY;
}

// ---- 1. log-sum-exp of the kernels ----

struct LseCase {
  std::string name;
  DType dtype = DType::BF16;
  int64_t batch = 2, heads = 3, hd = 72, seq = 300, keys = -1;  // keys −1: all
  int variant = -1;
  bool qk_norm = false, rope = false;
  int64_t position = 0;  // q and k position offset
  std::string expect;    // a substring of attention_kernel_name
};

bool run_lse_case(const LseCase& c) {
  const int64_t D = c.heads * c.hd, rows = c.batch * c.seq;
  const DType t = c.dtype;
  Tensor qkv(rows * 3 * D, t, 2.0, 11);
  Tensor out(rows * D, t, 1.0, 12);
  Tensor qw(c.hd, DType::F32, 0.5, 13, 1.0), kw(c.hd, DType::F32, 0.5, 14, 1.0);
  DeviceFloats lse(c.batch * c.heads * c.seq);
  const int64_t keys = c.keys < 0 ? c.seq : c.keys;
  AttentionArgs a;
  a.q = qkv.dev;
  a.k = qkv.at(D);
  a.v = qkv.at(2 * D);
  a.out = out.dev;
  a.q_dtype = a.kv_dtype = a.out_dtype = t;
  a.q_stride = a.kv_stride = 3 * D;
  a.out_stride = D;
  a.batch = c.batch;
  a.heads = c.heads;
  a.head_dim = c.hd;
  a.queries = a.kv_rows = c.seq;
  a.keys = keys;
  a.scale = 1 / std::sqrt(static_cast<double>(c.hd));
  a.variant = c.variant;
  a.lse = lse.dev;
  if (c.qk_norm) {
    a.q_tf.norm_weight = qw.dev;
    a.k_tf.norm_weight = kw.dev;
    a.q_tf.eps = a.k_tf.eps = 1e-6f;
  }
  a.q_tf.rope = a.k_tf.rope = c.rope;
  a.q_tf.position_offset = a.k_tf.position_offset = c.position;
  const std::string kernel = od::cuda::attention_kernel_name(a);
  try {
    od::cuda::launch_attention(a, nullptr);
  } catch (const std::exception& e) {
    std::printf("%-44s FAIL: %s\n", c.name.c_str(), e.what());
    return false;
  }
  CK(cudaDeviceSynchronize());
  const std::vector<float> got = out.download(), got_lse = lse.download();

  double out_err = 0, out_ref = 0, lse_err = 0;
  bool inf_ok = true;
  std::vector<double> K(c.seq * c.hd), V(c.seq * c.hd), q(c.hd), x(c.hd), s(c.seq), o(c.hd);
  for (int64_t b = 0; b < c.batch; b++)
    for (int64_t h = 0; h < c.heads; h++) {
      for (int64_t j = 0; j < c.seq; j++) {
        const float* kr = qkv.host.data() + (b * c.seq + j) * 3 * D + D + h * c.hd;
        for (int64_t d = 0; d < c.hd; d++) x[d] = kr[d];
        transform(x, c.qk_norm ? kw.host.data() : nullptr, c.rope, 10000, c.position + j);
        for (int64_t d = 0; d < c.hd; d++) {
          K[j * c.hd + d] = x[d];
          V[j * c.hd + d] = kr[D + d];
        }
      }
      for (int64_t i = 0; i < c.seq; i++) {
        const float* qr = qkv.host.data() + (b * c.seq + i) * 3 * D + h * c.hd;
        for (int64_t d = 0; d < c.hd; d++) q[d] = qr[d];
        transform(q, c.qk_norm ? qw.host.data() : nullptr, c.rope, 10000, c.position + i);
        double ref_lse = 0;
        reference_row(q, K, V, keys, c.hd, a.scale, s, o, ref_lse);
        for (int64_t d = 0; d < c.hd; d++) {
          out_err = std::max(out_err, std::fabs(got[(b * c.seq + i) * D + h * c.hd + d] - o[d]));
          out_ref = std::max(out_ref, std::fabs(o[d]));
        }
        const float g = got_lse[(b * c.heads + h) * c.seq + i];
        if (std::isinf(ref_lse)) {
          inf_ok = inf_ok && std::isinf(g) && g < 0;
        } else {
          lse_err = std::max(lse_err, std::fabs(g - ref_lse) / std::max(1.0, std::fabs(ref_lse)));
          if (!std::isfinite(g)) lse_err = INFINITY;
        }
      }
    }
  const double out_rel = out_ref > 0 ? out_err / out_ref : out_err;
  const bool ok = out_rel <= out_bound(t) && lse_err <= lse_bound(t) && inf_ok && kernel.find(c.expect) != std::string::npos;
  std::printf("%-44s %-50s lse err %.3e%s, out rel err %.3e %s\n", c.name.c_str(), kernel.c_str(), lse_err, inf_ok ? "" : " (−inf wrong)",
              out_rel, ok ? "ok" : "FAIL");
  if (kernel.find(c.expect) == std::string::npos) std::printf("    expected a kernel named \"...%s...\"\n", c.expect.c_str());
  return ok;
}

// ---- 2. the ring on one GPU ----

struct RingCase {
  std::string name;
  DType dtype = DType::BF16;
  int64_t members = 4, batch = 2, seq = 300, heads = 3, hd = 72;
  int64_t valid = -1;  // validKeys over the whole ring sequence (−1: all)
  bool qk_norm = true, rope = true;
  int64_t query_step = 1;  // check every query_step-th query of each member
};

bool run_ring_case(const RingCase& c) {
  const int64_t R = c.members, S = c.seq, D = c.heads * c.hd, rows = c.batch * S, hd = c.hd;
  const int64_t valid = c.valid < 0 ? R * S : c.valid;
  const DType t = c.dtype;
  const int64_t es = esize(t);
  const double scale = 1 / std::sqrt(static_cast<double>(hd)), theta = 10000;
  std::vector<std::unique_ptr<Tensor>> qkv, out;
  for (int64_t m = 0; m < R; m++) {
    qkv.push_back(std::make_unique<Tensor>(rows * 3 * D, t, 2.0, 100 + m));
    out.push_back(std::make_unique<Tensor>(rows * D, t, 1.0, 200 + m));  // stale values: every output must be written
  }
  Tensor qw(hd, DType::F32, 0.5, 301, 1.0), kw(hd, DType::F32, 0.5, 302, 1.0);
  void* blocks[2];
  for (void*& b : blocks) CK(cudaMalloc(&b, rows * 2 * D * es));
  void* partial = nullptr;
  CK(cudaMalloc(&partial, rows * D * es));
  DeviceFloats partial_lse(c.batch * c.heads * S), state(rows * D), state_lse(c.batch * c.heads * S);

  std::string kernels;
  try {
    for (int64_t r = 0; r < R; r++) {
      od::cuda::RingFoldBuffers buf;
      buf.partial = partial;
      buf.partial_lse = partial_lse.dev;
      buf.state = state.dev;
      buf.state_lse = state_lse.dev;
      buf.out = out[r]->dev;
      buf.out_dtype = t;
      buf.out_stride = D;
      for (int64_t round = 0; round < R; round++) {
        const od::cuda::RingRound rr = od::cuda::ring_round(R, r, round, S, valid);
        const od::cuda::RingFoldMode mode = od::cuda::ring_fold_mode(R, r, round, S, valid);
        AttentionArgs a;
        a.q = qkv[r]->dev;
        a.q_dtype = a.kv_dtype = t;
        a.q_stride = 3 * D;
        if (round == 0) {  // in place, as the runtime's round 0
          a.k = qkv[r]->at(D);
          a.v = qkv[r]->at(2 * D);
          a.kv_stride = 3 * D;
        } else {  // the block as it travels: raw k|v rows of the source member, contiguous
          void* blk = blocks[round % 2];
          CK(cudaMemcpy2D(blk, 2 * D * es, qkv[rr.source]->at(D), 3 * D * es, 2 * D * es, rows, cudaMemcpyDeviceToDevice));
          a.k = blk;
          a.v = static_cast<char*>(blk) + D * es;
          a.kv_stride = 2 * D;
        }
        a.batch = c.batch;
        a.heads = c.heads;
        a.head_dim = hd;
        a.queries = a.kv_rows = S;
        a.keys = rr.keys;
        a.scale = scale;
        a.rope_theta = theta;
        if (c.qk_norm) {
          a.q_tf.norm_weight = qw.dev;
          a.k_tf.norm_weight = kw.dev;
          a.q_tf.eps = a.k_tf.eps = 1e-6f;
        }
        a.q_tf.rope = a.k_tf.rope = c.rope;
        a.q_tf.position_offset = r * S;
        a.k_tf.position_offset = rr.source * S;
        if (r == 0 && mode != od::cuda::RingFoldMode::Skip && mode != od::cuda::RingFoldMode::Zero && kernels.empty())
          kernels = od::cuda::attention_kernel_name(a);
        od::cuda::ring_fold(a, mode, buf, nullptr);
      }
    }
  } catch (const std::exception& e) {
    std::printf("%-44s FAIL: %s\n", c.name.c_str(), e.what());
    return false;
  }
  CK(cudaDeviceSynchronize());

  double max_err = 0, max_ref = 0;
  int64_t checked = 0;
  const int64_t L = R * S;
  std::vector<double> K(L * hd), V(L * hd), q(hd), x(hd), s(L), o(hd);
  std::vector<std::vector<float>> got;
  for (int64_t m = 0; m < R; m++) got.push_back(out[m]->download());
  for (int64_t b = 0; b < c.batch; b++)
    for (int64_t h = 0; h < c.heads; h++) {
      for (int64_t j = 0; j < L; j++) {  // global key j: member j / S, its row j % S
        const float* kr = qkv[j / S]->host.data() + (b * S + j % S) * 3 * D + D + h * hd;
        for (int64_t d = 0; d < hd; d++) x[d] = kr[d];
        transform(x, c.qk_norm ? kw.host.data() : nullptr, c.rope, theta, j);
        for (int64_t d = 0; d < hd; d++) {
          K[j * hd + d] = x[d];
          V[j * hd + d] = kr[D + d];
        }
      }
      for (int64_t r = 0; r < R; r++)
        for (int64_t i = (b + h + r) % c.query_step; i < S; i += c.query_step) {
          const float* qr = qkv[r]->host.data() + (b * S + i) * 3 * D + h * hd;
          for (int64_t d = 0; d < hd; d++) q[d] = qr[d];
          transform(q, c.qk_norm ? qw.host.data() : nullptr, c.rope, theta, r * S + i);
          double lse = 0;
          reference_row(q, K, V, valid, hd, scale, s, o, lse);
          for (int64_t d = 0; d < hd; d++) {
            max_err = std::max(max_err, std::fabs(got[r][(b * S + i) * D + h * hd + d] - o[d]));
            max_ref = std::max(max_ref, std::fabs(o[d]));
            checked++;
          }
        }
    }
  // No valid key at all: the reference is zeros, and so must the output be, exactly.
  const double rel = max_ref > 0 ? max_err / max_ref : max_err;
  const bool ok = rel <= out_bound(t) && std::isfinite(rel);
  std::string modes;
  for (int64_t round = 0; round < R; round++) {
    static const char* names[] = {"skip", "zero", "only", "first", "middle", "last"};
    modes += std::string(round ? " " : "") + names[static_cast<int>(od::cuda::ring_fold_mode(R, 0, round, S, valid))];
  }
  std::printf("%-44s %-42s member 0: %-26s rel err %.3e (max |ref| %.3f, %lld outputs) %s\n", c.name.c_str(),
              kernels.empty() ? "(no attention)" : kernels.c_str(), modes.c_str(), rel, max_ref, static_cast<long long>(checked),
              ok ? "ok" : "FAIL");
  for (void* b : blocks) cudaFree(b);
  cudaFree(partial);
  return ok;
}

}  // namespace

int main() {
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
  int failed = 0, cases = 0;

  std::printf("---- log-sum-exp of the attention kernels ----\n");
  std::vector<LseCase> lse_cases;
  {
    LseCase c;
    c.name = "streaming bf16 2x3h x300 v5 (fast softmax)";
    c.variant = 5;
    c.expect = "warps=8 v5";
    lse_cases.push_back(c);
    c.name = "streaming bf16 2x3h x300 v0 valid 250";
    c.variant = 0;
    c.keys = 250;
    c.expect = "warps=8";
    lse_cases.push_back(c);
    c.name = "streaming bf16 qk-norm+rope @600 hd64 x200";
    c.variant = -1;
    c.keys = -1;
    c.hd = 64;
    c.seq = 200;
    c.qk_norm = c.rope = true;
    c.position = 600;
    c.expect = "tensor-core bf16 hdp=64";
    lse_cases.push_back(c);
    c = LseCase();
    c.name = "f16 2x3h x300 no keys (single-tile)";
    c.dtype = DType::F16;
    c.keys = 0;
    c.expect = "tensor-core f16 hdp=80 1-tile";
    lse_cases.push_back(c);
    c = LseCase();
    c.name = "streaming bf16 3x2h x150 (partial tile)";
    c.batch = 3;
    c.heads = 2;
    c.seq = 150;
    c.expect = "warps=8";  // 150 queries: 8 warps of 16 rows, the last tile partial
    lse_cases.push_back(c);
    c = LseCase();
    c.name = "single-tile bf16 5x3h x100 valid 70";
    c.batch = 5;
    c.seq = 100;
    c.keys = 70;
    c.expect = "1-tile";
    lse_cases.push_back(c);
    c.name = "single-tile bf16 64x2h x16 qk-norm+rope";
    c.batch = 64;
    c.heads = 2;
    c.seq = 16;
    c.keys = -1;
    c.qk_norm = c.rope = true;
    c.position = 48;
    lse_cases.push_back(c);
    c.name = "single-tile bf16 8x2h x40 no keys";
    c.batch = 8;
    c.seq = 40;
    c.keys = 0;
    c.qk_norm = c.rope = false;
    lse_cases.push_back(c);
    c = LseCase();
    c.name = "simt fp32 2x3h x80";
    c.dtype = DType::F32;
    c.seq = 80;
    c.expect = "simt";
    lse_cases.push_back(c);
    c.name = "simt fp32 2x3h x200 valid 130 qk-norm+rope";
    c.seq = 200;
    c.keys = 130;
    c.qk_norm = c.rope = true;
    c.position = 200;
    lse_cases.push_back(c);
    c.name = "simt fp32 2x3h x50 no keys";
    c.seq = 50;
    c.keys = 0;
    c.qk_norm = c.rope = false;
    lse_cases.push_back(c);
  }
  for (const LseCase& c : lse_cases) {
    cases++;
    failed += run_lse_case(c) ? 0 : 1;
  }

  std::printf("---- ring attention folded on one GPU ----\n");
  std::vector<RingCase> ring_cases;
  {
    RingCase c;
    c.name = "bf16 ring 4 x300 (streaming) valid 1030";
    c.valid = 4 * 300 - 170;  // cuts inside member 3's block
    c.query_step = 7;
    ring_cases.push_back(c);
    c.name = "bf16 ring 4 x300 all valid, no norm/rope";
    c.valid = -1;
    c.qk_norm = c.rope = false;
    ring_cases.push_back(c);
    c = RingCase();
    c.name = "bf16 ring 3 x100 (single-tile) hd64 valid 150";
    c.members = 3;
    c.batch = 3;
    c.seq = 100;
    c.heads = 2;
    c.hd = 64;
    c.valid = 150;  // member 1's block cut, member 2's block empty
    ring_cases.push_back(c);
    c.name = "f16 ring 2 x64 valid 30 (one block)";
    c.dtype = DType::F16;
    c.members = 2;
    c.seq = 64;
    c.valid = 30;
    ring_cases.push_back(c);
    c = RingCase();
    c.name = "fp32 ring 3 x80 (simt) valid 200";
    c.dtype = DType::F32;
    c.members = 3;
    c.seq = 80;
    c.valid = 200;
    ring_cases.push_back(c);
    c.name = "fp32 ring 2 x40 no valid key (zeros)";
    c.members = 2;
    c.seq = 40;
    c.valid = 0;
    ring_cases.push_back(c);
    c = RingCase();
    c.name = "bf16 ring 2 x1024 STDiT-like 2x16h";
    c.members = 2;
    c.batch = 2;
    c.seq = 1024;
    c.heads = 16;
    c.qk_norm = c.rope = false;
    c.query_step = 61;
    ring_cases.push_back(c);
  }
  for (const RingCase& c : ring_cases) {
    cases++;
    failed += run_ring_case(c) ? 0 : 1;
  }
  std::printf("%d of %d cases failed\n", failed, cases);
  return failed ? 1 : 0;
}
