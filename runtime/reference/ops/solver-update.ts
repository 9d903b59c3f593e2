/**
 * solver_update (compiler/plan/ops.ts SolverOp; models.md §9) on one rank, in float64: the sampler's update of
 * the latent with the coefficients of the step being run, mem.plan.steps[mem.step].schedule
 * (compiler/schedule/step-table.ts gives each formula). Per sample s, channel c < `channels` and element e of
 * the plane, with x the latent, ε the prediction's channel c and v its channel channels + c:
 *
 *   ddpm:       x0 = sqrt_recip_alphas_cumprod·x − sqrt_recipm1_alphas_cumprod·ε
 *               mean = posterior_mean_coef1·x0 + posterior_mean_coef2·x
 *               x ← mean + exp(logv/2)·z where add_noise, else mean; logv = f·log_beta +
 *               (1 − f)·posterior_log_variance_clipped with f = (v + 1)/2 (learnedVariance), else log_beta
 *   ddim:       x0 as above; x ← sqrt_alpha_cumprod_prev·x0 + direction_coef·ε + [add_noise]·sigma·z
 *   dpmpp2m:    m = (x − sigma·ε)/alpha; x ← x_coef·x + data_coef·m + d1_coef·(m − history)/r0 (order 2);
 *               history ← m
 *   flow-euler: x ← x + dt·ε
 *
 * The prediction holds `stride` channels of `plane` values per sample. With `band` (PipeFusion) the plane is
 * the band's frames·count·width values and maps to latent rows [first, first + count) of each frame of the
 * whole latent (and history), whose plane is frames·height·width.
 *
 * Noise z (runtime/reference/README.md, "Solver noise"): for step index i = mem.step and global sample
 * g = (dp coordinate)·samples + s, the stream key is the generator's tensorKey(noiseSeed, "noise/<i>/<g>")
 * (checkpoint/generator.ts, opendit-random-v1), and element m of the sample's whole latent [channels, frames,
 * height, width] (row-major, whether or not a band is updated) takes normal m of that stream, paired as the
 * checkpoint generator pairs them: z of elements 2j and 2j + 1 are the two Box–Muller normals of draws 2j and
 * 2j + 1. The doubles are used as they are (not rounded to fp32).
 */
import type { SolverOp } from "../../../compiler/plan/ops.js";
import type { DdimStep, DdpmStep, DpmStep, FlowStep, StepEntry } from "../../../compiler/schedule/step-table.js";
import { boxMuller, draw, tensorKey, uniform } from "../../../checkpoint/generator.js";
import { f64, type Memory } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

function where(op: SolverOp): string {
  return `op ${op.id} (solver_update, ${op.solver})`;
}

/** The name the noise stream of one step and sample is keyed by (with the op's noiseSeed). */
export function noiseStreamName(step: number, globalSample: number): string {
  return `noise/${step}/${globalSample}`;
}

/** The `count` standard normals of the noise stream of (seed, step, global sample), as doubles. */
export function solverNoise(seed: number, step: number, globalSample: number, count: number): Float64Array {
  const key = tensorKey(seed, noiseStreamName(step, globalSample));
  const z = new Float64Array(count);
  for (let m = 0; m < count; m += 2) {
    const [z0, z1] = boxMuller(uniform(draw(key, m)), uniform(draw(key, m + 1)));
    z[m] = z0;
    if (m + 1 < count) z[m + 1] = z1;
  }
  return z;
}

function isDdpm(e: StepEntry): e is DdpmStep {
  return "posterior_mean_coef1" in e;
}
function isDdim(e: StepEntry): e is DdimStep {
  return "direction_coef" in e;
}
function isDpm(e: StepEntry): e is DpmStep {
  return "x_coef" in e;
}
function isFlow(e: StepEntry): e is FlowStep {
  return "dt" in e;
}

export const runSolverUpdate: OpRunner<SolverOp> = (op: SolverOp, mem: Memory): void => {
  const step = mem.plan.steps[mem.step];
  if (!step) throw new Error(`${where(op)}: step ${mem.step} is not in the plan's ${mem.plan.steps.length} steps`);
  const entry = step.schedule;
  const { samples, channels: C, stride, plane } = op;
  if (stride < (op.learnedVariance ? 2 : 1) * C) throw new Error(`${where(op)}: stride ${stride} leaves no room for the prediction's channels`);

  // Element e of the (band's) plane → its index in the whole plane.
  let whole = plane;
  let place = (e: number): number => e;
  if (op.band) {
    const { first, count, height, width } = op.band;
    if (first + count > height || plane % (count * width) !== 0) throw new Error(`${where(op)}: band rows ${first}..${first + count - 1} of ${height} do not fit a plane of ${plane}`);
    whole = (plane / count) * height;
    place = (e: number): number => {
      const frame = Math.floor(e / (count * width));
      const rest = e % (count * width);
      return (frame * height + first + Math.floor(rest / width)) * width + (rest % width);
    };
  }
  const latent = f64(mem, op.latent);
  const prediction = f64(mem, op.prediction);
  if (latent.length < samples * C * whole) throw new Error(`${where(op)}: latent \`${op.latent}\` holds ${latent.length} values, fewer than ${samples * C * whole}`);
  if (prediction.length < samples * stride * plane) throw new Error(`${where(op)}: prediction \`${op.prediction}\` holds ${prediction.length} values, fewer than ${samples * stride * plane}`);
  const dp = mem.rank.coords["dp"] ?? 0;
  const noise = (s: number): Float64Array => solverNoise(op.noiseSeed, mem.step, dp * samples + s, C * whole);

  // Calls f(latent index, ε, v, sample-noise index) for every element the op updates.
  const each = (f: (xi: number, eps: number, v: number, zi: number) => void): void => {
    for (let s = 0; s < samples; s++) {
      for (let c = 0; c < C; c++) {
        for (let e = 0; e < plane; e++) {
          const w = place(e);
          const p = (s * stride + c) * plane + e;
          f((s * C + c) * whole + w, prediction[p]!, op.learnedVariance ? prediction[p + C * plane]! : 0, c * whole + w);
        }
      }
    }
  };

  switch (op.solver) {
    case "ddpm": {
      if (!isDdpm(entry)) throw new Error(`${where(op)}: step ${mem.step}'s schedule entry has no DDPM coefficients`);
      let z: Float64Array = new Float64Array(0);
      let sample = -1;
      each((xi, eps, v, zi) => {
        const x = latent[xi]!;
        const x0 = entry.sqrt_recip_alphas_cumprod * x - entry.sqrt_recipm1_alphas_cumprod * eps;
        const mean = entry.posterior_mean_coef1 * x0 + entry.posterior_mean_coef2 * x;
        if (!entry.add_noise) {
          latent[xi] = mean;
          return;
        }
        const s = Math.floor(xi / (C * whole));
        if (s !== sample) {
          sample = s;
          z = noise(s);
        }
        let logv = entry.log_beta;
        if (op.learnedVariance) {
          const f = (v + 1) / 2;
          logv = f * entry.log_beta + (1 - f) * entry.posterior_log_variance_clipped;
        }
        latent[xi] = mean + Math.exp(0.5 * logv) * z[zi]!;
      });
      return;
    }
    case "ddim": {
      if (!isDdim(entry)) throw new Error(`${where(op)}: step ${mem.step}'s schedule entry has no DDIM coefficients`);
      const noisy = entry.add_noise && entry.sigma !== 0;
      let z: Float64Array = new Float64Array(0);
      let sample = -1;
      each((xi, eps, _v, zi) => {
        const x = latent[xi]!;
        const x0 = entry.sqrt_recip_alphas_cumprod * x - entry.sqrt_recipm1_alphas_cumprod * eps;
        let next = entry.sqrt_alpha_cumprod_prev * x0 + entry.direction_coef * eps;
        if (noisy) {
          const s = Math.floor(xi / (C * whole));
          if (s !== sample) {
            sample = s;
            z = noise(s);
          }
          next += entry.sigma * z[zi]!;
        }
        latent[xi] = next;
      });
      return;
    }
    case "dpmpp2m": {
      if (!isDpm(entry)) throw new Error(`${where(op)}: step ${mem.step}'s schedule entry has no DPM-Solver++ coefficients`);
      if (op.history === undefined) throw new Error(`${where(op)}: DPM-Solver++ 2M needs a history buffer`);
      const history = f64(mem, op.history);
      if (history.length < samples * C * whole) throw new Error(`${where(op)}: history \`${op.history}\` holds ${history.length} values, fewer than ${samples * C * whole}`);
      const second = entry.order === 2 && entry.d1_coef !== 0;
      if (second && (entry.r0 === null || entry.r0 === 0)) throw new Error(`${where(op)}: a second-order step at step ${mem.step} has no ratio r0`);
      const r0 = entry.r0 ?? 1;
      each((xi, eps) => {
        const x = latent[xi]!;
        const m = (x - entry.sigma * eps) / entry.alpha;
        let next = entry.x_coef * x + entry.data_coef * m;
        if (second) next += entry.d1_coef * ((m - history[xi]!) / r0);
        latent[xi] = next;
        history[xi] = m;
      });
      return;
    }
    case "flow-euler": {
      if (!isFlow(entry)) throw new Error(`${where(op)}: step ${mem.step}'s schedule entry has no flow step dt`);
      each((xi, velocity) => {
        latent[xi] = latent[xi]! + entry.dt * velocity;
      });
      return;
    }
  }
  throw new Error(`${where(op)}: the reference interpreter has no ${String((op as { solver: unknown }).solver)} solver`);
};
