// `linear` on the device (compiler/plan/ops.ts LinearOp; the reference semantics are cpu/linear.cpp's):
// y = act(x · Wᵀ + b) over `rows` rows with in_columns / out_columns / pad_columns, on cuBLASLt (cuda/gemm.h).
//
// Two paths, chosen from the op and the dtypes alone (so check and run choose alike):
// - direct: the GEMM writes `out` itself, the bias and GELU-tanh fused in cuBLASLt's epilogue (fp32, one rounding
//   to the storage dtype). With pad_columns, one GEMM per chunk writes its run of features at the start of the
//   chunk's `width` columns, and a small kernel writes the pad columns' zeros.
// - staged: the GEMM writes fp32 results [rows, out_features] into scratch, and one kernel adds the bias, applies
//   the activation in double (as the CPU does), places the columns (pads, out_columns) and rounds once. Taken for
//   SiLU into a 16-bit out (no cuBLASLt epilogue; only the small embedder MLPs use it), where x and out share
//   bytes (a GEMM must not write what it still reads), where out's or the bias's dtype is not W's, and for an empty
//   sum (in_features 0).
// An f32 out (fp32 plans) never takes cuBLASLt's GELU (its fast fp32 tanh is not CPU-parity close): the GEMM adds
// the bias, then a kernel applies the activation in place in double, as the CPU does.
// x in another dtype than W is first converted into scratch (contiguous [rows, in_features], W's dtype).
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/gemm.h"
#include "cuda/ops.h"

namespace od::cuda {
namespace {

constexpr int64_t kScratchAlign = 256;

int64_t round_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

// A tensor as the planner sees it: dtype, address (a device address, or at check time the plan's byte offset in
// the arena; weights at 0: both give the same alignments and overlaps), and element count.
struct Operand {
  DType dtype = DType::F32;
  uintptr_t addr = 0;
  int64_t count = 0;
};

struct LinearPlan {
  int64_t rows = 0, K = 0, N = 0;
  int64_t in_stride = 0, in_offset = 0;
  int64_t chunks = 1, run = 0, width = 0, written = 0;  // written = chunks·width columns a row
  int64_t out_stride = 0, out_offset = 0;
  bool empty = false;      // rows = 0 or nothing written: no work
  bool gemm = true;        // false: in_features or out_features is 0 (the sums are 0)
  bool convert_x = false;  // x converted into scratch [rows, K] in W's dtype
  bool staged = false;
  bool post_act = false;   // direct into f32 out, then the activation in place (double, as the CPU)
  GemmKey key;
  int64_t acc_offset = 0;  // scratch byte offset of the staged fp32 results
  int64_t scratch = 0;     // scratch bytes in all
};

LinearPlan plan_linear(const LinearOp& op, const Operand& x, const Operand& w, const Operand* bias, const Operand& out) {
  LinearPlan p;
  p.rows = op.rows;
  p.K = op.in_features;
  p.N = op.out_features;
  p.in_stride = op.in_columns ? op.in_columns->stride : op.in_features;
  p.in_offset = op.in_columns ? op.in_columns->offset : 0;
  if (op.pad_columns) {
    p.chunks = std::max<int64_t>(1, op.pad_columns->chunks);
    p.run = p.N / p.chunks;
    p.width = op.pad_columns->width;
  } else {
    p.chunks = 1;
    p.run = p.N;
    p.width = p.N;
  }
  p.written = p.chunks * p.width;
  p.out_stride = op.out_columns ? op.out_columns->stride : p.written;
  p.out_offset = op.out_columns ? op.out_columns->offset : 0;
  p.empty = p.rows <= 0 || p.written <= 0;
  if (p.empty) return p;
  p.gemm = p.K > 0 && p.N > 0;

  const int64_t wb = dtype_bytes(w.dtype), xb = dtype_bytes(x.dtype), ob = dtype_bytes(out.dtype);
  p.convert_x = p.gemm && x.dtype != w.dtype;
  // x and out sharing bytes (the reference allows a row's output columns to overlap its input columns).
  const uintptr_t x_end = x.addr + static_cast<uintptr_t>(x.count * xb), out_end = out.addr + static_cast<uintptr_t>(out.count * ob);
  const bool overlap = !p.convert_x && x.addr < out_end && out.addr < x_end;
  p.staged = !p.gemm || overlap || out.dtype != w.dtype || (bias && bias->dtype != out.dtype) ||
             (op.activation == Activation::Silu && out.dtype != DType::F32);
  // An f32 out takes the activation after the GEMM, in place and in double: no rounding is added, and cuBLASLt's
  // GELU epilogue (a fast fp32 tanh) would be further from the CPU than fp32 parity allows. 16-bit outs take the
  // GELU epilogue, whose error stays below their rounding.
  p.post_act = !p.staged && out.dtype == DType::F32 && op.activation != Activation::None;

  int64_t x_scratch = 0;
  if (p.convert_x) x_scratch = round_up(p.rows * p.K * wb, kScratchAlign);
  p.acc_offset = x_scratch;
  p.scratch = x_scratch + (p.staged ? p.rows * p.N * 4 : 0);
  if (!p.gemm) return p;

  GemmKey& k = p.key;
  k.ab = w.dtype;
  k.rows = p.rows;
  k.in = p.K;
  k.ldx = p.convert_x ? p.K : p.in_stride;
  k.align_x = p.convert_x ? 256 : alignment_of(x.addr + static_cast<uintptr_t>(p.in_offset * xb));
  if (p.staged) {
    k.d = DType::F32;
    k.out = p.N;
    k.ldy = p.N;
    k.epilogue = Epilogue::None;
    k.align_w = alignment_of(w.addr);
    k.align_y = alignment_of(static_cast<uintptr_t>(p.acc_offset));
    k.align_bias = 256;
    return p;
  }
  k.d = out.dtype;
  k.out = p.run;
  k.ldy = p.out_stride;
  const bool gelu = op.activation == Activation::GeluTanh && !p.post_act;
  k.epilogue = bias ? (gelu ? Epilogue::GeluBias : Epilogue::Bias) : (gelu ? Epilogue::Gelu : Epilogue::None);
  // One GEMM per chunk: the key's alignments hold for every chunk's pointers.
  k.align_w = k.align_y = k.align_bias = 256;
  for (int64_t c = 0; c < p.chunks; ++c) {
    k.align_w = std::min(k.align_w, alignment_of(w.addr + static_cast<uintptr_t>(c * p.run * p.K * wb)));
    k.align_y = std::min(k.align_y, alignment_of(out.addr + static_cast<uintptr_t>((p.out_offset + c * p.width) * ob)));
    if (bias) k.align_bias = std::min(k.align_bias, alignment_of(bias->addr + static_cast<uintptr_t>(c * p.run * ob)));
  }
  return p;
}

// ---- check time: the operands from the plan ----

Operand plan_operand(const Memory& host, BufRef ref, const char* role) {
  const Plan& plan = host.plan();
  const std::string& name = plan.name_of(ref);
  for (const PlanBuffer& b : plan.buffers) {
    if (b.name != name) continue;
    int64_t n = 1;
    for (int64_t d : b.shape) n *= d;
    return Operand{b.dtype, static_cast<uintptr_t>(b.offset), n};
  }
  for (const PlanWeight& w : plan.weights) {
    if (w.name != name) continue;
    int64_t n = 1;
    for (int64_t d : w.shape) n *= d;
    return Operand{w.dtype, 0, n};
  }
  OD_FAIL(std::string("the linear's ") + role + " `" + name + "` is neither a plan buffer nor a plan weight",
          "a plan defect: recompile the plan");
}

LinearPlan plan_from_host(const LinearOp& op, const Memory& host) {
  const Operand x = plan_operand(host, op.x, "x"), w = plan_operand(host, op.weight, "weight"), out = plan_operand(host, op.out, "out");
  Operand b;
  if (op.bias) b = plan_operand(host, *op.bias, "bias");
  return plan_linear(op, x, w, op.bias ? &b : nullptr, out);
}

// ---- kernels ----

// dst[r, k] (contiguous, W's dtype) = x[r, in_offset + k] (rows in_stride wide, x's dtype).
__global__ void convert_x_kernel(const void* x, DType xt, int64_t in_stride, int64_t in_offset, void* dst, DType dt,
                                 int64_t rows, int64_t K) {
  const int64_t total = rows * K;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / K, k = i % K;
    store_f(dst, dt, i, load_f(x, xt, r * in_stride + in_offset + k));
  }
}

__device__ __forceinline__ double activate(double v, Activation a) {
  switch (a) {
    case Activation::GeluTanh: return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    case Activation::Silu: return v / (1.0 + exp(-v));
    default: return v;
  }
}

// The staged results placed: out[r, out_offset + c·width + p] = act(acc[r, c·run + p] + bias[c·run + p]) for
// p < run, 0 for the pad columns p ≥ run. acc == nullptr: the sums are 0 (an empty GEMM).
__global__ void finalize_kernel(const float* acc, const void* bias, DType bt, Activation act, void* out, DType ot,
                                int64_t rows, int64_t N, int64_t run, int64_t width, int64_t written, int64_t out_stride,
                                int64_t out_offset) {
  const int64_t total = rows * written;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / written, j = i % written;
    const int64_t c = j / width, p = j % width;
    float v = 0.0f;
    if (p < run) {
      const int64_t f = c * run + p;
      double s = acc ? static_cast<double>(acc[r * N + f]) : 0.0;
      if (bias) s += static_cast<double>(load_f(bias, bt, f));
      v = static_cast<float>(activate(s, act));
    }
    store_f(out, ot, r * out_stride + out_offset + j, v);
  }
}

// Zeros in the pad columns [c·width + run, (c + 1)·width) of every chunk c of every row.
__global__ void zero_pads_kernel(void* out, DType ot, int64_t rows, int64_t chunks, int64_t run, int64_t width, int64_t out_stride,
                                 int64_t out_offset) {
  const int64_t pad = width - run;
  const int64_t total = rows * chunks * pad;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / (chunks * pad), rest = i % (chunks * pad);
    const int64_t c = rest / pad, p = run + rest % pad;
    store_f(out, ot, r * out_stride + out_offset + c * width + p, 0.0f);
  }
}

// The activation in place over the real columns [c·width, c·width + run) of every chunk c of every row (f32 out).
__global__ void activate_kernel(float* out, Activation act, int64_t rows, int64_t chunks, int64_t run, int64_t width, int64_t out_stride,
                                int64_t out_offset) {
  const int64_t total = rows * chunks * run;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / (chunks * run), rest = i % (chunks * run);
    float* v = out + r * out_stride + out_offset + (rest / run) * width + rest % run;
    *v = static_cast<float>(activate(static_cast<double>(*v), act));
  }
}

Operand device_operand(const DeviceSlot& s) { return Operand{s.dtype, reinterpret_cast<uintptr_t>(s.ptr), s.count}; }

}  // namespace

size_t linear_scratch_bytes(const LinearOp& op, const Memory& host) {
  return static_cast<size_t>(plan_from_host(op, host).scratch);
}

void prepare_linear(const LinearOp& op, const Memory& host, Gemm& gemm, const std::string& where) {
  const LinearPlan p = plan_from_host(op, host);
  if (p.empty || !p.gemm) return;
  const Operand w = plan_operand(host, op.weight, "weight");
  OD_CHECK(w.dtype == DType::F32 || w.dtype == DType::BF16 || w.dtype == DType::F16,
           where + ": weight `" + host.name(op.weight) + "` is " + dtype_name(w.dtype), "weights are f32, bf16 or f16");
  gemm.prepare(p.key, where);
}

void run_linear(const LinearOp& op, Context& ctx) {
  const DeviceSlot& xs = ctx.buf(op.x);
  const DeviceSlot& ws = ctx.buf(op.weight);
  const DeviceSlot& os = ctx.buf(op.out);
  const DeviceSlot* bs = op.bias ? &ctx.buf(*op.bias) : nullptr;
  const Operand x = device_operand(xs), w = device_operand(ws), out = device_operand(os);
  Operand b;
  if (bs) b = device_operand(*bs);
  LinearPlan p = plan_linear(op, x, w, bs ? &b : nullptr, out);
  if (p.empty) return;
  // Scratch pointers: the staged key's y alignment was planned from the scratch offset; the scratch base is
  // cudaMalloc'd (256-byte aligned), so they agree.
  uint8_t* scratch = static_cast<uint8_t*>(ctx.scratch);
  if (p.scratch > 0)
    OD_CHECK(scratch && static_cast<size_t>(p.scratch) <= ctx.scratch_bytes,
             "linear into `" + ctx.host->name(op.out) + "` needs " + std::to_string(p.scratch) + " bytes of scratch, the backend holds " +
                 std::to_string(ctx.scratch_bytes),
             "a CUDA backend defect: check_op must declare linear_scratch_bytes");

  const int64_t wb = dtype_bytes(ws.dtype), xb = dtype_bytes(xs.dtype), ob = dtype_bytes(os.dtype);
  const void* xg = static_cast<const uint8_t*>(xs.ptr) + p.in_offset * xb;
  if (p.convert_x) {
    convert_x_kernel<<<blocks_for(p.rows * p.K), kThreads, 0, ctx.stream>>>(xs.ptr, xs.dtype, p.in_stride, p.in_offset, scratch, ws.dtype,
                                                                           p.rows, p.K);
    OD_CUDA_LAUNCHED(convert_x_kernel);
    xg = scratch;
  }
  Gemm* gemm = p.gemm ? &Gemm::of(ctx.lt) : nullptr;
  // Errors name the op by its output (the plan's name: no string is built per call).
  const std::string& where = ctx.host->name(op.out);
  if (p.gemm) {
    // Inside a CUDA graph capture (the backend's begin_step) no cuBLASLt heuristic may run: the GEMM must be the
    // one prepare_linear chose at check time, whose key is the plan's. Gemm::run would otherwise prepare a new key
    // here; refuse instead (the backend then gives up graphs for the run and runs the step's ops directly).
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    OD_CUDA_CHECK(cudaStreamIsCapturing(ctx.stream, &capture));
    if (capture != cudaStreamCaptureStatusNone) {
      const GemmKey checked = plan_from_host(op, *ctx.host).key;
      OD_CHECK(!(checked < p.key) && !(p.key < checked),
               "linear into `" + where + "`: its GEMM on the device (" + p.key.describe() + ") is not the one prepared at check time (" +
                   checked.describe() + "), and a cuBLASLt algorithm cannot be chosen inside a CUDA graph capture",
               "a CUDA backend defect (device pointers' alignments differ from the plan's offsets); OPENDIT_CUDA_GRAPHS=0 avoids it");
    }
  }

  if (p.staged) {
    float* acc = nullptr;
    if (p.gemm) {
      acc = reinterpret_cast<float*>(scratch + p.acc_offset);
      gemm->run(p.key, ws.ptr, xg, nullptr, acc, ctx.stream, where);
    }
    finalize_kernel<<<blocks_for(p.rows * p.written), kThreads, 0, ctx.stream>>>(
        acc, bs ? bs->ptr : nullptr, bs ? bs->dtype : DType::F32, op.activation, os.ptr, os.dtype, p.rows, p.N, p.run, p.width,
        p.written, p.out_stride, p.out_offset);
    OD_CUDA_LAUNCHED(finalize_kernel);
    return;
  }

  // Direct: one GEMM per chunk into its columns, then the pads' zeros.
  for (int64_t c = 0; c < p.chunks; ++c) {
    const void* wc = static_cast<const uint8_t*>(ws.ptr) + c * p.run * p.K * wb;
    const void* bc = bs ? static_cast<const void*>(static_cast<const uint8_t*>(bs->ptr) + c * p.run * ob) : nullptr;
    void* yc = static_cast<uint8_t*>(os.ptr) + (p.out_offset + c * p.width) * ob;
    gemm->run(p.key, wc, xg, bc, yc, ctx.stream, where);
  }
  if (p.post_act) {
    activate_kernel<<<blocks_for(p.rows * p.chunks * p.run), kThreads, 0, ctx.stream>>>(
        static_cast<float*>(os.ptr), op.activation, p.rows, p.chunks, p.run, p.width, p.out_stride, p.out_offset);
    OD_CUDA_LAUNCHED(activate_kernel);
  }
  if (p.width > p.run) {
    zero_pads_kernel<<<blocks_for(p.rows * p.chunks * (p.width - p.run)), kThreads, 0, ctx.stream>>>(
        os.ptr, os.dtype, p.rows, p.chunks, p.run, p.width, p.out_stride, p.out_offset);
    OD_CUDA_LAUNCHED(zero_pads_kernel);
  }
}

}  // namespace od::cuda
