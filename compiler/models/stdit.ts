/**
 * Open-Sora 1.0 STDiT (hpcaitech/Open-Sora v1.0.0 `opensora/models/stdit/stdit.py`): PixArt-α blocks that each
 * also hold a temporal attention, over an SD-VAE run per frame (models.md §4).
 */
import {
  adaLNSingle,
  captionEmbedder,
  crossAttention,
  mlp,
  patchEmbed3d,
  resolveHyper,
  scaleShiftTable,
  sdVaeGeometry,
  selfAttention,
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
  const w: WeightInfo[] = [
    // Conv3d: [D, C, 1, p, p], the 2-D PixArt kernel with a unit time axis (models.md §0.4, §4.4).
    ...patchEmbed3d("x_embedder", h),
    ...timestepEmbedder("t_embedder", h),
    ...adaLNSingle("t_block", h),
    ...captionEmbedder("y_embedder", h),
  ];
  for (let i = 0; i < h.depth; i++) {
    const b = `blocks.${i}`;
    w.push(
      scaleShiftTable(b, h),
      ...selfAttention(`${b}.attn`, h),
      // The temporal attention has no norm or modulation of its own; it reuses the spatial gate (§4.2).
      ...selfAttention(`${b}.attn_temp`, h),
      ...crossAttention(`${b}.cross_attn`, h),
      ...mlp(`${b}.mlp`, h),
    );
  }
  w.push(...t2iFinalLayer("final_layer", h));
  return w;
}

export const stdit: ModelFamily = {
  family: "stdit",
  title: "Open-Sora 1.0 STDiT (hpcaitech/Open-Sora v1.0.0)",
  kind: "video",
  blocks: "joint",
  attention: ["spatial", "temporal", "cross"],
  attentionBlocks: { spatial: ["spatial"], temporal: ["spatial"], cross: ["spatial"] },
  // Open-Sora 1.0's STDiT casts the timestep to the model dtype first; each joint block holds all three attentions.
  pabTimestep: "model-dtype",
  // Each joint block has one MLP, addressed by the block's index as a spatial block's.
  mlpBlockKinds: ["spatial"],
  conditioning: "text",
  uncond: "null-caption",
  prediction: "eps",
  samplers: ["iddpm", "ddim", "dpm-solver"],
  // The official IDDPM `forward_with_cfg` guides only the first 3 eps channels, as DiT does (models.md §4.5).
  cfgChannels: 3,
  variants: {
    "STDiT-XL/2": { hidden: 1152, depth: 28, heads: 16, patch: 2, patch_t: 1 },
    // opendit's own size for tests and CPU runs (random weights; text from 32-channel, 8-token `embeddings`).
    "stdit-tiny": { hidden: 64, depth: 2, heads: 4, patch: 2, patch_t: 1, ...TINY_TEXT },
  },
  officialWeights: {
    "STDiT-XL/2": "hpcai-tech/Open-Sora: OpenSora-v1-HQ-16x512x512.pth, OpenSora-v1-HQ-16x256x256.pth or OpenSora-v1-16x256x256.pth",
  },
  defaults: { scheduler: "iddpm", steps: 100, guidance: 7.0, vae: "sd-vae-ft-ema" },
  vaes: ["sd-vae-ft-ema", "sd-vae-ft-mse"],
  // An SD-VAE run per frame: no temporal compression.
  latentFrames: (frames) => frames,
  pixelDivisor: (h) => 8 * h.patch,
  geometry: (h, size) => sdVaeGeometry(h, size, size.frames),
  trainedSizes: [
    { frames: 16, height: 256, width: 256 },
    { frames: 16, height: 512, width: 512 },
    { frames: 64, height: 512, width: 512 },
  ],
  resolve: (input) => resolveHyper(input, defaults),
  weights,
  // Sin-cos buffers sized to training; the v1.0 loader deletes them and the runtime recomputes (§4.4).
  skippedTensors: ["pos_embed", "pos_embed_temporal"],
};
