/**
 * The IDDPM ancestral step table (the `ddpm` op): the posterior and learned-range variance coefficients of the
 * respaced process, per models.md §9.1 and `GaussianDiffusion.__init__`, in sampling order (k = N−1 first).
 */
import { respacedProcess } from "./respaced.js";
import type { DdpmStep, DdpmTable } from "./step-table.js";
import type { ScheduleInput } from "./timesteps.js";

export function iddpmTable(s: ScheduleInput): DdpmTable {
  const train = s.train_steps ?? 1000;
  const p = respacedProcess(train, s.steps);
  const n = p.timesteps.length;
  const posteriorVariance = p.betas.map((b, k) => (b * (1 - p.alphasCumprodPrev[k]!)) / (1 - p.alphasCumprod[k]!));
  // The posterior variance is 0 at k = 0; IDDPM clips the log by repeating the k = 1 entry there.
  const logVarianceClipped = posteriorVariance.map((v, k) => Math.log(k === 0 ? posteriorVariance[1]! : v));
  const steps: DdpmStep[] = [];
  for (let k = n - 1; k >= 0; k--) {
    const beta = p.betas[k]!;
    const acp = p.alphasCumprod[k]!;
    const acpPrev = p.alphasCumprodPrev[k]!;
    steps.push({
      index: n - 1 - k,
      timestep: p.timesteps[k]!,
      sqrt_recip_alphas_cumprod: Math.sqrt(1 / acp),
      sqrt_recipm1_alphas_cumprod: Math.sqrt(1 / acp - 1),
      posterior_mean_coef1: (beta * Math.sqrt(acpPrev)) / (1 - acp),
      posterior_mean_coef2: ((1 - acpPrev) * Math.sqrt(p.alphas[k]!)) / (1 - acp),
      log_beta: Math.log(beta),
      posterior_log_variance_clipped: logVarianceClipped[k]!,
      add_noise: k > 0,
    });
  }
  return { kind: "iddpm", solver: "ddpm", trainSteps: train, steps };
}
