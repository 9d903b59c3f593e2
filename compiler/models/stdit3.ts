/**
 * Open-Sora 1.2 STDiT3 (hpcaitech/Open-Sora v1.2.0 `opensora/models/stdit/stdit3.py`): separate spatial and
 * temporal PixArt-style blocks with qk-RMSNorm, RoPE on temporal attention, an fps embedder and a rectified-flow
 * objective, over the Open-Sora 1.2 VAE (models.md §5).
 */
import {
  adaLNSingle,
  captionEmbedder,
  crossAttention,
  linear,
  mlp,
  patchEmbed3d,
  resolveHyper,
  scaleShiftTable,
  sdVaeGeometry,
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
  textTokens: 300,
  numClasses: 0,
} as const;

/** One `STDiT3Block`; both kinds have the same tensors (the kind only picks the attention axis and RoPE). */
function block(prefix: string, h: Hyper): WeightInfo[] {
  return [
    scaleShiftTable(prefix, h),
    ...linear(`${prefix}.attn.qkv`, 3 * h.hidden, h.hidden),
    // LlamaRMSNorm over the head dimension, on q and k, before RoPE (§5.1).
    { name: `${prefix}.attn.q_norm.weight`, shape: [h.headDim] },
    { name: `${prefix}.attn.k_norm.weight`, shape: [h.headDim] },
    ...linear(`${prefix}.attn.proj`, h.hidden, h.hidden),
    ...crossAttention(`${prefix}.cross_attn`, h),
    ...mlp(`${prefix}.mlp`, h),
  ];
}

function weights(h: Hyper): WeightInfo[] {
  const w: WeightInfo[] = [
    ...patchEmbed3d("x_embedder", h),
    ...timestepEmbedder("t_embedder", h),
    ...sizeEmbedder("fps_embedder", h.hidden),
    ...adaLNSingle("t_block", h),
    ...captionEmbedder("y_embedder", h),
  ];
  for (let i = 0; i < h.depth; i++) w.push(...block(`spatial_blocks.${i}`, h));
  for (let i = 0; i < h.depth; i++) w.push(...block(`temporal_blocks.${i}`, h));
  w.push(...t2iFinalLayer("final_layer", h));
  return w;
}

/**
 * The Open-Sora 1.2 VAE's latent frames (models.md §5.6): each whole 17-frame micro-chunk gives 5, a remainder r
 * gives ceil(r / 4). Any frame count is accepted.
 */
function opensoraVaeLatentFrames(frames: number): number {
  return 5 * Math.floor(frames / 17) + Math.ceil((frames % 17) / 4);
}

export const stdit3: ModelFamily = {
  family: "stdit3",
  title: "Open-Sora 1.2 STDiT3 (hpcaitech/Open-Sora v1.2.0)",
  kind: "video",
  blocks: "interleaved",
  attention: ["spatial", "temporal", "cross"],
  attentionBlocks: { spatial: ["spatial"], temporal: ["temporal"], cross: ["spatial", "temporal"] },
  // STDiT3.forward casts with `timestep.to(dtype)` before the blocks test it; every STDiT3Block holds cross-attention.
  pabTimestep: "model-dtype",
  // lucidrains RoPE over interleaved pairs of the head, on temporal attention only (§5.3).
  rope: ["temporal"],
  mlpBlockKinds: ["spatial", "temporal"],
  conditioning: "text",
  // The stored 300-token `y_embedding`, with the prompt's mask (§9.5).
  uncond: "null-caption",
  prediction: "flow",
  samplers: ["rflow", "euler"],
  // Rectified flow keeps v[:, 0:4] and guides all of it (models.md §9.4).
  cfgChannels: "all",
  variants: {
    "STDiT3-XL/2": { hidden: 1152, depth: 28, heads: 16, patch: 2, patch_t: 1 },
    // opendit's own size for tests and CPU runs (random weights; text from 32-channel, 8-token `embeddings`).
    "stdit3-tiny": { hidden: 64, depth: 2, heads: 4, patch: 2, patch_t: 1, ...TINY_TEXT },
  },
  officialWeights: { "STDiT3-XL/2": "hpcai-tech/OpenSora-STDiT-v3" },
  defaults: { scheduler: "rflow", steps: 30, guidance: 7.0, vae: "opensora-vae-v1.2" },
  vaes: ["opensora-vae-v1.2"],
  latentFrames: opensoraVaeLatentFrames,
  // The patch embedder pads the latent rows and columns up to the patch, so only the VAE's x8 constrains pixels.
  pixelDivisor: () => 8,
  geometry: (h, size) => sdVaeGeometry(h, size, opensoraVaeLatentFrames(size.frames), true),
  // No trainedSizes: the checkpoint is trained on many resolutions, aspect ratios and lengths (§5.6).
  resolve: (input) => resolveHyper(input, defaults),
  weights,
  // RoPE frequencies are a stored parameter but a fixed function of the head size (§5.3); the runtime recomputes.
  skippedTensors: ["rope.freqs"],
};
