/**
 * The model timestep fed at each sampler step, in sampling order (first step first), exactly as the reference
 * samplers compute it (models.md §9). PAB windows and MLP broadcast points are checked against these values,
 * and the plan's step table is built from them.
 */
import type { SchedulerSpec } from "../spec/schema.js";

export interface TimestepContext {
  readonly frames: number;
  readonly height: number;
  readonly width: number;
}

/** The timestep scale of a scheduler: values lie in [0, max]. */
export function timestepMax(s: SchedulerSpec): number {
  const train = s.train_steps ?? 1000;
  return s.kind === "rflow" || s.kind === "euler" ? train : train - 1;
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** IDDPM's `space_timesteps(T, "N")`: N indices spread over [0, T-1], ascending (models.md §9.1). */
export function respacedIndices(train: number, steps: number): number[] {
  const stride = steps > 1 ? (train - 1) / (steps - 1) : 1;
  const taken: number[] = [];
  let cur = 0;
  for (let i = 0; i < steps; i++) {
    taken.push(roundHalfEven(cur));
    cur += stride;
  }
  return taken;
}

/** The rectified-flow timestep transform of Open-Sora 1.2 (models.md §9.4), on u in [0, 1]. */
export function rflowShift(u: number, ctx: TimestepContext): number {
  const rs = Math.sqrt((ctx.height * ctx.width) / (512 * 512));
  const nf = ctx.frames === 1 ? 1 : Math.floor(ctx.frames / 17) * 5;
  const r = rs * Math.sqrt(nf);
  return (r * u) / (1 + (r - 1) * u);
}

export function timesteps(s: SchedulerSpec, ctx: TimestepContext): number[] {
  const train = s.train_steps ?? 1000;
  const n = s.steps;
  switch (s.kind) {
    case "iddpm":
      return respacedIndices(train, n).reverse();
    case "ddim": {
      const spacing = s.spacing ?? "leading";
      if (spacing === "leading") {
        const ratio = Math.floor(train / n);
        return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio);
      }
      if (spacing === "trailing") {
        const step = train / n;
        return Array.from({ length: n }, (_, i) => Math.round(train - i * step) - 1);
      }
      return Array.from({ length: n }, (_, i) => Math.round(n === 1 ? train - 1 : ((train - 1) * (n - 1 - i)) / (n - 1)));
    }
    case "dpm-solver": {
      // time_uniform grid t_i = linspace(1, 1e-3, n+1); the model sees (t - 1e-3) * 1000 at t_0 .. t_{n-1}.
      const eps = 1 / train;
      return Array.from({ length: n }, (_, i) => (1 - (i * (1 - eps)) / n - eps) * train);
    }
    case "rflow": {
      const transform = s.timestep_transform ?? true;
      return Array.from({ length: n }, (_, i) => {
        const u = 1 - i / n;
        return train * (transform ? rflowShift(u, ctx) : u);
      });
    }
    case "euler": {
      const shift = s.shift ?? 1;
      const sigmaMin = 1 / train;
      return Array.from({ length: n }, (_, i) => {
        const sigma = n === 1 ? 1 : 1 - (i * (1 - sigmaMin)) / (n - 1);
        return train * ((shift * sigma) / (1 + (shift - 1) * sigma));
      });
    }
  }
}
