/**
 * The VAE decode a checked Spec asks for, with every default resolved, for the lowering (lower-decode.ts), the
 * checker's rules (compiler/check/rules/decode) and the memory estimate (cost/memory.ts) alike, so the three
 * never disagree on whether a run decodes, how it splits the work and in what dtype.
 *
 * A run decodes when its output asks for pixels (png, gif, mp4; `output.formats` defaults to latents) and the
 * VAE in force (the Spec's, else the family's default) is not `none`. Defaults:
 * - tiling: off; `true` means 512-pixel tiles with 64 pixels of overlap (diffusers' AutoencoderKL tiling).
 * - parallel: `patch` when several ranks hold the same samples (every axis but dp: they all end the step loop
 *   with the same latent), no tiling is asked for, there is no PipeFusion (only its last stage holds the final
 *   latent) and the latent height divides by the ranks; else `none`.
 * - dtype: the model's. One exception: the SDXL VAE overflows in fp16 (its activations exceed 65504; Open-Sora
 *   1.2 runs it in bf16 for that reason, models.md §10.2), so an fp16 model decodes with it in bf16, which has
 *   fp32's range. sd-vae-ft-ema and -mse decode in fp16 as the reference pipelines run them.
 * - frames_per_pass: 1 (one frame at a time, the reference's per-frame decode); at most the latent frames.
 */
import type { Facts } from "../../check/facts.js";
import { decodes } from "../../models/vae/index.js";
import type { ModelFamily } from "../../models/types.js";
import type { DecodedVae } from "../../plan/types.js";
import type { Dtype, Spec, VaeKind } from "../../spec/schema.js";

/** Tile and overlap of `tiling: true`, in image pixels. */
export const DEFAULT_TILE = 512;
export const DEFAULT_OVERLAP = 64;

export type DecodeDtype = "f32" | "bf16" | "f16";

const DECODE_DTYPE: Readonly<Record<Dtype, DecodeDtype>> = { fp32: "f32", fp16: "f16", bf16: "bf16" };

export interface DecodeTiling {
  /** Image pixels, as written or defaulted. */
  readonly tile: number;
  readonly overlap: number;
}

export interface DecodeSettings {
  readonly vae: DecodedVae;
  /** The Spec's vae.checkpoint; undefined when it names none. */
  readonly checkpoint: string | undefined;
  readonly weightsSeed: number;
  readonly dtype: DecodeDtype;
  readonly framesPerPass: number;
  readonly tiling: DecodeTiling | undefined;
  readonly parallel: "patch" | "none";
  /** Ranks that hold the same samples at the end of the step loop: the product of every degree but dp. */
  readonly groupSize: number;
}

/** Whether the output asks for decoded pixels. */
export function wantsPixels(spec: Spec): boolean {
  return (spec.output?.formats ?? ["latents"]).some((f) => f !== "latents");
}

/** The VAE the run decodes with: undefined when it writes latents only or its VAE is `none`. */
export function decodeVaeKind(spec: Spec, family: ModelFamily): Exclude<VaeKind, "none"> | undefined {
  if (!wantsPixels(spec)) return undefined;
  const kind = spec.vae?.kind ?? family.defaults.vae;
  return kind === "none" ? undefined : kind;
}

/** `vae.tiling` resolved: undefined when off. */
export function tilingOf(spec: Spec): DecodeTiling | undefined {
  const t = spec.vae?.tiling;
  if (t === undefined || t === false) return undefined;
  if (t === true) return { tile: DEFAULT_TILE, overlap: DEFAULT_OVERLAP };
  return { tile: t.tile ?? DEFAULT_TILE, overlap: t.overlap ?? DEFAULT_OVERLAP };
}

/** Ranks holding the same samples: every axis but dp. */
export function decodeGroupSize(degrees: Facts["degrees"]): number {
  return Object.entries(degrees).reduce((n, [axis, d]) => (axis === "dp" ? n : n * d), 1);
}

/** The decode dtype: the Spec's vae.dtype, else the model's, but bf16 for the SDXL VAE of an fp16 model. */
export function decodeDtype(spec: Spec, vae: VaeKind): DecodeDtype {
  if (spec.vae?.dtype !== undefined) return DECODE_DTYPE[spec.vae.dtype];
  const model = spec.model.dtype ?? "bf16";
  if (model === "fp16" && vae === "sdxl-vae") return "bf16";
  return DECODE_DTYPE[model];
}

/** The default of `vae.parallel` for these facts. */
export function defaultParallel(spec: Spec, facts: Facts, latentHeight: number): "patch" | "none" {
  const parts = decodeGroupSize(facts.degrees);
  const ok = parts > 1 && tilingOf(spec) === undefined && facts.degrees.pipefusion === 1 && latentHeight % parts === 0;
  return ok ? "patch" : "none";
}

/**
 * The decode of a Spec whose family and geometry are known; undefined when nothing is decoded or the VAE has no
 * decoder the compiler lowers (a rule refuses that when pixels are asked for).
 */
export function decodeSettings(spec: Spec, facts: Facts): DecodeSettings | undefined {
  const { family, geometry } = facts;
  if (!family || !geometry) return undefined;
  const kind = decodeVaeKind(spec, family);
  if (kind === undefined || !decodes(kind)) return undefined;
  return {
    vae: kind,
    checkpoint: spec.vae?.checkpoint,
    weightsSeed: spec.vae?.weights_seed ?? 0,
    dtype: decodeDtype(spec, kind),
    framesPerPass: Math.min(spec.vae?.frames_per_pass ?? 1, geometry.latentFrames),
    tiling: tilingOf(spec),
    parallel: spec.vae?.parallel ?? defaultParallel(spec, facts, geometry.latentHeight),
    groupSize: decodeGroupSize(facts.degrees),
  };
}
