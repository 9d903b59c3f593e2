/**
 * The VAEs the compiler lowers a decode for, and what it knows about each: which decoder it has and where its
 * latent space is scaled. The Spec names more VAEs (every family's, so that latents can be labelled with the
 * space they are in); only these decode. Open-Sora 1.2's VAE and Open-Sora-Plan's CausalVAE have temporal
 * decoders (models.md §10.2, §10.3) that are not lowered: their pipelines keep latents only.
 */
import type { VaeKind } from "../../spec/schema.js";
import type { DecodedVae } from "../../plan/types.js";
import { SD_VAE, sdVaeDecoderLayout, sdVaeDecoderWeights, type VaeDecoderLayout, type VaeWeightInfo } from "./sd-vae.js";

export const DECODED_VAES: readonly DecodedVae[] = Object.freeze(["sd-vae-ft-ema", "sd-vae-ft-mse", "sdxl-vae"]);

export interface VaeDecoderInfo {
  readonly kind: DecodedVae;
  readonly latentChannels: number;
  readonly outChannels: number;
  readonly scale: number;
  readonly factor: number;
  readonly groups: number;
  readonly eps: number;
  layout(): VaeDecoderLayout;
  weights(): VaeWeightInfo[];
}

export function decodes(kind: VaeKind): kind is DecodedVae {
  return (DECODED_VAES as readonly string[]).includes(kind);
}

/** The decoder of a VAE that decodes; the three SD-VAEs share one architecture (models.md §10.1). */
export function vaeDecoder(kind: DecodedVae): VaeDecoderInfo {
  return {
    kind,
    latentChannels: SD_VAE.latentChannels,
    outChannels: SD_VAE.outChannels,
    scale: SD_VAE.scale,
    factor: SD_VAE.factor,
    groups: SD_VAE.groups,
    eps: SD_VAE.eps,
    layout: sdVaeDecoderLayout,
    weights: sdVaeDecoderWeights,
  };
}
