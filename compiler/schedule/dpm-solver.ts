/**
 * The DPM-Solver++ multistep step table (the `dpmpp2m` op), as PixArt and Open-Sora call it (models.md §9.3):
 * `NoiseScheduleVP('discrete', betas)`, `algorithm_type="dpmsolver++"`, `skip_type="time_uniform"`,
 * `method="multistep"`, `solver_type="dpmsolver"`, `lower_order_final=True`, `denoise_to_zero=False`.
 *
 * The discrete schedule is the piecewise-linear interpolation of logα_i = ½·Σ_{j≤i} log(1 − β_j) over
 * t_i = (i+1)/T, extrapolated linearly past both ends by the outer segments (`interpolate_fn`). The reference
 * runs it in float32; these are the float64 values of the same formulas (they differ by about 1e-7 relative).
 */
import { iddpmLinearBetas } from "./betas.js";
import type { DpmStep, DpmTable } from "./step-table.js";
import { dpmModelTime, dpmTimeGrid, type ScheduleInput } from "./timesteps.js";

/** The reference truncates the schedule where λ falls below this (`numerical_clip_alpha`); see problems.ts. */
export const DPM_LAMBDA_CLIP = -5.1;

/** logα, α, σ and λ = logα − log σ of the discrete VP schedule at continuous times. */
export class DiscreteVpSchedule {
  private readonly times: number[];
  private readonly logAlphas: number[];

  constructor(train: number) {
    let sum = 0;
    this.logAlphas = iddpmLinearBetas(train).map((b) => {
      sum += Math.log(1 - b);
      return 0.5 * sum;
    });
    this.times = Array.from({ length: train }, (_, i) => (i + 1) / train);
  }

  /** `interpolate_fn`: the segment holding t, or the first or last segment for t outside [t_0, t_{T−1}]. */
  logAlpha(t: number): number {
    const xs = this.times;
    const ys = this.logAlphas;
    const k = xs.length;
    let j = 1;
    if (t >= xs[k - 1]!) j = k - 1;
    else while (j < k - 1 && xs[j]! < t) j++;
    const sx = xs[j - 1]!;
    const sy = ys[j - 1]!;
    return sy + ((t - sx) * (ys[j]! - sy)) / (xs[j]! - sx);
  }

  alpha(t: number): number {
    return Math.exp(this.logAlpha(t));
  }

  sigma(t: number): number {
    return Math.sqrt(1 - Math.exp(2 * this.logAlpha(t)));
  }

  lambda(t: number): number {
    const la = this.logAlpha(t);
    return la - 0.5 * Math.log(1 - Math.exp(2 * la));
  }

  /** λ of the last training step, the smallest: the reference clips when it is below DPM_LAMBDA_CLIP. */
  lambdaAtEnd(): number {
    const la = this.logAlphas[this.logAlphas.length - 1]!;
    return la - 0.5 * Math.log(1 - Math.exp(2 * la));
  }
}

/** The order the reference uses for step i (0-based, the update from t_i to t_{i+1}). */
export function dpmStepOrder(i: number, steps: number, order: number): number {
  if (i === 0) return 1;
  // lower_order_final lowers the last steps' order only when there are fewer than 10 steps.
  return steps < 10 ? Math.min(order, steps - i) : order;
}

export function dpmSolverTable(s: ScheduleInput): DpmTable {
  const train = s.train_steps ?? 1000;
  const n = s.steps;
  const order = s.order ?? 2;
  const vp = new DiscreteVpSchedule(train);
  const grid = dpmTimeGrid(train, n);
  const lambdas = grid.map((t) => vp.lambda(t));
  const steps: DpmStep[] = [];
  for (let i = 0; i < n; i++) {
    const t = grid[i]!;
    const tNext = grid[i + 1]!;
    const stepOrder = dpmStepOrder(i, n, order) === 1 ? 1 : 2;
    const h = lambdas[i + 1]! - lambdas[i]!;
    const hPrev = stepOrder === 2 ? lambdas[i]! - lambdas[i - 1]! : null;
    const alphaNext = vp.alpha(tNext);
    const phi1 = Math.expm1(-h);
    steps.push({
      index: i,
      timestep: dpmModelTime(t, train),
      t,
      t_next: tNext,
      order: stepOrder,
      alpha: vp.alpha(t),
      sigma: vp.sigma(t),
      lambda: lambdas[i]!,
      alpha_next: alphaNext,
      sigma_next: vp.sigma(tNext),
      lambda_next: lambdas[i + 1]!,
      h,
      h_prev: hPrev,
      r0: hPrev === null ? null : hPrev / h,
      phi_1: phi1,
      x_coef: vp.sigma(tNext) / vp.sigma(t),
      data_coef: -(alphaNext * phi1),
      d1_coef: stepOrder === 2 ? -0.5 * (alphaNext * phi1) : 0,
    });
  }
  return { kind: "dpm-solver", solver: "dpmpp2m", trainSteps: train, steps };
}
