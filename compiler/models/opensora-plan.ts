/**
 * Open-Sora-Plan v1.0 and v1.1 (PKU-YuanGroup/Open-Sora-Plan `modeling_latte.py`): LatteT2V-XL/122, the Latte-1
 * architecture and tensor names, over a CausalVAE with 4x temporal compression and 300 T5 tokens (models.md §6).
 */
import { resolveHyper, sdVaeGeometry, TINY_TEXT } from "./common.js";
import { latteT2V } from "./latte-t2v.js";
import type { ModelFamily } from "./types.js";

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

/** CausalVAE 4x8x8: the first frame alone, then every 4 frames one latent frame (models.md §6, §10.3). */
function causalVaeLatentFrames(frames: number): number | string {
  if (frames < 1 || (frames - 1) % 4 !== 0) {
    const below = 1 + 4 * Math.floor((Math.max(frames, 1) - 1) / 4);
    return `CausalVAE 4x8x8 needs 1 + 4k frames (such as 17, 65 or 221); ${frames} is not, the nearest below is ${below}`;
  }
  return 1 + (frames - 1) / 4;
}

export const opensoraPlan: ModelFamily = {
  // The Latte-1 architecture, attention layout, conditioning and sampler facts, with its own sizes and VAE.
  ...latteT2V,
  family: "opensora-plan",
  title: "Open-Sora-Plan v1.0/v1.1 LatteT2V (PKU-YuanGroup/Open-Sora-Plan)",
  // VideoSys's Open-Sora-Plan v1.1 blocks test `int(org_timestep[0])`, like Latte.
  pabTimestep: "scheduler",
  variants: {
    "LatteT2V-XL/122": { hidden: 1152, depth: 28, heads: 16, patch: 2, patch_t: 1 },
    // opendit's own size for tests and CPU runs (random weights; text from 32-channel, 8-token `embeddings`).
    "opensora-plan-tiny": { hidden: 64, depth: 2, heads: 4, patch: 2, patch_t: 1, ...TINY_TEXT },
  },
  officialWeights: {
    "LatteT2V-XL/122":
      "LanguageBind/Open-Sora-Plan-v1.0.0 (65x512x512, 65x256x256, 17x256x256) or LanguageBind/Open-Sora-Plan-v1.1.0 (65x512x512, 221x512x512)",
  },
  // The CLI's default is diffusers' PNDM, which opendit does not offer; DDIM at the CLI's 50 steps is one of the
  // official alternatives, over the same linear-beta schedule.
  defaults: { scheduler: "ddim", steps: 50, guidance: 7.5, vae: "causalvae-4x8x8" },
  vaes: ["causalvae-4x8x8"],
  latentFrames: causalVaeLatentFrames,
  pixelDivisor: (h) => 8 * h.patch,
  geometry: (h, size) => {
    // Callers ask only for frame counts latentFrames accepts; any other is rounded down to the last whole group.
    const latent = causalVaeLatentFrames(size.frames);
    return sdVaeGeometry(h, size, typeof latent === "number" ? latent : 1 + Math.floor((Math.max(size.frames, 1) - 1) / 4));
  },
  trainedSizes: [
    { frames: 65, height: 512, width: 512 },
    { frames: 65, height: 256, width: 256 },
    { frames: 17, height: 256, width: 256 },
    { frames: 221, height: 512, width: 512 },
  ],
  resolve: (input) => resolveHyper(input, defaults),
};
