/**
 * PixArt-α (PixArt-alpha/PixArt-alpha): text-to-image with T5 cross-attention and adaLN-single (models.md §2).
 * The 256 and 512 checkpoints are class `PixArt`; the 1024 one is `PixArtMS`, which adds size embedders.
 */
import {
  adaLNSingle,
  captionEmbedder,
  crossAttention,
  mlp,
  resolveHyper,
  scaleShiftTable,
  sdVaeGeometry,
  selfAttention,
  sizeEmbedder,
  t2iFinalLayer,
  timestepEmbedder,
  TINY_TEXT,
} from "./common.js";
import type { Hyper, ModelFamily, WeightInfo } from "./types.js";

const defaults = {
  patch: 2,
  patchT: 1,
  inChannels: 4,
  learnSigma: true,
  mlpRatio: 4,
  captionChannels: 4096,
  textTokens: 120,
  numClasses: 0,
} as const;

function weights(h: Hyper): WeightInfo[] {
  const D = h.hidden;
  const w: WeightInfo[] = [
    { name: "x_embedder.proj.weight", shape: [D, h.inChannels, h.patch, h.patch] },
    { name: "x_embedder.proj.bias", shape: [D] },
    ...timestepEmbedder("t_embedder", h),
    ...adaLNSingle("t_block", h),
    ...captionEmbedder("y_embedder", h),
  ];
  if (h.sizeEmbedders) {
    // PixArt-MS: height and width (2 scalars) and the aspect ratio (1), each embedded to D/3 (§2.3).
    w.push(...sizeEmbedder("csize_embedder", Math.floor(D / 3)), ...sizeEmbedder("ar_embedder", Math.floor(D / 3)));
  }
  for (let i = 0; i < h.depth; i++) {
    const b = `blocks.${i}`;
    w.push(scaleShiftTable(b, h), ...selfAttention(`${b}.attn`, h), ...crossAttention(`${b}.cross_attn`, h), ...mlp(`${b}.mlp`, h));
  }
  w.push(...t2iFinalLayer("final_layer", h));
  return w;
}

export const pixart: ModelFamily = {
  family: "pixart",
  title: "PixArt-α (PixArt-alpha/PixArt-alpha)",
  kind: "image",
  blocks: "single",
  attention: ["spatial", "cross"],
  attentionBlocks: { spatial: ["spatial"], cross: ["spatial"] },
  // PixArt's forward starts with `timestep = timestep.to(self.dtype)`.
  pabTimestep: "model-dtype",
  mlpBlockKinds: ["spatial"],
  conditioning: "text",
  uncond: "null-caption",
  prediction: "eps",
  samplers: ["iddpm", "ddim", "dpm-solver"],
  // The official IDDPM path (`forward_with_cfg`) guides only the first 3 eps channels, like DiT; the default
  // DPM-Solver path drops the variance half and guides all 4, which schedule/guidance.ts decides by sampler
  // (models.md §2.5, §9.5).
  cfgChannels: 3,
  variants: {
    "PixArt-XL/2": { hidden: 1152, depth: 28, heads: 16, patch: 2 },
    "PixArt-XL/2-1024-MS": { hidden: 1152, depth: 28, heads: 16, patch: 2, size_embedders: true },
    // opendit's own size for tests and CPU runs (random weights; text from 32-channel, 8-token `embeddings`).
    "pixart-tiny": { hidden: 64, depth: 2, heads: 4, patch: 2, ...TINY_TEXT },
  },
  officialWeights: {
    "PixArt-XL/2": "PixArt-alpha/PixArt-alpha: PixArt-XL-2-256x256.pth or PixArt-XL-2-512x512.pth",
    "PixArt-XL/2-1024-MS": "PixArt-alpha/PixArt-alpha: PixArt-XL-2-1024-MS.pth",
  },
  defaults: { scheduler: "dpm-solver", steps: 20, guidance: 4.5, vae: "sd-vae-ft-ema" },
  // ft-ema and ft-mse are fine-tunes of one decoder over the same latent space (models.md §10.1).
  vaes: ["sd-vae-ft-ema", "sd-vae-ft-mse"],
  latentFrames: () => 1,
  pixelDivisor: (h) => 8 * h.patch,
  geometry: (h, size) => sdVaeGeometry(h, size, 1),
  trainedSizes: [
    { height: 256, width: 256 },
    { height: 512, width: 512 },
    { height: 1024, width: 1024 },
  ],
  resolve: (input) => resolveHyper(input, defaults),
  weights,
  // A table sized to the training grid; the inference script deletes it and recomputes (§2.4).
  skippedTensors: ["pos_embed"],
};
