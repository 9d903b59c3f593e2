/**
 * IDDPM's respaced process (`SpacedDiffusion`, models.md §9.1): the kept training indices τ_0 < … < τ_{N−1}, the
 * new betas β'_k = 1 − ᾱ[τ_k]/ᾱ[τ_{k−1}], and the arrays `GaussianDiffusion` derives from them. ᾱ' is recomputed
 * as cumprod(1 − β') as IDDPM does, not read back from ᾱ[τ_k]; the two differ in the last bits.
 */
import { cumprod, iddpmAlphasCumprod } from "./betas.js";
import { respacedIndices } from "./timesteps.js";

export interface RespacedProcess {
  /** τ_k, ascending: the training index the model receives at respaced step k. */
  readonly timesteps: readonly number[];
  readonly betas: readonly number[];
  /** 1 − β'_k. */
  readonly alphas: readonly number[];
  readonly alphasCumprod: readonly number[];
  /** ᾱ'_{k−1}, 1 for k = 0. */
  readonly alphasCumprodPrev: readonly number[];
}

export function respacedProcess(train: number, steps: number): RespacedProcess {
  const base = iddpmAlphasCumprod(train);
  const timesteps = respacedIndices(train, steps);
  const betas: number[] = [];
  let last = 1;
  for (const tau of timesteps) {
    const a = base[tau]!;
    betas.push(1 - a / last);
    last = a;
  }
  const alphas = betas.map((b) => 1 - b);
  const alphasCumprod = cumprod(alphas);
  return { timesteps, betas, alphas, alphasCumprod, alphasCumprodPrev: [1, ...alphasCumprod.slice(0, -1)] };
}
