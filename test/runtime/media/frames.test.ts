/**
 * runtime/media/frames.ts and staging.ts: decoded values to bytes as the SD-VAE convention says
 * (round(clamp((x + 1) / 2) · 255)), [F, 3, H, W] planes to interleaved RGB frames, and writeMedia's files (png
 * names per frame or per image, a gif), read back by the independent decoders, with no temporary file left.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pixelByte, pngNames, rgbFrames, stageMedia, writeMedia } from "../../../runtime/media/frames.js";
import { commitStaged, writeStaged } from "../../../runtime/media/staging.js";
import { decodeGif, decodePng } from "./decoders.js";

const root = mkdtempSync(join(tmpdir(), "opendit-frames-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("pixelByte", () => {
  it("maps [−1, 1] to [0, 255], rounding half up and clamping", () => {
    expect([-1, 1, 0, -0.5, 0.5].map(pixelByte)).toEqual([0, 255, 128, 64, 191]);
    // 0.5 · 255 = 127.5 → 128; (−0.5 + 1) / 2 · 255 = 63.75 → 64; 0.75 · 255 = 191.25 → 191.
    expect([-3, 2, Infinity, -Infinity, Number.NaN].map(pixelByte)).toEqual([0, 255, 255, 0, 0]);
    expect(pixelByte(2 / 255 - 1)).toBe(1);
  });
});

describe("rgbFrames", () => {
  it("interleaves the channel planes of each frame", () => {
    // [2, 3, 1, 2]: frame f, channel c, pixel x has value v = (f·6 + c·2 + x) / 12 · 2 − 1.
    const data = Float32Array.from({ length: 12 }, (_, i) => (i / 12) * 2 - 1);
    const video = rgbFrames({ shape: [2, 3, 1, 2], data });
    expect(video).toMatchObject({ width: 2, height: 1, image: false });
    const byte = (i: number): number => pixelByte(data[i]!);
    expect(Array.from(video.frames[0]!)).toEqual([byte(0), byte(2), byte(4), byte(1), byte(3), byte(5)]);
    expect(Array.from(video.frames[1]!)).toEqual([byte(6), byte(8), byte(10), byte(7), byte(9), byte(11)]);
  });

  it("takes an image [3, H, W] as one frame", () => {
    const video = rgbFrames({ shape: [3, 2, 1], data: Float32Array.of(1, -1, -1, 1, 0, 0) });
    expect(video).toMatchObject({ width: 1, height: 2, image: true });
    expect(Array.from(video.frames[0]!)).toEqual([255, 0, 128, 0, 255, 128]);
  });

  it("refuses other shapes and sizes", () => {
    expect(() => rgbFrames({ shape: [2, 4, 2, 2], data: new Float32Array(32) })).toThrow(/\[F, 3, H, W\] or an image \[3, H, W\], not \[2, 4, 2, 2\]/);
    expect(() => rgbFrames({ shape: [3, 2, 2], data: new Float32Array(11) })).toThrow(/has 12 values, not 11/);
  });
});

describe("pngNames", () => {
  it("numbers frames from 0000 and widens past 9999", () => {
    expect(pngNames("clip", 3, false)).toEqual(["clip-0000.png", "clip-0001.png", "clip-0002.png"]);
    expect(pngNames("a", 12001, false).at(-1)).toBe("a-12000.png");
    expect(pngNames("img", 1, true)).toEqual(["img.png"]);
  });
});

describe("writeMedia", () => {
  /** A 3-frame 5x4 video whose bytes are known: frame f, channel c, pixel i is round(...) of a ramp. */
  const F = 3;
  const H = 4;
  const W = 5;
  const data = Float32Array.from({ length: F * 3 * H * W }, (_, i) => Math.sin(i * 0.37));

  it("writes a png per frame and a gif, each decoding to the frames' bytes", async () => {
    const dir = join(root, "video");
    const result = await writeMedia(dir, { shape: [F, 3, H, W], data }, { fps: 8, formats: ["latents", "png", "gif"], name: "clip", dither: false });
    expect(result.files.map((f) => f.file)).toEqual(["clip-0000.png", "clip-0001.png", "clip-0002.png", "clip.gif"]);
    expect(readdirSync(dir).sort()).toEqual(["clip-0000.png", "clip-0001.png", "clip-0002.png", "clip.gif"]);
    const frames = rgbFrames({ shape: [F, 3, H, W], data }).frames;
    for (let f = 0; f < F; f++) {
      const file = readFileSync(join(dir, `clip-000${f}.png`));
      expect(result.files[f]!.bytes).toBe(file.length);
      const png = decodePng(file);
      expect(png).toMatchObject({ width: W, height: H, colorType: 2 });
      expect(Buffer.from(png.pixels).equals(Buffer.from(frames[f]!))).toBe(true);
    }
    const gif = decodeGif(readFileSync(join(dir, "clip.gif")));
    expect(gif.frames).toHaveLength(F);
    // 60 pixels: at most 60 colours, so the palette is exact.
    gif.frames.forEach((g, f) => expect(Buffer.from(g.rgb).equals(Buffer.from(frames[f]!))).toBe(true));
    expect(gif.frames.map((g) => g.delay)).toEqual([13, 12, 13]);
  });

  it("names an image's png after the sample alone", async () => {
    const dir = join(root, "image");
    const result = await writeMedia(dir, { shape: [3, 2, 2], data: new Float32Array(12) }, { fps: 8, formats: ["png"], name: "sample" });
    expect(result).toEqual({ files: [{ format: "png", file: "sample.png", bytes: expect.any(Number) }], notes: [] });
    expect(Array.from(decodePng(readFileSync(join(dir, "sample.png"))).pixels)).toEqual(new Array(12).fill(128));
  });

  it("stages without renaming: the caller commits", async () => {
    const dir = join(root, "staged");
    mkdirSync(dir);
    const staged = await stageMedia(dir, { shape: [3, 1, 1], data: new Float32Array(3) }, { fps: 8, formats: ["png", "gif"], name: "one" });
    expect(readdirSync(dir).every((f) => /^\.one\.(png|gif)\.\d+\.[0-9a-f]{8}\.partial$/.test(f))).toBe(true);
    expect(readdirSync(dir)).toHaveLength(2);
    await commitStaged(staged.staged);
    expect(readdirSync(dir).sort()).toEqual(["one.gif", "one.png"]);
  });

  it("refuses a name that is not a plain file name", async () => {
    await expect(writeMedia(join(root, "bad"), { shape: [3, 1, 1], data: new Float32Array(3) }, { fps: 8, formats: ["png"], name: "../escape" })).rejects.toThrow(/not `\.\.\/escape`/);
  });

  it("writes a staged file complete under a hidden name", async () => {
    const dir = join(root, "one-file");
    mkdirSync(dir);
    const staged = await writeStaged(join(dir, "a.bin"), Uint8Array.of(1, 2, 3));
    expect(Array.from(readFileSync(staged.from))).toEqual([1, 2, 3]);
    await commitStaged([staged]);
    expect(readdirSync(dir)).toEqual(["a.bin"]);
  });
});
