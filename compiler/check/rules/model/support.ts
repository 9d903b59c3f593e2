/**
 * Small pieces the model and scheduler rules share: quoting and listing values in messages, the nearest
 * valid numbers around a wrong one, what the text encoders and VAEs produce, and where the size section is.
 */
import type { ModelFamily } from "../../../models/types.js";
import type { Spec, VaeKind } from "../../../spec/schema.js";

/** A value as written in a message: `x`. */
export function code(value: string | number | boolean): string {
  return `\`${String(value)}\``;
}

/** "`a`", "`a` or `b`", "`a`, `b` or `c`". */
export function orList(values: readonly (string | number)[]): string {
  const quoted = values.map(code);
  if (quoted.length <= 1) return quoted[0] ?? "";
  return `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

/** "`a`", "`a` and `b`", "`a`, `b` and `c`". */
export function andList(values: readonly (string | number)[]): string {
  const quoted = values.map(code);
  if (quoted.length <= 1) return quoted[0] ?? "";
  return `${quoted.slice(0, -1).join(", ")} and ${quoted[quoted.length - 1]}`;
}

/**
 * The closest numbers below and above `n` (within [min, max], and at most `reach` steps away, so that huge
 * values stay cheap) that pass `ok`; either may be missing.
 */
export function nearestValid(
  n: number,
  ok: (k: number) => boolean,
  min: number,
  max: number,
  reach = 100_000,
): { below?: number; above?: number } {
  const found: { below?: number; above?: number } = {};
  const low = Math.max(min, n - reach);
  const high = Math.min(max, n + reach);
  for (let k = Math.min(n - 1, max); k >= low; k--) {
    if (ok(k)) {
      found.below = k;
      break;
    }
  }
  for (let k = Math.max(n + 1, min); k <= high; k++) {
    if (ok(k)) {
      found.above = k;
      break;
    }
  }
  return found;
}

/** The defined members of a nearest-valid pair, below first. */
export function candidates(near: { below?: number; above?: number }): number[] {
  return [near.below, near.above].filter((k): k is number => k !== undefined);
}

/** The multiples of `d` closest to `n` inside [min, max], below first. */
export function nearestMultiples(n: number, d: number, min: number, max: number): number[] {
  const out: number[] = [];
  const below = Math.floor(n / d) * d;
  const above = Math.ceil(n / d) * d;
  if (below >= min && below <= max && below !== n) out.push(below);
  if (above >= min && above <= max && above !== n && above !== below) out.push(above);
  return out;
}

/** The text encoders the schema names, with the feature channels they produce and how long their output is. */
export const TEXT_ENCODER_CHANNELS: Readonly<Record<NonNullable<NonNullable<Spec["conditioning"]>["text_encoder"]>, number>> = {
  "t5-v1_1-xxl": 4096,
};

/** The encoder used when prompts are given without `text_encoder`. */
export const DEFAULT_TEXT_ENCODER = "t5-v1_1-xxl" as const;

/** Latent channels each VAE encodes to and decodes from (every supported VAE has 4; models.md §10). */
export const VAE_LATENT_CHANNELS: Readonly<Record<Exclude<VaeKind, "none">, number>> = {
  "sd-vae-ft-ema": 4,
  "sd-vae-ft-mse": 4,
  "sdxl-vae": 4,
  "opensora-vae-v1.2": 4,
  "causalvae-4x8x8": 4,
};

/** The VAE in force: the Spec's, else the family default. */
export function vaeInForce(spec: Spec, family: ModelFamily): VaeKind {
  return spec.vae?.kind ?? family.defaults.vae;
}

/** Whether `frames` is a frame count the family's VAE accepts. */
export function framesFit(family: ModelFamily, frames: number): boolean {
  return typeof family.latentFrames(frames) === "number";
}

/** A frame count the family accepts, for hints: the first trained one, else the valid count nearest 16. */
export function exampleFrames(family: ModelFamily): number {
  const trained = family.trainedSizes?.find((s) => s.frames !== undefined)?.frames;
  if (trained !== undefined) return trained;
  if (framesFit(family, 16)) return 16;
  const near = nearestValid(16, (k) => framesFit(family, k), 1, 4096);
  return near.above ?? near.below ?? 16;
}

/** The size section a family reads, as YAML flow text with the given height and width. */
export function sizeSection(family: ModelFamily, height: number, width: number): string {
  return family.kind === "video"
    ? `video: { frames: ${exampleFrames(family)}, height: ${height}, width: ${width} }`
    : `image: { height: ${height}, width: ${width} }`;
}

/** A height and width the family accepts, for hints: the first trained size, else 512 x 512. */
export function exampleSize(family: ModelFamily): { height: number; width: number } {
  const first = family.trainedSizes?.[0];
  return first ? { height: first.height, width: first.width } : { height: 512, width: 512 };
}
