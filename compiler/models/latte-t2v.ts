/**
 * Latte-1 text-to-video (`maxin-cn/Latte-1`, diffusers format; Vchitect/Latte `models/latte_t2v.py`): PixArt-style
 * adaLN-single with diffusers-named spatial blocks (self, cross, FFN) interleaved with temporal blocks (self,
 * FFN) (models.md §3.2). Open-Sora-Plan's LatteT2V shares these tensor names (§6).
 */
import { linear, resolveHyper, sdVaeGeometry, TINY_TEXT } from "./common.js";
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

/**
 * diffusers `Attention` with `attention_bias=True`: separate q, k, v and an output projection. Keys and values of
 * the cross-attention read the caption already projected to D (`cross_attention_dim` = D).
 */
function diffusersAttention(prefix: string, h: Hyper): WeightInfo[] {
  const D = h.hidden;
  return [...linear(`${prefix}.to_q`, D, D), ...linear(`${prefix}.to_k`, D, D), ...linear(`${prefix}.to_v`, D, D), ...linear(`${prefix}.to_out.0`, D, D)];
}

/** diffusers `FeedForward` with `gelu-approximate`: the GELU module holds the first projection. */
function feedForward(prefix: string, h: Hyper): WeightInfo[] {
  return [...linear(`${prefix}.net.0.proj`, h.mlpHidden, h.hidden), ...linear(`${prefix}.net.2`, h.hidden, h.mlpHidden)];
}

/**
 * Every tensor of a diffusers-format LatteT2V. The block norms are LayerNorms without affine parameters
 * (`norm_elementwise_affine=False`), so they store nothing.
 */
export function latteT2VWeights(h: Hyper): WeightInfo[] {
  const D = h.hidden;
  const w: WeightInfo[] = [
    { name: "pos_embed.proj.weight", shape: [D, h.inChannels, h.patch, h.patch] },
    { name: "pos_embed.proj.bias", shape: [D] },
    ...linear("adaln_single.emb.timestep_embedder.linear_1", D, 256),
    ...linear("adaln_single.emb.timestep_embedder.linear_2", D, D),
    ...linear("adaln_single.linear", 6 * D, D),
    ...linear("caption_projection.linear_1", D, h.captionChannels),
    ...linear("caption_projection.linear_2", D, D),
  ];
  for (let i = 0; i < h.depth; i++) {
    const b = `transformer_blocks.${i}`;
    w.push({ name: `${b}.scale_shift_table`, shape: [6, D] }, ...diffusersAttention(`${b}.attn1`, h), ...diffusersAttention(`${b}.attn2`, h), ...feedForward(`${b}.ff`, h));
  }
  for (let i = 0; i < h.depth; i++) {
    const b = `temporal_transformer_blocks.${i}`;
    w.push({ name: `${b}.scale_shift_table`, shape: [6, D] }, ...diffusersAttention(`${b}.attn1`, h), ...feedForward(`${b}.ff`, h));
  }
  w.push({ name: "scale_shift_table", shape: [2, D] }, ...linear("proj_out", h.patch * h.patch * h.outChannels, D));
  return w;
}

/**
 * Names a LatteT2V file may hold that inference does not read: older diffusers `CaptionProjection` stores an
 * unused null caption buffer `caption_projection.y_embedding` (models.md §3.2). The sin-cos tables are
 * non-persistent buffers there, so they are absent.
 */
export const latteT2VSkippedTensors: readonly string[] = ["caption_projection.y_embedding"];

export const latteT2V: ModelFamily = {
  family: "latte-t2v",
  title: "Latte-1 text-to-video (maxin-cn/Latte-1, diffusers format)",
  kind: "video",
  blocks: "interleaved",
  attention: ["spatial", "temporal", "cross"],
  attentionBlocks: { spatial: ["spatial"], temporal: ["temporal"], cross: ["spatial"] },
  // VideoSys's Latte blocks test `int(org_timestep[0])`, the uncast scheduler timestep.
  pabTimestep: "scheduler",
  mlpBlockKinds: ["spatial", "temporal"],
  conditioning: "text",
  // The T5 encoding of "" (truncated to the prompt's valid tokens), not a learned null caption.
  uncond: "negative-prompt",
  prediction: "eps",
  samplers: ["iddpm", "ddim", "dpm-solver"],
  // Guidance mixes all 8 output channels, then the first 4 are kept (models.md §9.5).
  cfgChannels: "all",
  variants: {
    "Latte-1": { hidden: 1152, depth: 28, heads: 16, patch: 2 },
    // opendit's own size for tests and CPU runs (random weights; text from 32-channel, 8-token `embeddings`).
    "latte-t2v-tiny": { hidden: 64, depth: 2, heads: 4, patch: 2, ...TINY_TEXT },
  },
  officialWeights: { "Latte-1": "maxin-cn/Latte-1 (subfolder transformer)" },
  defaults: { scheduler: "ddim", steps: 50, guidance: 7.5, vae: "sd-vae-ft-ema" },
  // The yaml's default decoder is SVD's temporal decoder; the 2-D SD-VAE per frame is the official alternative
  // over the same latent space (scaling 0.18215), and the one opendit decodes with.
  vaes: ["sd-vae-ft-ema", "sd-vae-ft-mse"],
  latentFrames: (frames) => frames,
  pixelDivisor: (h) => 8 * h.patch,
  geometry: (h, size) => sdVaeGeometry(h, size, size.frames),
  trainedSizes: [{ frames: 16, height: 512, width: 512 }],
  resolve: (input) => resolveHyper(input, defaults),
  weights: latteT2VWeights,
  skippedTensors: latteT2VSkippedTensors,
};
