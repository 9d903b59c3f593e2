/**
 * Which VAEs' latents have a linear latent preview (rgb = latent · F per latent pixel, no decoder): the compiler's
 * side of runtime/media/preview.ts `latentRgbMap`, so that the checker can refuse `output.preview_every` for a VAE
 * without one without reading runtime code. The published factors (ComfyUI's SD15 `latent_rgb_factors`) are for
 * SD-VAE latents at the 0.18215 scale: the SD-VAEs of DiT, PixArt, Latte and Open-Sora 1.0, and Open-Sora-Plan's
 * CausalVAE, which was initialised from the SD-VAE (models.md §10.3, §10.4). Open-Sora 1.2's VAE (temporal-VAE
 * latents, normalised) and the SDXL VAE at opendit's 0.18215 scale have none. test/runtime/media/step-previews.test.ts
 * checks that this list and `latentRgbMap` agree for every VAE kind.
 */
import type { VaeKind } from "../../spec/schema.js";

export const PREVIEWED_VAES: readonly VaeKind[] = Object.freeze(["sd-vae-ft-ema", "sd-vae-ft-mse", "causalvae-4x8x8"]);

/** Whether latents of this VAE have a linear preview. */
export function hasLatentPreview(kind: VaeKind): boolean {
  return PREVIEWED_VAES.includes(kind);
}

/**
 * The VAE whose latent space a model's latents are in: the VAE in force, or with `none` (latents only) the
 * family's default, which the model was trained against. What a linear latent preview is for.
 */
export function latentSpaceVae(inForce: VaeKind, familyDefault: VaeKind): VaeKind {
  return inForce === "none" ? familyDefault : inForce;
}
