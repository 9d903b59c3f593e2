/**
 * DiT (facebookresearch/DiT): class-conditional ImageNet image model with adaLN-Zero blocks
 * (models.md §1). Its official guidance mixes only the first 3 output channels.
 */
import { linear, mlp, resolveHyper, sdVaeGeometry, selfAttention, timestepEmbedder } from "./common.js";
import type { Hyper, ModelFamily, WeightInfo } from "./types.js";

const defaults = {
  patch: 2,
  patchT: 1,
  inChannels: 4,
  learnSigma: true,
  mlpRatio: 4,
  captionChannels: 0,
  textTokens: 0,
  numClasses: 1000,
} as const;

function weights(h: Hyper): WeightInfo[] {
  const D = h.hidden;
  const w: WeightInfo[] = [
    { name: "x_embedder.proj.weight", shape: [D, h.inChannels, h.patch, h.patch] },
    { name: "x_embedder.proj.bias", shape: [D] },
    ...timestepEmbedder("t_embedder", h),
    // One extra row: the null class used for guidance (models.md §11.3).
    { name: "y_embedder.embedding_table.weight", shape: [h.numClasses + 1, D] },
  ];
  for (let i = 0; i < h.depth; i++) {
    w.push(...selfAttention(`blocks.${i}.attn`, h), ...mlp(`blocks.${i}.mlp`, h), ...linear(`blocks.${i}.adaLN_modulation.1`, 6 * D, D));
  }
  w.push(...linear("final_layer.adaLN_modulation.1", 2 * D, D), ...linear("final_layer.linear", h.patch * h.patch * h.outChannels, D));
  return w;
}

export const dit: ModelFamily = {
  family: "dit",
  title: "DiT (facebookresearch/DiT)",
  kind: "image",
  blocks: "single",
  attention: ["spatial"],
  attentionBlocks: { spatial: ["spatial"] },
  // DiT's forward feeds the sampler's timestep as it is.
  pabTimestep: "scheduler",
  mlpBlockKinds: ["spatial"],
  conditioning: "class",
  uncond: "null-class",
  prediction: "eps",
  samplers: ["iddpm", "ddim", "dpm-solver"],
  cfgChannels: 3,
  variants: {
    "DiT-XL/2": { hidden: 1152, depth: 28, heads: 16, patch: 2 },
    "DiT-XL/4": { hidden: 1152, depth: 28, heads: 16, patch: 4 },
    "DiT-XL/8": { hidden: 1152, depth: 28, heads: 16, patch: 8 },
    "DiT-L/2": { hidden: 1024, depth: 24, heads: 16, patch: 2 },
    "DiT-L/4": { hidden: 1024, depth: 24, heads: 16, patch: 4 },
    "DiT-L/8": { hidden: 1024, depth: 24, heads: 16, patch: 8 },
    "DiT-B/2": { hidden: 768, depth: 12, heads: 12, patch: 2 },
    "DiT-B/4": { hidden: 768, depth: 12, heads: 12, patch: 4 },
    "DiT-B/8": { hidden: 768, depth: 12, heads: 12, patch: 8 },
    "DiT-S/2": { hidden: 384, depth: 12, heads: 6, patch: 2 },
    "DiT-S/4": { hidden: 384, depth: 12, heads: 6, patch: 4 },
    "DiT-S/8": { hidden: 384, depth: 12, heads: 6, patch: 8 },
    // opendit's own size for tests and CPU smoke runs (random weights only).
    "dit-tiny": { hidden: 64, depth: 2, heads: 4, patch: 2, num_classes: 10 },
  },
  defaults: { scheduler: "iddpm", steps: 250, guidance: 4.0, vae: "sd-vae-ft-mse" },
  vaes: ["sd-vae-ft-ema", "sd-vae-ft-mse"],
  latentFrames: () => 1,
  pixelDivisor: (h) => 8 * h.patch,
  geometry: (h, size) => sdVaeGeometry(h, size, 1),
  officialWeights: {
    "DiT-XL/2": "facebookresearch/DiT: DiT-XL-2-256x256.pt or DiT-XL-2-512x512.pt",
  },
  // The fixed sin-cos table is recomputed for the actual size (models.md §13.1).
  skippedTensors: ["pos_embed"],
  trainedSizes: [
    { height: 256, width: 256 },
    { height: 512, width: 512 },
  ],
  resolve: (input) => resolveHyper(input, defaults),
  weights,
};
