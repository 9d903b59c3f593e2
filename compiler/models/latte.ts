/**
 * Latte, the original code base (Vchitect/Latte `models/latte.py`): DiT-style adaLN-Zero blocks alternating
 * spatial and temporal attention, class-conditional on UCF101 or unconditional (models.md §3.1).
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
  // UCF101; an unconditional checkpoint has no label embedder (num_classes 0).
  numClasses: 101,
} as const;

/** A DiT block: adaLN-Zero modulation, self-attention and MLP (models.md §1.3). */
function ditBlock(prefix: string, h: Hyper): WeightInfo[] {
  return [...selfAttention(`${prefix}.attn`, h), ...mlp(`${prefix}.mlp`, h), ...linear(`${prefix}.adaLN_modulation.1`, 6 * h.hidden, h.hidden)];
}

function weights(h: Hyper): WeightInfo[] {
  const D = h.hidden;
  const w: WeightInfo[] = [
    { name: "x_embedder.proj.weight", shape: [D, h.inChannels, h.patch, h.patch] },
    { name: "x_embedder.proj.bias", shape: [D] },
    ...timestepEmbedder("t_embedder", h),
  ];
  // One extra row: the null class 101 that guidance feeds (models.md §11.3).
  if (h.numClasses > 0) w.push({ name: "y_embedder.embedding_table.weight", shape: [h.numClasses + 1, D] });
  // `depth` counts blocks of each kind: one list `blocks.*` holds them, even index spatial, odd temporal.
  for (let i = 0; i < 2 * h.depth; i++) w.push(...ditBlock(`blocks.${i}`, h));
  w.push(...linear("final_layer.adaLN_modulation.1", 2 * D, D), ...linear("final_layer.linear", h.patch * h.patch * h.outChannels, D));
  return w;
}

export const latte: ModelFamily = {
  family: "latte",
  title: "Latte (Vchitect/Latte), class-conditional or unconditional",
  kind: "video",
  blocks: "interleaved",
  attention: ["spatial", "temporal"],
  attentionBlocks: { spatial: ["spatial"], temporal: ["temporal"] },
  // VideoSys's Latte blocks test `int(org_timestep[0])`, the uncast scheduler timestep.
  pabTimestep: "scheduler",
  mlpBlockKinds: ["spatial", "temporal"],
  conditioning: "class-or-none",
  uncond: "null-class",
  prediction: "eps",
  samplers: ["iddpm", "ddim", "dpm-solver"],
  // Unlike DiT, Latte's guidance mixes all 4 eps channels (models.md §3.1).
  cfgChannels: "all",
  variants: {
    // 28 blocks in all: 14 spatial and 14 temporal. UCF101 checkpoint (`ucf101.pt`).
    "Latte-XL/2": { hidden: 1152, depth: 14, heads: 16, patch: 2 },
    // The unconditional FaceForensics, SkyTimelapse and Taichi-HD checkpoints (`extras: 1`).
    "Latte-XL/2-uncond": { hidden: 1152, depth: 14, heads: 16, patch: 2, num_classes: 0 },
    "latte-tiny": { hidden: 64, depth: 2, heads: 4, patch: 2 },
  },
  officialWeights: {
    "Latte-XL/2": "maxin-cn/Latte: ucf101.pt",
    "Latte-XL/2-uncond": "maxin-cn/Latte: the FaceForensics, SkyTimelapse or Taichi-HD checkpoint",
  },
  defaults: { scheduler: "iddpm", steps: 250, guidance: 7.0, vae: "sd-vae-ft-ema" },
  vaes: ["sd-vae-ft-ema", "sd-vae-ft-mse"],
  // An SD-VAE run per frame: no temporal compression.
  latentFrames: (frames) => frames,
  pixelDivisor: (h) => 8 * h.patch,
  geometry: (h, size) => sdVaeGeometry(h, size, size.frames),
  trainedSizes: [{ frames: 16, height: 256, width: 256 }],
  resolve: (input) => resolveHyper(input, defaults),
  weights,
  // Fixed sin-cos parameters stored at training size (pos_embed [1,256,D], temp_embed [1,16,D]); the runtime
  // recomputes both for the actual size (models.md §13.1), so the loader does not read them.
  skippedTensors: ["pos_embed", "temp_embed"],
};
