/**
 * The fast latent preview: a picture from SD-VAE latents without the VAE, by the linear approximation
 * rgb = Σ_k latent[k] · F[k] + bias per latent pixel (F a 4×3 matrix: latent channel → R, G, B), scaled up
 * ×8 by nearest neighbour to the size the VAE would give (or kept at latent size). The result is a video
 * tensor in the decoder's [−1, 1] convention, so frames.ts writes it like a real decode. It is only a preview:
 * colours and layout are roughly right, detail finer than 8 pixels is absent.
 *
 * The factors apply to latents in model space, the scaled latent 0.18215·z a DiT samples (models.md §10.1 and
 * §10.4). They are published facts, not code: ComfyUI's comfy/latent_formats.py, class SD15
 * (`latent_rgb_factors`, no bias), which its latent_preview.py Latent2RGBPreviewer applies as rgb = latent · F,
 * then shows clamp((rgb + 1) / 2) · 255 — the convention frames.ts uses. The same table serves every VAE whose
 * latents are SD-VAE latents (sd-vae-ft-ema, sd-vae-ft-mse) and Open-Sora-Plan's CausalVAE 4x8x8 (initialised
 * from the SD-VAE, 4 channels, ×0.18215, models.md §10.3 and §10.4; its latent frames are 4 video frames apart).
 * Open-Sora 1.2's VAE has no published factors (its latents are temporal-VAE latents, normalised), nor does the
 * SDXL VAE at the 0.18215 scale opendit uses; for them there is no preview.
 */
import type { VaeKind } from "../../compiler/spec/schema.js";
import type { VideoTensor } from "./frames.js";

/** A linear map from latent channels to R, G, B: `factors[k]` is channel k's contribution to (R, G, B). */
export interface LatentRgbMap {
  readonly factors: readonly (readonly [number, number, number])[];
  readonly bias: readonly [number, number, number];
}

/** SD 1.x / SD-VAE latents (ComfyUI comfy/latent_formats.py, SD15.latent_rgb_factors). */
export const SD_LATENT_RGB: LatentRgbMap = {
  factors: [
    [0.3512, 0.2297, 0.3227],
    [0.325, 0.4974, 0.235],
    [-0.2829, 0.1762, 0.2721],
    [-0.212, -0.2616, -0.7177],
  ],
  bias: [0, 0, 0],
};

/** The VAE's spatial factor: one latent pixel is 8×8 pixels. */
export const VAE_SCALE = 8;

/** The preview map for latents of a VAE, or undefined where no linear preview is known. */
export function latentRgbMap(vae: VaeKind): LatentRgbMap | undefined {
  switch (vae) {
    case "sd-vae-ft-ema":
    case "sd-vae-ft-mse":
    case "causalvae-4x8x8":
      return SD_LATENT_RGB;
    default:
      return undefined;
  }
}

export interface PreviewOptions {
  /** Pixels per latent pixel in each direction (default 8, the VAE's size; 1 keeps the latent size). */
  readonly scale?: number;
  /** The latent → RGB map (default SD_LATENT_RGB). */
  readonly map?: LatentRgbMap;
}

/** A latent tensor of one sample: a video's [C, T, H, W] or an image's [C, H, W], row-major. */
export interface LatentTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * The preview of one sample's latent: [T, 3, H·scale, W·scale] for a video's [C, T, H, W], [3, H·scale,
 * W·scale] for an image's [C, H, W]; values in [−1, 1] where the approximation lands there (not clamped: the
 * byte conversion clamps).
 */
export function latentPreview(latent: LatentTensor, options: PreviewOptions = {}): VideoTensor {
  const map = options.map ?? SD_LATENT_RGB;
  const scale = options.scale ?? VAE_SCALE;
  if (!(Number.isInteger(scale) && scale >= 1 && scale <= 64)) throw new RangeError(`the preview scale is a whole number from 1 to 64, not ${scale}`);
  const { shape, data } = latent;
  const image = shape.length === 3;
  if (!(shape.length === 3 || shape.length === 4) || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new RangeError(`a latent to preview is [C, T, H, W] or an image's [C, H, W], not [${shape.join(", ")}]`);
  }
  const [channels, frames, height, width] = image ? [shape[0]!, 1, shape[1]!, shape[2]!] : [shape[0]!, shape[1]!, shape[2]!, shape[3]!];
  if (channels !== map.factors.length) throw new RangeError(`the preview map is for ${map.factors.length} latent channels, but the latent has ${channels}`);
  const plane = height * width;
  if (data.length !== channels * frames * plane) throw new RangeError(`a latent [${shape.join(", ")}] has ${channels * frames * plane} values, not ${data.length}`);

  const outH = height * scale;
  const outW = width * scale;
  const outPlane = outH * outW;
  const out = new Float32Array(frames * 3 * outPlane);
  const small = new Float32Array(3 * plane);
  for (let t = 0; t < frames; t++) {
    // rgb at latent size for frame t: channel k of frame t starts at (k·T + t)·H·W.
    for (let c = 0; c < 3; c++) small.fill(map.bias[c]!, c * plane, (c + 1) * plane);
    for (let k = 0; k < channels; k++) {
      const src = (k * frames + t) * plane;
      const f = map.factors[k]!;
      for (let i = 0; i < plane; i++) {
        const v = data[src + i]!;
        small[i]! += v * f[0];
        small[plane + i]! += v * f[1];
        small[2 * plane + i]! += v * f[2];
      }
    }
    // Nearest-neighbour upsampling: output pixel (y, x) is latent pixel (⌊y / scale⌋, ⌊x / scale⌋).
    for (let c = 0; c < 3; c++) {
      const dst = (t * 3 + c) * outPlane;
      for (let y = 0; y < outH; y++) {
        const row = c * plane + Math.floor(y / scale) * width;
        const at = dst + y * outW;
        for (let x = 0; x < outW; x++) out[at + x] = small[row + Math.floor(x / scale)]!;
      }
    }
  }
  return { shape: image ? [3, outH, outW] : [frames, 3, outH, outW], data: out };
}
