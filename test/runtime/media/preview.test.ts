/**
 * runtime/media/preview.ts and run-media.ts: the linear latent preview (each latent channel contributes its row
 * of the SD factors to R, G, B; latent [C, T, H, W] indexed channel-major; ×8 nearest upsampling), which VAEs
 * have one, and the run's pictures: the preview's files and record ("preview (linear latent approximation), not
 * a VAE decode"), several samples, a time-compressing VAE's frame rate, a VAE without a preview, and the decoded
 * entry point.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Spec } from "../../../compiler/spec/schema.js";
import { pixelByte } from "../../../runtime/media/frames.js";
import { latentPreview, latentRgbMap, SD_LATENT_RGB } from "../../../runtime/media/preview.js";
import { outputFps, PREVIEW_DESCRIPTION, runMediaWriter, stageDecodedMedia, stagePreviewMedia, vaeOf } from "../../../runtime/media/run-media.js";
import { commitStaged } from "../../../runtime/media/staging.js";
import { decodeGif, decodePng } from "./decoders.js";

const root = mkdtempSync(join(tmpdir(), "opendit-preview-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function freshDir(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  return dir;
}

describe("latentPreview", () => {
  it("gives each latent channel's row of the factors, at latent size with scale 1", () => {
    // An image latent [4, 1, 4]: pixel x has only channel x set to 1.
    const data = new Float32Array(16);
    for (let x = 0; x < 4; x++) data[x * 4 + x] = 1;
    const preview = latentPreview({ shape: [4, 1, 4], data }, { scale: 1 });
    expect(preview.shape).toEqual([3, 1, 4]);
    for (let x = 0; x < 4; x++) {
      for (let c = 0; c < 3; c++) expect(preview.data[c * 4 + x]).toBeCloseTo(SD_LATENT_RGB.factors[x]![c]!, 6);
    }
  });

  it("is linear: rgb = latent · F + bias", () => {
    const latent = [0.5, -1.25, 2, 0.75];
    const map = { factors: SD_LATENT_RGB.factors, bias: [0.1, -0.2, 0.3] as const };
    const preview = latentPreview({ shape: [4, 1, 1], data: Float32Array.from(latent) }, { scale: 1, map });
    for (let c = 0; c < 3; c++) {
      const expected = map.bias[c]! + latent.reduce((s, v, k) => s + v * SD_LATENT_RGB.factors[k]![c]!, 0);
      expect(preview.data[c]).toBeCloseTo(expected, 5);
    }
  });

  it("reads a video latent [C, T, H, W] channel-major and upsamples ×8 by nearest neighbour", () => {
    // [4, 2, 1, 2]: frame t, pixel x has channel 0 = t + 2x (others 0) → R = factors[0][0] · (t + 2x).
    const C = 4;
    const T = 2;
    const data = new Float32Array(C * T * 2);
    for (let t = 0; t < T; t++) for (let x = 0; x < 2; x++) data[t * 2 + x] = t + 2 * x;
    const preview = latentPreview({ shape: [C, T, 1, 2], data });
    expect(preview.shape).toEqual([T, 3, 8, 16]);
    const at = (t: number, c: number, y: number, x: number): number => preview.data[((t * 3 + c) * 8 + y) * 16 + x]!;
    const r = SD_LATENT_RGB.factors[0]![0];
    for (let t = 0; t < T; t++) {
      for (let y = 0; y < 8; y++) {
        for (let x = 0; x < 16; x++) expect(at(t, 0, y, x)).toBeCloseTo(r * (t + 2 * Math.floor(x / 8)), 6);
      }
    }
    expect(at(1, 2, 7, 15)).toBeCloseTo(SD_LATENT_RGB.factors[0]![2] * 3, 6);
  });

  it("refuses a latent of another channel count or shape", () => {
    expect(() => latentPreview({ shape: [16, 1, 1], data: new Float32Array(16) })).toThrow(/for 4 latent channels, but the latent has 16/);
    expect(() => latentPreview({ shape: [4, 2], data: new Float32Array(8) })).toThrow(/\[C, T, H, W\]/);
    expect(() => latentPreview({ shape: [4, 1, 1], data: new Float32Array(4) }, { scale: 0 })).toThrow(/1 to 64/);
  });

  it("has the SD table for SD-VAE latents and Open-Sora-Plan's CausalVAE, none for Open-Sora 1.2's VAE", () => {
    expect(latentRgbMap("sd-vae-ft-ema")).toBe(SD_LATENT_RGB);
    expect(latentRgbMap("sd-vae-ft-mse")).toBe(SD_LATENT_RGB);
    expect(latentRgbMap("causalvae-4x8x8")).toBe(SD_LATENT_RGB);
    expect(latentRgbMap("opensora-vae-v1.2")).toBeUndefined();
    expect(latentRgbMap("sdxl-vae")).toBeUndefined();
    expect(latentRgbMap("none")).toBeUndefined();
  });
});

describe("stagePreviewMedia", () => {
  /** A batch of 2 video latents [2, 4, 3, 1, 1], all channels 0.5 · (b + 1) at frame t · 0.1. */
  const latents = { shape: [2, 4, 3, 1, 1], data: Float32Array.from({ length: 24 }, (_, i) => 0.5 * (Math.floor(i / 12) + 1) * (1 + (i % 3) * 0.1)) };

  it("writes each sample's preview as preview-<b>.* and records it as a preview, not a decode", async () => {
    const dir = freshDir("batch");
    const stage = await stagePreviewMedia(dir, latents, "sd-vae-ft-ema", 3, { formats: ["png", "gif"], fps: 8 });
    expect(stage.media).toMatchObject({ source: "preview", description: PREVIEW_DESCRIPTION, fps: 8, notes: [] });
    expect(PREVIEW_DESCRIPTION).toBe("preview (linear latent approximation), not a VAE decode");
    expect(stage.media.files.map((f) => `${f.sample}:${f.file}`)).toEqual([
      "0:preview-0-0000.png",
      "0:preview-0-0001.png",
      "0:preview-0-0002.png",
      "0:preview-0.gif",
      "1:preview-1-0000.png",
      "1:preview-1-0001.png",
      "1:preview-1-0002.png",
      "1:preview-1.gif",
    ]);
    await commitStaged(stage.staged);
    expect(readdirSync(dir)).toHaveLength(8);
    // Sample 1, frame 2: every latent channel is 0.5 · 2 · 1.2 = 1.2; each pixel is Σ_k 1.2 · F[k][c], 8x8.
    const png = decodePng(readFileSync(join(dir, "preview-1-0002.png")));
    expect(png).toMatchObject({ width: 8, height: 8 });
    const expected = [0, 1, 2].map((c) => pixelByte(SD_LATENT_RGB.factors.reduce((s, f) => s + 1.2 * f[c]!, 0)));
    expect(Array.from(png.pixels.subarray(0, 3))).toEqual(expected);
    expect(decodeGif(readFileSync(join(dir, "preview-0.gif"))).frames).toHaveLength(3);
  });

  it("plays a time-compressing VAE's preview at fps · T / F", async () => {
    const dir = freshDir("causal");
    const one = { shape: [1, 4, 3, 1, 1], data: new Float32Array(12) };
    const stage = await stagePreviewMedia(dir, one, "causalvae-4x8x8", 9, { formats: ["gif"], fps: 24 });
    expect(stage.media.fps).toBe(8);
    expect(stage.media.files.map((f) => f.file)).toEqual(["preview.gif"]);
    expect(stage.media.notes).toEqual(["the preview has 3 frames, one per latent frame of the 9-frame video (causalvae-4x8x8 compresses time), played at 8 fps to keep its duration"]);
    await commitStaged(stage.staged);
    expect(decodeGif(readFileSync(join(dir, "preview.gif"))).frames.map((f) => f.delay)).toEqual([13, 12, 13]);
  });

  it("writes nothing, with a note, for a VAE without a linear preview", async () => {
    const dir = freshDir("no-preview");
    const stage = await stagePreviewMedia(dir, { shape: [1, 4, 2, 1, 1], data: new Float32Array(8) }, "opensora-vae-v1.2", 51, { formats: ["mp4", "png"], fps: 24 });
    expect(stage.staged).toEqual([]);
    expect(stage.media).toMatchObject({ source: "none", files: [], notes: ["png, mp4 not written: the run has no VAE decode, and opensora-vae-v1.2 latents have no linear preview; only the latents are written"] });
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("stageDecodedMedia", () => {
  it("writes a decoded batch of images [B, 3, 1, H, W] as sample-<b>.png, recorded as the VAE's decode", async () => {
    const dir = freshDir("decoded");
    const decoded = { shape: [2, 3, 1, 1, 1], data: Float32Array.of(1, -1, 0, -1, 1, 0) };
    const stage = await stageDecodedMedia(dir, decoded, "sd-vae-ft-mse", true, { formats: ["png"], fps: 8 });
    expect(stage.media).toMatchObject({ source: "vae", description: "VAE decode (sd-vae-ft-mse)" });
    await commitStaged(stage.staged);
    expect(readdirSync(dir).sort()).toEqual(["sample-0.png", "sample-1.png"]);
    expect(Array.from(decodePng(readFileSync(join(dir, "sample-1.png"))).pixels)).toEqual([0, 255, 128]);
  });

  it("reads a decoded video [1, 3, F, H, W] channel-major: frame f's R, G, B come from planes (c, f)", async () => {
    const dir = freshDir("decoded-video");
    // [1, 3, 2, 1, 1]: value (c, f) = −1 + (c · 2 + f) · 0.4 → bytes 0, 51, 102, 153, 204, 255.
    const decoded = { shape: [1, 3, 2, 1, 1], data: Float32Array.from({ length: 6 }, (_, i) => -1 + i * 0.4) };
    const stage = await stageDecodedMedia(dir, decoded, "sd-vae-ft-ema", false, { formats: ["png"], fps: 8 });
    await commitStaged(stage.staged);
    expect(readdirSync(dir).sort()).toEqual(["sample-0000.png", "sample-0001.png"]);
    expect(Array.from(decodePng(readFileSync(join(dir, "sample-0000.png"))).pixels)).toEqual([0, 102, 204]);
    expect(Array.from(decodePng(readFileSync(join(dir, "sample-0001.png"))).pixels)).toEqual([51, 153, 255]);
  });
});

describe("runMediaWriter", () => {
  const spec = (extra: Partial<Spec>): Spec =>
    ({
      version: 1,
      name: "t",
      model: { family: "stdit", variant: "stdit-tiny", checkpoint: "random" },
      scheduler: { kind: "iddpm", steps: 2 },
      ...extra,
    }) as Spec;
  const latents = { name: "latents", shape: [1, 4, 2, 1, 1], data: new Float32Array(8) };

  it("writes nothing where the formats ask for latents only", () => {
    expect(runMediaWriter(spec({ output: { dir: "o", formats: ["latents"] } }), [latents])).toBeUndefined();
    expect(runMediaWriter(spec({}), [latents])).toBeUndefined();
  });

  it("writes the preview of the output `latents` at the video's fps, the family's VAE by default", async () => {
    const s = spec({ output: { dir: "o", formats: ["gif", "latents"] }, video: { frames: 2, height: 8, width: 8, fps: 12 } });
    expect(vaeOf(s)).toBe("sd-vae-ft-ema");
    const dir = freshDir("writer");
    const stage = await runMediaWriter(s, [latents])!(dir);
    expect(stage.media).toMatchObject({ source: "preview", fps: 12, files: [{ format: "gif", file: "preview.gif", sample: 0 }] });
  });

  it("writes the decoded video instead of the preview where the run has one", async () => {
    const s = spec({ output: { dir: "o", formats: ["png"] }, video: { frames: 1, height: 8, width: 8 } });
    const dir = freshDir("writer-decoded");
    const stage = await runMediaWriter(s, [latents], {}, { shape: [1, 3, 1, 1, 1], data: new Float32Array(3) })!(dir);
    expect(stage.media).toMatchObject({ source: "vae", files: [{ format: "png", file: "sample-0000.png", sample: 0 }] });
  });

  it("takes the family's reference rate when the Spec gives none", () => {
    expect(outputFps(spec({ video: { frames: 2, height: 8, width: 8 } }))).toBe(8);
    expect(outputFps({ ...spec({}), model: { family: "stdit3", variant: "stdit3-tiny", checkpoint: "random" } } as Spec)).toBe(24);
  });
});
