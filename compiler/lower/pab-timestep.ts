/**
 * The timestep a PAB window is tested against, exactly as the reference implementations compute it.
 *
 * VideoSys never compares the scheduler's timestep itself: every block passes `int(timestep[0])` to its
 * `if_broadcast_*` test (videosys/core/pab/pab_mgr.py), and which tensor that is differs per model:
 *
 * - Open-Sora 1.2 (`STDiT3.forward`) first casts the timestep to the weights' dtype (`timestep.to(dtype)`), so
 *   under bf16 the test sees the bf16 value: 930.16 becomes 932 and 492.03 becomes 492, the `t` row of
 *   opendit-videosys.md §1.5. (That section's aside says 930.17 becomes 928; torch converts float32 to bf16
 *   by rounding to nearest even, and bf16 has a spacing of 4 there, so 930.16 rounds to 932, which is what the
 *   worked table itself lists for step 8. We follow the conversion and the table.) Open-Sora 1.0 STDiT and
 *   PixArt cast the same way at the top of their forward, so a PAB test inside them would see the cast value.
 * - Latte and Open-Sora-Plan v1.1 test `org_timestep`, the scheduler's integer timestep before any cast; DiT
 *   never casts. Those see the scheduler value.
 *
 * We reproduce both, because a window bound that falls between a raw timestep and its rounded value decides
 * compute or reuse differently (a bound of 931 takes step 8 above at fp32 and not at bf16). The dtype is the
 * pipeline's declared `model.dtype`, not the backend's compute type: the CPU reference backend computes in
 * fp32, but it must run the same step patterns as the GPU it is the reference for.
 */
import type { Dtype } from "../spec/schema.js";

/** Where the tested value comes from: the timestep cast to the model dtype, or the scheduler's own value. */
export type TestTimestepSource = "model-dtype" | "scheduler";

/** Significand bits (with the implicit one) and smallest normal exponent of each floating type. */
const FORMATS: Readonly<Record<Dtype, { readonly bits: number; readonly minExponent: number; readonly max: number }>> = {
  fp32: { bits: 24, minExponent: -126, max: 3.4028234663852886e38 },
  fp16: { bits: 11, minExponent: -14, max: 65504 },
  bf16: { bits: 8, minExponent: -126, max: 3.3895313892515355e38 },
};

/**
 * `x` converted to `dtype` by rounding to the nearest representable value, ties to even (what torch's `.to()`
 * does from float32), returned as a number. Subnormals keep the fixed spacing of the smallest normal binade.
 */
export function roundToDtype(x: number, dtype: Dtype): number {
  const single = Math.fround(x);
  if (dtype === "fp32" || single === 0 || !Number.isFinite(single)) return single;
  const { bits, minExponent, max } = FORMATS[dtype];
  const magnitude = Math.abs(single);
  let exponent = Math.floor(Math.log2(magnitude));
  // log2 may land one off next to a power of two; settle on 2^exponent <= magnitude < 2^(exponent + 1).
  if (2 ** exponent > magnitude) exponent -= 1;
  else if (2 ** (exponent + 1) <= magnitude) exponent += 1;
  const spacing = 2 ** (Math.max(exponent, minExponent) - (bits - 1));
  // Dividing by a power of two is exact, so the integer part and the fraction below are exact too.
  const scaled = magnitude / spacing;
  const floor = Math.floor(scaled);
  const fraction = scaled - floor;
  const units = fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  const rounded = units * spacing;
  return Math.sign(single) * (rounded > max ? Infinity : rounded);
}

/**
 * The value a PAB window tests at one step: the scheduler's timestep as the float32 tensor the reference
 * samplers hold, cast to the model dtype where the model casts before the test, then truncated toward zero
 * like Python's `int()`.
 */
export function pabTestTimestep(timestep: number, source: TestTimestepSource, dtype: Dtype): number {
  const tensorValue = source === "model-dtype" ? roundToDtype(timestep, dtype) : Math.fround(timestep);
  return Math.trunc(tensorValue);
}
