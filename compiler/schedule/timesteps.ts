/**
 * The time grid of each sampler and the model timestep fed at each step, in sampling order (first step first),
 * exactly as the reference samplers compute them (models.md §7–§9). PAB windows and MLP broadcast points are
 * checked against these values, and the step tables (compiler/schedule/lower.ts) are built from the same grids,
 * so the checker and the plan can never disagree about a timestep.
 */
import type { SchedulerSpec } from "../spec/schema.js";

export interface TimestepContext {
  readonly frames: number;
  readonly height: number;
  readonly width: number;
}

/**
 * How DDIM places its steps: diffusers' `leading`, `trailing` and `linspace` timestep spacing, or `iddpm`, the
 * respaced process of IDDPM's `ddim_sample_loop` (the same kept indices as IDDPM ancestral sampling).
 */
export type DdimSpacing = "leading" | "trailing" | "linspace" | "iddpm";

/**
 * A scheduler as the schedule code reads it: the Spec's scheduler, with `spacing` widened to every DDIM flavour
 * this code implements (a Spec's scheduler is always one of these).
 */
export type ScheduleInput = Omit<SchedulerSpec, "spacing"> & { readonly spacing?: DdimSpacing | undefined };

/** The timestep scale of a scheduler: values lie in [0, max]. */
export function timestepMax(s: ScheduleInput): number {
  const train = s.train_steps ?? 1000;
  return s.kind === "rflow" || s.kind === "euler" ? train : train - 1;
}

/** Python's round() and numpy's round(): half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * numpy's `linspace(start, stop, num)` element by element: `i * step + start`, the last element exactly `stop`
 * (one element: `start`). Grids built this way round (half to even) to the same integers numpy's do.
 */
export function numpyLinspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : i * step + start));
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

/**
 * DDIM's timesteps, descending (models.md §9.2). diffusers' `set_timesteps` builds them with numpy and rounds half
 * to even: `leading` is `k * (T // N)`; `trailing` is `round(arange(T, 0, -T/N)) - 1`, where numpy's arange
 * steps by `(T - T/N) - T`; `linspace` is `round(linspace(0, T-1, N))` reversed. For a few N (61, 103, 121 … at
 * T = 1000) numpy's trailing arange has N + 1 elements, the last rounding to timestep -1; that is a diffusers
 * defect, and these are the N steps it means.
 */
export function ddimTimesteps(train: number, steps: number, spacing: DdimSpacing): number[] {
  switch (spacing) {
    case "iddpm":
      return respacedIndices(train, steps).reverse();
    case "leading": {
      const ratio = Math.floor(train / steps);
      return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio);
    }
    case "trailing": {
      const delta = train - train / steps - train;
      return Array.from({ length: steps }, (_, i) => roundHalfEven(train + i * delta) - 1);
    }
    case "linspace":
      return numpyLinspace(0, train - 1, steps).map(roundHalfEven).reverse();
  }
}

/**
 * DPM-Solver's `time_uniform` grid `linspace(1, 1/T, N + 1)`, computed the way torch's linspace does (the first
 * half counted up from the start, the second half down from the end, so both ends are exact). Step i evaluates
 * the model at t_i and moves to t_{i+1}.
 */
export function dpmTimeGrid(train: number, steps: number): number[] {
  const start = 1;
  const end = 1 / train;
  const count = steps + 1;
  const step = (end - start) / steps;
  const halfway = Math.floor(count / 2);
  return Array.from({ length: count }, (_, i) => (i < halfway ? start + step * i : end - step * (count - 1 - i)));
}

/**
 * The model input of DPM-Solver's discrete-time wrapper, `(t - 1/T) * 1000`. The reference hard-codes 1000,
 * which is its T; scaling by T keeps the input on the model's trained index scale [0, T-1] for any T.
 */
export function dpmModelTime(t: number, train: number): number {
  return (t - 1 / train) * train;
}

/** The rectified-flow timestep transform of Open-Sora 1.2 (models.md §9.4), on u in [0, 1]. */
export function rflowShift(u: number, ctx: TimestepContext): number {
  const r = rflowRatio(ctx);
  return (r * u) / (1 + (r - 1) * u);
}

/**
 * The ratio r of the Open-Sora 1.2 transform: sqrt(pixels / 512²) · sqrt(frames // 17 · 5), with 1 for an
 * image. Below 17 frames the frame factor is 0, so every timestep collapses to 0 (and the first is 0/0): the
 * reference breaks there, and the checker refuses it (RflowFramesRule).
 */
export function rflowRatio(ctx: TimestepContext): number {
  const rs = Math.sqrt((ctx.height * ctx.width) / (512 * 512));
  const nf = ctx.frames === 1 ? 1 : Math.floor(ctx.frames / 17) * 5;
  return rs * Math.sqrt(nf);
}

/** The flow-matching shift σ' = shift·σ / (1 + (shift − 1)·σ) (models.md §8.2). */
export function flowShift(sigma: number, shift: number): number {
  return (shift * sigma) / (1 + (shift - 1) * sigma);
}

/**
 * The noise level σ_i ∈ (0, 1] of each flow step, first step first; the model is fed T·σ_i.
 * - rflow (Open-Sora 1.2): t_i = (1 − i/N)·T, optionally through the resolution and frame-count transform.
 * - euler (diffusers' FlowMatchEulerDiscreteScheduler, SD3): the scheduler's σ_min is the *shifted* σ of its last
 *   training timestep, shift(1/T); `set_timesteps` spaces N values linearly from 1 to that σ_min and shifts them
 *   again. So with shift ≠ 1 the last σ is shift(shift(1/T)), not shift(1/T): that is what SD3 runs.
 */
export function flowSigmas(s: ScheduleInput, ctx: TimestepContext): number[] {
  const train = s.train_steps ?? 1000;
  const n = s.steps;
  if (s.kind === "rflow") {
    const transform = s.timestep_transform ?? true;
    return Array.from({ length: n }, (_, i) => {
      const u = 1 - i / n;
      return transform ? rflowShift(u, ctx) : u;
    });
  }
  const shift = s.shift ?? 1;
  const sigmaMin = flowShift(1 / train, shift);
  return numpyLinspace(train, sigmaMin * train, n).map((t) => flowShift(t / train, shift));
}

export function timesteps(s: ScheduleInput, ctx: TimestepContext): number[] {
  const train = s.train_steps ?? 1000;
  const n = s.steps;
  switch (s.kind) {
    case "iddpm":
      return respacedIndices(train, n).reverse();
    case "ddim":
      return ddimTimesteps(train, n, s.spacing ?? "leading");
    case "dpm-solver":
      return dpmTimeGrid(train, n)
        .slice(0, n)
        .map((t) => dpmModelTime(t, train));
    case "rflow":
    case "euler":
      return flowSigmas(s, ctx).map((sigma) => sigma * train);
  }
}
