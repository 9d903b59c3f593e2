/**
 * What the native VAE decode tests (vae.test.ts, vae-split.test.ts) share: the golden files of the decoder
 * (test/fixtures/goldens/vae, made by test/reference/vae/make_vae_goldens.py: the weights in diffusers naming,
 * the sidecar's settings and cases, per case the latent, every stage's output and the video), the DiT plan each
 * case's decode follows (a tiny class-conditional model whose latent is the case's: dit for images, latte for
 * video), and the run that decodes a given latent: zero DiT steps, so the final latent is the input noise.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Plan } from "../../compiler/plan/types.js";
import type { NativeProgress, NativeRunRequest, NativeRunResult } from "../../runtime/native/addon.js";
import { GOLDEN_DIR, readTensors, tensor } from "../helpers/goldens.js";
import { compilePlan, native } from "./support.js";
import { decodeSection, type DecodeLayout, type DecoderConfig, type DecodeSection, withDecode } from "./vae-plan.js";

export const VAE_DIR = join(GOLDEN_DIR, "vae");
/** The decoder's checkpoint, diffusers naming. */
export const VAE_WEIGHTS = join(VAE_DIR, "vae-weights.safetensors");

export interface VaeCase {
  readonly samples: number;
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  readonly image: { readonly height: number; readonly width: number };
  readonly float32_relative_error: Readonly<Record<string, number>>;
}

export interface VaeSidecar {
  readonly kind: "vae";
  readonly file: string;
  readonly weights_file: string;
  readonly decoder: DecoderConfig;
  readonly weights: { readonly seed: number; readonly tensors: readonly { readonly name: string; readonly shape: readonly number[]; readonly sha256: string }[] };
  readonly stages: readonly string[];
  readonly cases: readonly VaeCase[];
}

export const SIDE = JSON.parse(readFileSync(join(VAE_DIR, "vae.json"), "utf8")) as VaeSidecar;

let golden: Promise<Map<string, Float32Array>> | undefined;
/** The golden tensors (case.<i>.input.latent, case.<i>.<stage>, case.<i>.output). */
export function vaeGolden(): Promise<Map<string, Float32Array>> {
  golden ??= readTensors(join(VAE_DIR, SIDE.file));
  return golden;
}

/** A case's latent [samples, 4, frames, h, w]. */
export async function caseLatent(i: number): Promise<Float32Array> {
  return tensor(await vaeGolden(), `case.${i}.input.latent`);
}

/** The label each case's class-conditional DiT is given (any: zero steps never read the model's output). */
const LABEL = 3;

/** A tiny DiT plan whose final latent is [samples, 4, frames, h, w]; `parallel`: a layout for several ranks. */
export function ditPlan(c: { readonly samples: number; readonly frames: number; readonly height: number; readonly width: number }, parallel?: string): Plan {
  const size = c.frames === 1 ? `image: { height: ${8 * c.height}, width: ${8 * c.width} }` : `video: { frames: ${c.frames}, height: ${8 * c.height}, width: ${8 * c.width} }`;
  const family = c.frames === 1 ? "dit" : "latte";
  return compilePlan(`version: 1
name: vae-${family}-${c.frames}x${c.height}x${c.width}
model: { family: ${family}, variant: ${family}-tiny, checkpoint: random, dtype: fp32 }
conditioning: { labels: [${Array.from({ length: c.samples }, () => LABEL).join(", ")}] }
${size}
seed: 0
scheduler: { kind: ddim, steps: 2, guidance: 4 }
vae: { kind: none }
output: { dir: out, formats: [latents] }
${parallel ? `parallel: ${parallel}\n` : ""}`);
}

/** The plan text: `base` with the decode of `layout` (and, for a patch split, every rank in one decode group). */
export function decodePlan(base: Plan, layout: DecodeLayout): { text: string; section: DecodeSection } {
  const section = decodeSection(SIDE.decoder, layout);
  const groups = layout.split.kind === "patch" ? [Array.from({ length: base.mesh.world }, (_, r) => r)] : undefined;
  return { text: withDecode(base as unknown as Parameters<typeof withDecode>[0], section.decode, groups), section };
}

/**
 * The request that decodes `latent` of `samples` samples (zero DiT steps: the final latent is the noise) with
 * the golden weights.
 */
export function decodeRequest(plan: string, latent: Float32Array, extra: Partial<NativeRunRequest> = {}, samples = 1): NativeRunRequest {
  return {
    plan,
    weights: { kind: "random", seed: 0 },
    inputs: { noise: latent, labels: Int32Array.from({ length: samples }, () => LABEL) },
    steps: 0,
    decodeWeights: { kind: "file", path: VAE_WEIGHTS, ignore: [] },
    threads: 2,
    ...extra,
  };
}

/** One native run of a request (rank 0). */
export function runDecode(request: NativeRunRequest, onProgress?: (p: NativeProgress) => void): Promise<NativeRunResult> {
  return native().run(request, onProgress);
}

/** The `video` output of a run. */
export function videoOf(result: { readonly outputs: readonly { readonly name: string; readonly shape: readonly number[]; readonly data: Float32Array }[] }): {
  shape: readonly number[];
  data: Float32Array;
} {
  const v = result.outputs.find((o) => o.name === "video");
  if (!v) throw new Error(`no video output (the outputs are ${result.outputs.map((o) => o.name).join(", ")})`);
  return v;
}

/** max|a − b| (infinite where either is NaN). */
export function maxAbsError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length} differ`);
  let e = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    e = Number.isNaN(d) ? Infinity : Math.max(e, d);
  }
  return e;
}
