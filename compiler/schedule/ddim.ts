/**
 * The DDIM step table (the `ddim` op), in both reference flavours (models.md §9.2):
 * - `spacing: iddpm`: IDDPM's `ddim_sample` on the respaced process; ᾱ is the respaced ᾱ', the step moves to the
 *   previous respaced step, and the model receives the kept training index.
 * - `leading` (the default), `trailing`, `linspace`: diffusers' `DDIMScheduler` with steps_offset 0 and
 *   set_alpha_to_one; ᾱ is diffusers' float32 table (betas.ts), and the step moves to t − T//N whatever the
 *   spacing (diffusers' `prev_timestep`), ᾱ_prev = 1 below 0.
 * η > 0 adds noise with DDIM's σ; each flavour computes σ and the x0 coefficients in its own algebraic form.
 */
import { diffusersAlphasCumprod } from "./betas.js";
import { respacedProcess } from "./respaced.js";
import type { DdimStep, DdimTable } from "./step-table.js";
import { ddimTimesteps, type ScheduleInput } from "./timesteps.js";

interface DdimPoint {
  readonly timestep: number;
  readonly acp: number;
  readonly acpPrev: number;
  readonly sigma: number;
  readonly sqrtRecip: number;
  readonly sqrtRecipm1: number;
}

function step(index: number, p: DdimPoint): DdimStep {
  return {
    index,
    timestep: p.timestep,
    alpha_cumprod: p.acp,
    alpha_cumprod_prev: p.acpPrev,
    sigma: p.sigma,
    sqrt_recip_alphas_cumprod: p.sqrtRecip,
    sqrt_recipm1_alphas_cumprod: p.sqrtRecipm1,
    sqrt_alpha_cumprod_prev: Math.sqrt(p.acpPrev),
    direction_coef: Math.sqrt(1 - p.acpPrev - p.sigma ** 2),
    add_noise: p.sigma > 0,
  };
}

/** IDDPM `ddim_sample` over the respaced process. */
function iddpmFlavour(train: number, steps: number, eta: number): DdimStep[] {
  const p = respacedProcess(train, steps);
  const n = p.timesteps.length;
  const out: DdimStep[] = [];
  for (let k = n - 1; k >= 0; k--) {
    const acp = p.alphasCumprod[k]!;
    const acpPrev = p.alphasCumprodPrev[k]!;
    out.push(
      step(n - 1 - k, {
        timestep: p.timesteps[k]!,
        acp,
        acpPrev,
        sigma: eta * Math.sqrt((1 - acpPrev) / (1 - acp)) * Math.sqrt(1 - acp / acpPrev),
        sqrtRecip: Math.sqrt(1 / acp),
        sqrtRecipm1: Math.sqrt(1 / acp - 1),
      }),
    );
  }
  return out;
}

/** diffusers `DDIMScheduler.step`. */
function diffusersFlavour(s: ScheduleInput, train: number, eta: number): DdimStep[] {
  const table = diffusersAlphasCumprod(train);
  const ratio = Math.floor(train / s.steps);
  return ddimTimesteps(train, s.steps, s.spacing ?? "leading").map((t, index) => {
    const prev = t - ratio;
    const acp = table[t]!;
    const acpPrev = prev >= 0 ? table[prev]! : 1;
    const variance = ((1 - acpPrev) / (1 - acp)) * (1 - acp / acpPrev);
    return step(index, {
      timestep: t,
      acp,
      acpPrev,
      sigma: eta * Math.sqrt(variance),
      sqrtRecip: 1 / Math.sqrt(acp),
      sqrtRecipm1: Math.sqrt(1 - acp) / Math.sqrt(acp),
    });
  });
}

export function ddimTable(s: ScheduleInput): DdimTable {
  const train = s.train_steps ?? 1000;
  const eta = s.eta ?? 0;
  const steps = s.spacing === "iddpm" ? iddpmFlavour(train, s.steps, eta) : diffusersFlavour(s, train, eta);
  return { kind: "ddim", solver: "ddim", trainSteps: train, steps };
}
