/**
 * runtime/media/run-media.ts decodedRgbVideos: the VAE's decoded tensor [B, 3, F, H, W] as per-sample 8-bit RGB,
 * the one route from a decode to files (the one-rank run converts its `video` output with it; a parallel run's
 * decoding rank sends it so). The files it gives must be byte for byte those the float path wrote before it:
 * each sample permuted by hand to [F, 3, H, W] (an image's [3, H, W]) and written by frames.ts writeMedia from
 * the float tensor (rgbFrames). Checked on small random videos, with values outside [−1, 1], exact boundaries and
 * NaN, for png and gif, and for an image family's single pictures.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Spec } from "../../../compiler/spec/schema.js";
import { pixelByte, writeMedia, type VideoTensor } from "../../../runtime/media/frames.js";
import { decodedRgbVideos, makesImages, runMediaWriter } from "../../../runtime/media/run-media.js";
import { commitStaged } from "../../../runtime/media/staging.js";

const root = mkdtempSync(join(tmpdir(), "opendit-decoded-rgb-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function freshDir(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  return dir;
}

/** A seeded decode [B, 3, F, H, W]: uniform in [−1.3, 1.3], with ±1, 0, values past the clamp and a NaN. */
function randomDecode(shape: readonly number[], seed: number): { shape: readonly number[]; data: Float32Array } {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (next() * 2 - 1) * 1.3);
  data.set([-1, 1, 0, 2.5, -7, Number.NaN], 0);
  return { shape, data };
}

/** Sample b of [B, 3, F, H, W] as the float path read it: [F, 3, H, W], or an image's [3, H, W]. */
function floatSample(decoded: { shape: readonly number[]; data: Float32Array }, b: number, image: boolean): VideoTensor {
  const [, , frames, height, width] = decoded.shape as [number, number, number, number, number];
  const plane = height * width;
  const out = new Float32Array(3 * frames * plane);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < 3; c++) {
      const src = ((b * 3 + c) * frames + f) * plane;
      out.set(decoded.data.subarray(src, src + plane), (f * 3 + c) * plane);
    }
  }
  return { shape: image ? [3, height, width] : [frames, 3, height, width], data: out };
}

const videoSpec = {
  version: 1,
  name: "t",
  model: { family: "stdit", variant: "stdit-tiny", checkpoint: "random" },
  scheduler: { kind: "iddpm", steps: 2 },
  video: { frames: 3, height: 16, width: 16, fps: 6 },
  output: { dir: "o", formats: ["png", "gif", "latents"] },
} as unknown as Spec;

const imageSpec = {
  version: 1,
  name: "t",
  model: { family: "dit", variant: "dit-tiny", checkpoint: "random" },
  scheduler: { kind: "iddpm", steps: 2 },
  image: { height: 16, width: 16 },
  output: { dir: "o", formats: ["png", "latents"] },
} as unknown as Spec;

/** Every file of `dir` by name. */
function filesOf(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f))]));
}

/** Stages and commits the run's pictures from `decoded` in a fresh directory; returns the directory. */
async function writeRun(name: string, spec: Spec, decoded: Parameters<typeof runMediaWriter>[3]): Promise<string> {
  const dir = freshDir(name);
  const stage = await runMediaWriter(spec, [], {}, decoded)!(dir);
  expect(stage.media.source).toBe("vae");
  await commitStaged(stage.staged);
  return dir;
}

describe("decodedRgbVideos", () => {
  it("gives each sample's frames as interleaved RGB bytes, rounded by pixelByte", () => {
    const decoded = randomDecode([2, 3, 3, 5, 7], 1);
    const videos = decodedRgbVideos(decoded, false);
    expect(videos).toHaveLength(2);
    for (const [b, v] of videos.entries()) {
      expect(v).toMatchObject({ width: 7, height: 5, image: false });
      expect(v.frames).toHaveLength(3);
      for (const [f, rgb] of v.frames.entries()) {
        for (let y = 0; y < 5; y++) {
          for (let x = 0; x < 7; x++) {
            for (let c = 0; c < 3; c++) expect(rgb[3 * (y * 7 + x) + c]).toBe(pixelByte(decoded.data[(((b * 3 + c) * 3 + f) * 5 + y) * 7 + x]!));
          }
        }
      }
    }
    // The boundary values placed at the start of sample 0's R plane of frame 0.
    expect(Array.from(videos[0]!.frames[0]!.filter((_, i) => i % 3 === 0).subarray(0, 6))).toEqual([0, 255, 128, 255, 0, 0]);
  });

  it("writes png and gif files byte-identical to the float path's, for several samples of several frames", async () => {
    const decoded = randomDecode([2, 3, 3, 16, 16], 7);
    const rgbDir = await writeRun("rgb-video", videoSpec, decodedRgbVideos(decoded, makesImages(videoSpec)));
    const tensorDir = await writeRun("tensor-video", videoSpec, decoded);
    const floatDir = freshDir("float-video");
    for (let b = 0; b < 2; b++) await writeMedia(floatDir, floatSample(decoded, b, false), { formats: ["png", "gif"], fps: 6, name: `sample-${b}` });

    const expected = filesOf(floatDir);
    expect([...expected.keys()]).toEqual([
      "sample-0-0000.png",
      "sample-0-0001.png",
      "sample-0-0002.png",
      "sample-0.gif",
      "sample-1-0000.png",
      "sample-1-0001.png",
      "sample-1-0002.png",
      "sample-1.gif",
    ]);
    for (const dir of [rgbDir, tensorDir]) {
      const written = filesOf(dir);
      expect([...written.keys()]).toEqual([...expected.keys()]);
      for (const [name, bytes] of expected) expect(written.get(name)!.equals(bytes), `${dir}/${name}`).toBe(true);
    }
  });

  it("writes an image family's samples as single pictures, byte-identical to the float path's", async () => {
    const decoded = randomDecode([2, 3, 1, 16, 16], 11);
    expect(makesImages(imageSpec)).toBe(true);
    const videos = decodedRgbVideos(decoded, true);
    expect(videos.map((v) => [v.image, v.frames.length])).toEqual([
      [true, 1],
      [true, 1],
    ]);
    const rgbDir = await writeRun("rgb-image", imageSpec, videos);
    const floatDir = freshDir("float-image");
    for (let b = 0; b < 2; b++) await writeMedia(floatDir, floatSample(decoded, b, true), { formats: ["png"], fps: 8, name: `sample-${b}` });
    const expected = filesOf(floatDir);
    expect([...expected.keys()]).toEqual(["sample-0.png", "sample-1.png"]);
    const written = filesOf(rgbDir);
    expect([...written.keys()]).toEqual([...expected.keys()]);
    for (const [name, bytes] of expected) expect(written.get(name)!.equals(bytes), name).toBe(true);
  });

  it("refuses a tensor that is not [B, 3, F, H, W], an image of several frames, and a short buffer", () => {
    expect(() => decodedRgbVideos({ shape: [1, 4, 1, 2, 2], data: new Float32Array(16) }, false)).toThrow(/\[B, 3, F, H, W\], not \[1, 4, 1, 2, 2\]/);
    expect(() => decodedRgbVideos({ shape: [3, 1, 2, 2], data: new Float32Array(12) }, false)).toThrow(/\[B, 3, F, H, W\]/);
    expect(() => decodedRgbVideos({ shape: [1, 3, 2, 2, 2], data: new Float32Array(24) }, true)).toThrow(/a decoded image is \[B, 3, 1, H, W\]/);
    expect(() => decodedRgbVideos({ shape: [1, 3, 1, 2, 2], data: new Float32Array(11) }, false)).toThrow(/has 12 values, not 11/);
  });
});
