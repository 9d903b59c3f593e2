// `solver_update` on the device, mirroring cpu/solver_update.cpp (runtime/reference/ops/solver-update.ts;
// models.md §9): the sampler's update of the latent with the coefficients of the step being run,
// plan.steps[i].schedule for step i. Every step's coefficients (the CPU's coefs_of) and noise-name state are read
// on the host once, at prepare (build_solver_table), into a device table of one row per plan step; the kernel reads
// the row of the step being run through the backend's device step index (Context::step_index, written before each
// step's work), so its arguments are the same on every step and a captured CUDA graph replays any step. Per
// sample s, channel c < channels and element e of the plane, x the latent, ε the prediction's channel c and v its
// channel channels + c:
//   ddpm:       x0 = sqrt_recip·x − sqrt_recipm1·ε; mean = mean1·x0 + mean2·x;
//               x ← mean + exp(logv/2)·z when add_noise, else mean; logv = f·log_beta + (1 − f)·logv_clipped with
//               f = (v + 1)/2 (learned variance), else log_beta
//   ddim:       x0 as above; x ← sqrt_alpha_prev·x0 + direction·ε + [add_noise and sigma ≠ 0]·sigma·z
//   dpmpp2m:    m = (x − sigma·ε)/alpha; x ← x_coef·x + data_coef·m + d1·(m − history)/r0 (second order); history ← m
//   flow-euler: x ← x + dt·ε
// `band` maps the plane's elements to rows [first, first + count) of every frame of the whole latent (and
// history). The arithmetic is the CPU's double operations in the CPU's order, each an explicit _rn intrinsic (the
// CPU is compiled with -ffp-contract=off, so no multiply-add may fuse here either): with fp32 storage the result is
// the CPU's bit for bit, except through ddpm's exp, where the device exp may differ from the C library's by an ulp
// of the double (the rounding to fp32 almost always hides it).
// Noise z (runtime/reference/README.md, "Solver noise"): stream gen::key(noise_seed, "noise/<i>/<g>"), i the step,
// g = dp·samples + s; element m = c·whole + w of the sample's whole latent takes normal m (z0/z1 of Box–Muller
// pair m/2), rounded to fp32 before use, by cuda/generator.cuh: the CPU's bits. The launcher computes the key's
// seed half on the host; the FNV-1a state of "noise/<i>/" is the table row's (computed on the host at prepare);
// the kernel appends g's digits (see generator.cuh).
// One thread per element, grid-stride; each thread computes its own Box–Muller pair (the CPU reuses a pair for two
// consecutive elements; the values are the same). Elementwise, so the latent is updated in place.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "checkpoint/generator.h"
#include "core/error.h"
#include "cuda/check.h"
#include "cuda/dtype.cuh"
#include "cuda/launch.cuh"
#include "cuda/generator.cuh"
#include "cuda/ops.h"
#include "runtime/solver_coefs.h"

namespace od::cuda {
namespace {

// One step's row of an op's device table: the coefficients and the FNV-1a state after "noise/<step>/".
struct Row {
  SolverCoefs k;
  uint64_t name_state;
};

struct Args {
  Solver solver;
  bool learned_variance;
  void* latent;
  const void* prediction;
  void* history;
  DType lt, pt, ht;
  int64_t samples, channels, stride, plane, whole;
  bool banded;
  int64_t band_first, band_count, band_height, band_width;
  const Row* rows;       // one per plan step (build_solver_table)
  const int* step;       // device: the step being run
  uint64_t mixed_seed;   // mix64(noise_seed + GAMMA)
  int64_t first_stream;  // dp·samples
};

__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double sub(double a, double b) { return __dsub_rn(a, b); }

// The fp32 normal of element m of sample s's stream, as a double.
__device__ __forceinline__ double noise_at(const Args& a, uint64_t name_state, int64_t s, int64_t m) {
  const uint64_t fnv = gen::fnv_append_decimal(name_state, static_cast<uint64_t>(a.first_stream + s));
  const uint64_t key = gen::key_of(a.mixed_seed, fnv);
  return static_cast<double>(static_cast<float>(gen::normal(key, static_cast<uint64_t>(m))));
}

__global__ void solver_update_kernel(Args a) {
  const Row& row = a.rows[*a.step];
  const SolverCoefs k = row.k;
  const uint64_t name_state = row.name_state;
  const int64_t C = a.channels, plane = a.plane, whole = a.whole;
  const int64_t total = a.samples * C * plane;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t s = idx / (C * plane), c = (idx / plane) % C, e = idx % plane;
    int64_t w = e;
    if (a.banded) {
      const int64_t band = a.band_count * a.band_width;
      const int64_t frame = e / band, rest = e % band;
      w = (frame * a.band_height + a.band_first + rest / a.band_width) * a.band_width + rest % a.band_width;
    }
    const int64_t p = (s * a.stride + c) * plane + e;
    const int64_t xi = (s * C + c) * whole + w;
    const double x = static_cast<double>(load_f(a.latent, a.lt, xi));
    const double eps = static_cast<double>(load_f(a.prediction, a.pt, p));
    switch (a.solver) {
      case Solver::Ddpm: {
        const double x0 = sub(mul(k.sqrt_recip, x), mul(k.sqrt_recipm1, eps));
        const double mean = add(mul(k.mean1, x0), mul(k.mean2, x));
        if (!k.noise) {
          store_f(a.latent, a.lt, xi, static_cast<float>(mean));
          break;
        }
        double logv = k.log_beta;
        if (a.learned_variance) {
          const double f = __ddiv_rn(add(static_cast<double>(load_f(a.prediction, a.pt, p + C * plane)), 1.0), 2.0);
          logv = add(mul(f, k.log_beta), mul(sub(1.0, f), k.logv_clipped));
        }
        const double z = noise_at(a, name_state, s, c * whole + w);
        store_f(a.latent, a.lt, xi, static_cast<float>(add(mean, mul(exp(mul(0.5, logv)), z))));
        break;
      }
      case Solver::Ddim: {
        const double x0 = sub(mul(k.sqrt_recip, x), mul(k.sqrt_recipm1, eps));
        double next = add(mul(k.sqrt_alpha_prev, x0), mul(k.direction, eps));
        if (k.noise) next = add(next, mul(k.sigma, noise_at(a, name_state, s, c * whole + w)));
        store_f(a.latent, a.lt, xi, static_cast<float>(next));
        break;
      }
      case Solver::Dpmpp2m: {
        const double m = __ddiv_rn(sub(x, mul(k.sigma, eps)), k.alpha);
        double next = add(mul(k.x_coef, x), mul(k.data_coef, m));
        if (k.second) next = add(next, mul(k.d1, __ddiv_rn(sub(m, static_cast<double>(load_f(a.history, a.ht, xi))), k.r0)));
        store_f(a.latent, a.lt, xi, static_cast<float>(next));
        store_f(a.history, a.ht, xi, static_cast<float>(m));
        break;
      }
      case Solver::FlowEuler:
        store_f(a.latent, a.lt, xi, static_cast<float>(add(x, mul(k.dt, eps))));
        break;
    }
  }
}

}  // namespace

size_t solver_table_bytes(const SolverOp&, const Memory& host) {
  return std::max<size_t>(1, host.plan().steps.size()) * sizeof(Row);
}

void build_solver_table(const SolverOp& op, const Memory& host, void* rows, std::vector<std::string>& errors) {
  const std::vector<PlanStep>& steps = host.plan().steps;
  Row* out = static_cast<Row*>(rows);
  errors.assign(steps.size(), std::string());
  for (size_t i = 0; i < std::max<size_t>(1, steps.size()); i++) out[i] = Row{SolverCoefs{}, 0};
  for (size_t i = 0; i < steps.size(); i++) {
    // A step whose coefficients are refused keeps a zero row and its message, raised when the step runs (as the
    // launcher read them only for the step being run).
    try {
      out[i].k = solver_coefs(op, steps[i].schedule);
    } catch (const std::exception& e) {
      errors[i] = e.what();
      continue;
    }
    if (out[i].k.noise) {
      char prefix[32];  // "noise/<i>/"
      const int length = std::snprintf(prefix, sizeof prefix, "noise/%d/", static_cast<int>(i));
      out[i].name_state = od::gen::fnv1a64(std::string_view(prefix, static_cast<size_t>(length)));
    }
  }
}

void run_solver_update(const SolverOp& op, Context& ctx) {
  const std::vector<PlanStep>& steps = ctx.host->plan().steps;
  const int step = ctx.host->step();
  OD_CHECK(step >= 0 && static_cast<size_t>(step) < steps.size(),
           "step " + std::to_string(step) + " is not in the plan's " + std::to_string(steps.size()) + " steps", "");
  const int64_t total = op.samples * op.channels * op.plane;
  if (total <= 0) return;
  const SolverTable* table = ctx.solver_table(op);
  OD_CHECK(table && table->rows && ctx.step_index, "the solver's step table is not on the device",
           "a CUDA backend defect: prepare builds every solver op's table");
  if (!table->errors[static_cast<size_t>(step)].empty()) throw Error(table->errors[static_cast<size_t>(step)]);
  Args a{};
  a.solver = op.solver;
  a.learned_variance = op.learned_variance;
  const DeviceSlot& latent = ctx.buf(op.latent);
  const DeviceSlot& prediction = ctx.buf(op.prediction);
  a.latent = latent.ptr;
  a.lt = latent.dtype;
  a.prediction = prediction.ptr;
  a.pt = prediction.dtype;
  if (op.history) {
    const DeviceSlot& history = ctx.buf(*op.history);
    a.history = history.ptr;
    a.ht = history.dtype;
  }
  a.samples = op.samples;
  a.channels = op.channels;
  a.stride = op.stride;
  a.plane = op.plane;
  a.whole = op.band ? (op.plane / op.band->count) * op.band->height : op.plane;
  a.banded = op.band.has_value();
  if (op.band) {
    a.band_first = op.band->first;
    a.band_count = op.band->count;
    a.band_height = op.band->height;
    a.band_width = op.band->width;
  }
  // The step-dependent part (coefficients, noise-name state) is the table row of *step_index; the rest is the same
  // on every step (the key's seed half and the dp offset are step-independent), so a graph may replay this launch.
  a.rows = static_cast<const Row*>(table->rows);
  a.step = ctx.step_index;
  a.mixed_seed = od::gen::mix64(op.noise_seed + gen::GAMMA);
  a.first_stream = ctx.host->coord("dp") * op.samples;
  solver_update_kernel<<<blocks_for(total), kThreads, 0, ctx.stream>>>(a);
  OD_CUDA_LAUNCHED(solver_update_kernel);
}

}  // namespace od::cuda
