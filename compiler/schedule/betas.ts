/**
 * The linear beta schedule of the DDPM-family models (models.md §9: β from 1e-4 to 0.02 over T training steps)
 * and its cumulative products ᾱ, built the way each reference code base builds them:
 * - IDDPM (DiT, PixArt, Latte, STDiT, and DPM-Solver's discrete schedule): `get_named_beta_schedule("linear", T)`,
 *   numpy float64, with both ends scaled by 1000/T so that any T has the noise level of the 1000-step schedule.
 * - diffusers (`DDIMScheduler`, Latte-1 and Open-Sora-Plan): `torch.linspace(1e-4, 0.02, T, dtype=float32)`,
 *   unscaled, in float32. torch's CPU cumprod accumulates in double and rounds each output to float32. Emulating
 *   both exactly makes ᾱ bit for bit the table diffusers indexes, so the DDIM coefficients derive from the same
 *   constants (checked against torch 2.11 by the sha256 of the whole table in the tests).
 */
import { numpyLinspace } from "./timesteps.js";

/** IDDPM's linear betas, float64: `linspace(scale·1e-4, scale·0.02, T)` with scale = 1000/T. */
export function iddpmLinearBetas(train: number): number[] {
  const scale = 1000 / train;
  return numpyLinspace(scale * 0.0001, scale * 0.02, train);
}

/** Running product, left to right in float64 (numpy's cumprod). */
export function cumprod(values: readonly number[]): number[] {
  const out: number[] = [];
  let acc = 1;
  for (const v of values) {
    acc *= v;
    out.push(acc);
  }
  return out;
}

/** ᾱ of IDDPM's base (unrespaced) process: cumprod(1 − β) in float64. */
export function iddpmAlphasCumprod(train: number): number[] {
  return cumprod(iddpmLinearBetas(train).map((b) => 1 - b));
}

/**
 * torch's CPU `linspace(start, end, steps, dtype=float32)`: the step is computed in float32, the first half of
 * the points counts up from the start and the second half down from the end, each point rounded once (the
 * vectorised kernel fuses the multiply and add). Rounding a double result to float32 reproduces that single
 * rounding here: the product step·k is exact in double.
 */
export function torchLinspaceFloat32(start: number, end: number, steps: number): number[] {
  const s = Math.fround(start);
  const e = Math.fround(end);
  if (steps === 1) return [s];
  const step = Math.fround(Math.fround(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => Math.fround(i < halfway ? s + step * i : e - step * (steps - 1 - i)));
}

/** diffusers' ᾱ: float32 betas, α = 1 − β in float32, cumprod accumulated in double and stored as float32. */
export function diffusersAlphasCumprod(train: number): number[] {
  const alphas = torchLinspaceFloat32(0.0001, 0.02, train).map((b) => Math.fround(1 - b));
  return cumprod(alphas).map((a) => Math.fround(a));
}
