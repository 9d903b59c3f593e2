/**
 * Pieces shared by several families: resolving hyperparameters, the geometry of a per-frame SD-VAE, and the
 * checkpoint tensors of blocks that many DiT descendants have in common (models.md §0).
 */
import type { Geometry, Hyper, HyperInput, WeightInfo } from "./types.js";

export interface HyperDefaults {
  readonly patch: number;
  readonly patchT: number;
  readonly inChannels: number;
  readonly learnSigma: boolean;
  readonly mlpRatio: number;
  readonly captionChannels: number;
  readonly textTokens: number;
  readonly numClasses: number;
}

/**
 * The text side of every text family's `<family>-tiny` variant: 32 feature channels and 8 tokens instead of T5's
 * 4096 x 120 or 300, so a tiny checkpoint (its null caption and caption projection) and its text inputs stay a few
 * hundred KB. No encoder produces such features: tiny text pipelines read precomputed `conditioning.embeddings`
 * (TextEncoderRule says so for prompts).
 */
export const TINY_TEXT = { caption_channels: 32, text_tokens: 8 } as const satisfies Pick<HyperInput, "caption_channels" | "text_tokens">;

export function resolveHyper(input: HyperInput, d: HyperDefaults): Hyper {
  const inChannels = input.in_channels ?? d.inChannels;
  const learnSigma = input.learn_sigma ?? d.learnSigma;
  return {
    hidden: input.hidden,
    depth: input.depth,
    heads: input.heads,
    headDim: Math.floor(input.hidden / input.heads),
    patch: input.patch ?? d.patch,
    patchT: input.patch_t ?? d.patchT,
    inChannels,
    outChannels: learnSigma ? inChannels * 2 : inChannels,
    mlpHidden: Math.round(input.hidden * (input.mlp_ratio ?? d.mlpRatio)),
    captionChannels: d.captionChannels === 0 ? 0 : (input.caption_channels ?? d.captionChannels),
    textTokens: d.textTokens === 0 ? 0 : (input.text_tokens ?? d.textTokens),
    numClasses: d.numClasses === 0 ? (input.num_classes ?? 0) : (input.num_classes ?? d.numClasses),
    sizeEmbedders: input.size_embedders ?? false,
  };
}

/** Latents of an SD-VAE (x8 spatially) with the family's latent frame count, patched without padding. */
export function sdVaeGeometry(hyper: Hyper, size: { height: number; width: number }, latentFrames: number, padToPatch = false): Geometry {
  const latentHeight = Math.floor(size.height / 8);
  const latentWidth = Math.floor(size.width / 8);
  const rows = padToPatch ? Math.ceil(latentHeight / hyper.patch) : Math.floor(latentHeight / hyper.patch);
  const cols = padToPatch ? Math.ceil(latentWidth / hyper.patch) : Math.floor(latentWidth / hyper.patch);
  return {
    latentFrames,
    latentHeight,
    latentWidth,
    tokenFrames: Math.ceil(latentFrames / hyper.patchT),
    tokenRows: rows,
    tokenCols: cols,
  };
}

export function linear(name: string, out: number, inp: number, bias = true): WeightInfo[] {
  const w: WeightInfo[] = [{ name: `${name}.weight`, shape: [out, inp] }];
  if (bias) w.push({ name: `${name}.bias`, shape: [out] });
  return w;
}

/** timm-style self-attention: packed qkv and an output projection (models.md §0.6). */
export function selfAttention(prefix: string, h: Hyper): WeightInfo[] {
  return [...linear(`${prefix}.qkv`, 3 * h.hidden, h.hidden), ...linear(`${prefix}.proj`, h.hidden, h.hidden)];
}

/** PixArt-style cross-attention: q from the tokens, packed kv from the text (models.md §0.7). */
export function crossAttention(prefix: string, h: Hyper): WeightInfo[] {
  return [
    ...linear(`${prefix}.q_linear`, h.hidden, h.hidden),
    ...linear(`${prefix}.kv_linear`, 2 * h.hidden, h.hidden),
    ...linear(`${prefix}.proj`, h.hidden, h.hidden),
  ];
}

/** timm Mlp: fc1 D -> mlp, GELU-tanh, fc2 mlp -> D (models.md §0.10). */
export function mlp(prefix: string, h: Hyper): WeightInfo[] {
  return [...linear(`${prefix}.fc1`, h.mlpHidden, h.hidden), ...linear(`${prefix}.fc2`, h.hidden, h.mlpHidden)];
}

/** The sinusoidal timestep embedder's MLP (models.md §0.2). */
export function timestepEmbedder(prefix: string, h: Hyper): WeightInfo[] {
  return [...linear(`${prefix}.mlp.0`, h.hidden, 256), ...linear(`${prefix}.mlp.2`, h.hidden, h.hidden)];
}

/** A SizeEmbedder's MLP over the 256-wide sinusoid (models.md §0.2): PixArt-MS size embedders, STDiT3 fps_embedder. */
export function sizeEmbedder(prefix: string, width: number): WeightInfo[] {
  return [...linear(`${prefix}.mlp.0`, width, 256), ...linear(`${prefix}.mlp.2`, width, width)];
}

/** Open-Sora's Conv3d patch embedding, weight [D, C, pt, p, p] (models.md §0.4). */
export function patchEmbed3d(prefix: string, h: Hyper): WeightInfo[] {
  return [
    { name: `${prefix}.proj.weight`, shape: [h.hidden, h.inChannels, h.patchT, h.patch, h.patch] },
    { name: `${prefix}.proj.bias`, shape: [h.hidden] },
  ];
}

/** adaLN-single's shared modulation `t_block`: SiLU, then Linear(D -> 6D) at index 1 (models.md §0.8). */
export function adaLNSingle(prefix: string, h: Hyper): WeightInfo[] {
  return linear(`${prefix}.1`, 6 * h.hidden, h.hidden);
}

/** The per-block [6, D] table of adaLN-single (models.md §0.8). */
export function scaleShiftTable(prefix: string, h: Hyper, rows = 6): WeightInfo {
  return { name: `${prefix}.scale_shift_table`, shape: [rows, h.hidden] };
}

/**
 * PixArt-lineage caption embedder (models.md §0.9): the y_proj MLP and the learned null caption. `y_embedding`
 * is a buffer, but the loader must read it: it is the unconditional input of guidance.
 */
export function captionEmbedder(prefix: string, h: Hyper): WeightInfo[] {
  return [
    ...linear(`${prefix}.y_proj.fc1`, h.hidden, h.captionChannels),
    ...linear(`${prefix}.y_proj.fc2`, h.hidden, h.hidden),
    { name: `${prefix}.y_embedding`, shape: [h.textTokens, h.captionChannels] },
  ];
}

/** PixArt-style `T2IFinalLayer` (models.md §0.8): its own [2, D] table and the output projection. */
export function t2iFinalLayer(prefix: string, h: Hyper): WeightInfo[] {
  return [
    scaleShiftTable(prefix, h, 2),
    ...linear(`${prefix}.linear`, h.patchT * h.patch * h.patch * h.outChannels, h.hidden),
  ];
}

export function paramCount(weights: readonly WeightInfo[]): number {
  let n = 0;
  for (const w of weights) n += w.shape.reduce((a, b) => a * b, 1);
  return n;
}
