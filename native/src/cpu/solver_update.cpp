// solver_update (compiler/plan/ops.ts SolverOp; models.md §9), the CPU reference of
// runtime/reference/ops/solver-update.ts: the sampler's update of the latent with the coefficients of the step
// being run, plan().steps[step()].schedule (compiler/schedule/step-table.ts). Per sample s, channel c < channels
// and element e of the plane, with x the latent, ε the prediction's channel c and v its channel channels + c:
//   ddpm:       x0 = sqrt_recip_alphas_cumprod·x − sqrt_recipm1_alphas_cumprod·ε
//               mean = posterior_mean_coef1·x0 + posterior_mean_coef2·x
//               x ← mean + exp(logv/2)·z where add_noise, else mean; logv = f·log_beta +
//               (1 − f)·posterior_log_variance_clipped with f = (v + 1)/2 (learned variance), else log_beta
//   ddim:       x0 as above; x ← sqrt_alpha_cumprod_prev·x0 + direction_coef·ε + [add_noise and sigma ≠ 0]·sigma·z
//   dpmpp2m:    m = (x − sigma·ε)/alpha; x ← x_coef·x + data_coef·m + d1_coef·(m − history)/r0 (order 2 with
//               d1_coef ≠ 0); history ← m
//   flow-euler: x ← x + dt·ε
// The prediction holds `stride` channels of `plane` values per sample; with `band` (PipeFusion) the plane is the
// band's frames·count·width values, mapped to rows [first, first + count) of every frame of the whole latent (and
// history). Noise z (runtime/reference/README.md, "Solver noise"): stream gen::key(noise_seed, "noise/<i>/<g>"),
// i the step index, g = dp·samples + s; element m of the sample's whole latent [channels, frames, height, width]
// takes normal m (z0 / z1 of the Box–Muller pair m/2), rounded to fp32 before use, as the README's "Precision"
// asks of an fp32 backend. The update is double from the fp32 values, stored fp32; split over elements.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "checkpoint/generator.h"
#include "core/error.h"
#include "core/parallel.h"
#include "cpu/ops.h"
#include "runtime/solver_coefs.h"

namespace od::cpu {

namespace {


// The whole plane of a (sample, channel) in the latent: `plane`, or with a band frames·height·width.
int64_t whole_plane(const SolverOp& op) { return op.band ? (op.plane / op.band->count) * op.band->height : op.plane; }

struct Task {
  const SolverOp* op;
  SolverCoefs k;
  float* latent;
  const float* prediction;
  float* history;
  int64_t whole;
  int step;
  int64_t dp;
};

// The fp32 normal of element m of sample s's stream. Consecutive elements share Box–Muller pairs, so the last
// pair (and the sample's key) is kept.
struct Noise {
  int64_t sample = -1, pair = -1;
  uint64_t key = 0;
  float z0 = 0, z1 = 0;

  double at(const Task& t, int64_t s, int64_t m) {
    if (s != sample) {
      sample = s;
      pair = -1;
      char name[64];  // "noise/<i>/<g>": on the stack, as run must not allocate
      std::snprintf(name, sizeof name, "noise/%d/%lld", t.step, static_cast<long long>(t.dp * t.op->samples + s));
      key = gen::key(t.op->noise_seed, name);
    }
    if (m / 2 != pair) {
      pair = m / 2;
      double a, b;
      gen::box_muller(gen::draw(key, static_cast<uint64_t>(2 * pair)), gen::draw(key, static_cast<uint64_t>(2 * pair + 1)), &a, &b);
      z0 = static_cast<float>(a);
      z1 = static_cast<float>(b);
    }
    return static_cast<double>(m % 2 == 0 ? z0 : z1);
  }
};

void run_range(const Task& t, int64_t begin, int64_t end) {
  const SolverOp& op = *t.op;
  const SolverCoefs& k = t.k;
  const int64_t C = op.channels, plane = op.plane, whole = t.whole;
  Noise noise;
  for (int64_t idx = begin; idx < end; idx++) {
    const int64_t s = idx / (C * plane), c = (idx / plane) % C, e = idx % plane;
    // The element's place in the whole (sample, channel) plane.
    int64_t w = e;
    if (op.band) {
      const int64_t band = op.band->count * op.band->width;
      const int64_t frame = e / band, rest = e % band;
      w = (frame * op.band->height + op.band->first + rest / op.band->width) * op.band->width + rest % op.band->width;
    }
    const int64_t p = (s * op.stride + c) * plane + e;
    const int64_t xi = (s * C + c) * whole + w;
    const double x = static_cast<double>(t.latent[xi]);
    const double eps = static_cast<double>(t.prediction[p]);
    switch (op.solver) {
      case Solver::Ddpm: {
        const double x0 = k.sqrt_recip * x - k.sqrt_recipm1 * eps;
        const double mean = k.mean1 * x0 + k.mean2 * x;
        if (!k.noise) {
          t.latent[xi] = static_cast<float>(mean);
          break;
        }
        double logv = k.log_beta;
        if (op.learned_variance) {
          const double f = (static_cast<double>(t.prediction[p + C * plane]) + 1) / 2;
          logv = f * k.log_beta + (1 - f) * k.logv_clipped;
        }
        t.latent[xi] = static_cast<float>(mean + std::exp(0.5 * logv) * noise.at(t, s, c * whole + w));
        break;
      }
      case Solver::Ddim: {
        const double x0 = k.sqrt_recip * x - k.sqrt_recipm1 * eps;
        double next = k.sqrt_alpha_prev * x0 + k.direction * eps;
        if (k.noise) next += k.sigma * noise.at(t, s, c * whole + w);
        t.latent[xi] = static_cast<float>(next);
        break;
      }
      case Solver::Dpmpp2m: {
        const double m = (x - k.sigma * eps) / k.alpha;
        double next = k.x_coef * x + k.data_coef * m;
        if (k.second) next += k.d1 * ((m - static_cast<double>(t.history[xi])) / k.r0);
        t.latent[xi] = static_cast<float>(next);
        t.history[xi] = static_cast<float>(m);
        break;
      }
      case Solver::FlowEuler:
        t.latent[xi] = static_cast<float>(x + k.dt * eps);
        break;
    }
  }
}

}  // namespace

void check_solver_update(const SolverOp& op, Memory& mem) {
  const int64_t C = op.channels;
  OD_CHECK(op.samples >= 0 && C >= 1 && op.plane >= 0, "samples " + std::to_string(op.samples) + ", channels " + std::to_string(C) +
                                                           " and plane " + std::to_string(op.plane) + " are not latent sizes",
           "");
  OD_CHECK(op.stride >= (op.learned_variance ? 2 : 1) * C,
           std::string(solver_name(op.solver)) + ": stride " + std::to_string(op.stride) + " leaves no room for the prediction's channels", "");
  if (op.band) {
    const SolverBand& b = *op.band;
    OD_CHECK(b.count >= 1 && b.width >= 1 && b.first >= 0 && b.first + b.count <= b.height && op.plane % (b.count * b.width) == 0,
             "band rows " + std::to_string(b.first) + ".." + std::to_string(b.first + b.count - 1) + " of " + std::to_string(b.height) +
                 " do not fit a plane of " + std::to_string(op.plane),
             "");
  }
  const int64_t whole = whole_plane(op);
  require_f32(mem, op.latent, op.samples * C * whole, "latent");
  require_f32(mem, op.prediction, op.samples * op.stride * op.plane, "prediction");
  if (op.solver == Solver::Dpmpp2m) {
    OD_CHECK(op.history.has_value(), "DPM-Solver++ 2M needs a history buffer", "");
    require_f32(mem, *op.history, op.samples * C * whole, "history");
  }
  // Every step has the coefficients this solver reads (run reads them again, for its own step).
  for (const PlanStep& s : mem.plan().steps) solver_coefs(op, s.schedule);
}

void run_solver_update(const SolverOp& op, Memory& mem) {
  const std::vector<PlanStep>& steps = mem.plan().steps;
  const int step = mem.step();
  OD_CHECK(step >= 0 && static_cast<size_t>(step) < steps.size(),
           "step " + std::to_string(step) + " is not in the plan's " + std::to_string(steps.size()) + " steps", "");
  Task t{&op,
         solver_coefs(op, steps[static_cast<size_t>(step)].schedule),
         mem.f32(op.latent),
         mem.f32(op.prediction),
         op.history ? mem.f32(*op.history) : nullptr,
         whole_plane(op),
         step,
         mem.coord("dp")};
  parallel_for(op.samples * op.channels * op.plane, 4096, [&t](int64_t begin, int64_t end, int) { run_range(t, begin, end); });
}

}  // namespace od::cpu
