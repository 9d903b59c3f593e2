/**
 * runtime/media/step-previews.ts, the previews during a run, without a native run: the latent after a step becomes
 * `previews/step-<k>.png` (an image family) or `.gif` (a video, one frame per latent frame), `step-<k>-<b>.*` for
 * sample b of several, each picture the linear preview of its sample; written complete, then renamed (no
 * temporary file is left); an earlier run's previews are removed at the first one, other files kept; a preview
 * that cannot be written and latents that never came are notes, not failures. Also: the compiler's list of VAEs
 * with a preview (compiler/models/vae/latent-preview.ts) is preview.ts's map, VAE by VAE.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../../../compiler/compile.js";
import { hasLatentPreview } from "../../../compiler/models/vae/latent-preview.js";
import { VAE_KINDS } from "../../../compiler/spec/schema.js";
import { rgbFrames } from "../../../runtime/media/frames.js";
import { latentPreview, latentRgbMap } from "../../../runtime/media/preview.js";
import { previewName, stepPreviewWriter } from "../../../runtime/media/step-previews.js";
import { decodeGif, decodePng } from "./decoders.js";

const root = mkdtempSync(join(tmpdir(), "opendit-step-previews-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function compiled(text: string) {
  const r = compile(text, { baseDir: root });
  if (!r.plan || !r.spec) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return { spec: r.spec, plan: r.plan };
}

/** dit-tiny, two classes at 64x64: latent [2, 4, 1, 8, 8]. */
const image = compiled(
  [
    "version: 1",
    "name: img",
    "model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }",
    "conditioning: { labels: [1, 7] }",
    "image: { height: 64, width: 64 }",
    "scheduler: { kind: iddpm, steps: 4 }",
    "vae: { kind: sd-vae-ft-mse }",
    "output: { preview_every: 2 }",
    "",
  ].join("\n"),
);

/** stdit-tiny, 4 frames of 64x64 at 12 fps: latent [1, 4, 4, 8, 8]. */
const video = compiled(
  [
    "version: 1",
    "name: vid",
    "model: { family: stdit, variant: stdit-tiny, checkpoint: random, dtype: fp32 }",
    "conditioning: { embeddings: t.safetensors }",
    "video: { frames: 4, height: 64, width: 64, fps: 12 }",
    "scheduler: { kind: iddpm, steps: 4 }",
    "vae: { kind: sd-vae-ft-ema }",
    "output: { dir: out, formats: [latents], preview_every: 1 }",
    "",
  ].join("\n"),
);

/** A latent [B, C, T, H, W] of smooth, distinct values. */
function latentOf(shape: readonly number[], salt: number): { shape: number[]; data: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape: [...shape], data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + salt) * 1.2) };
}

describe("the VAEs with a latent preview", () => {
  it("are those of preview.ts's map, for every VAE kind", () => {
    for (const kind of VAE_KINDS) expect(hasLatentPreview(kind), kind).toBe(latentRgbMap(kind) !== undefined);
  });
});

describe("stepPreviewWriter", () => {
  it("is absent without preview_every", () => {
    const { plan } = image;
    expect(stepPreviewWriter({ ...image.spec, output: { dir: "x", formats: ["latents"] } }, plan, root)).toBeUndefined();
  });

  it("writes an image family's previews as png, one per sample, each the preview of its sample", async () => {
    const out = join(root, "image");
    const seen: { step: number; files: string[] }[] = [];
    const writer = stepPreviewWriter(image.spec, image.plan, out, { onWritten: (step, files) => seen.push({ step, files: files.map((f) => f.file) }) })!;
    expect(writer.every).toBe(2);
    expect(writer.dir).toBe(join(out, "previews"));
    const at2 = latentOf([2, 4, 1, 8, 8], 1);
    const at4 = latentOf([2, 4, 1, 8, 8], 2);
    writer.add(2, at2);
    writer.add(4, at4);
    const previews = await writer.finish(4);
    expect(previews.notes).toEqual([]);
    expect(readdirSync(join(out, "previews")).sort()).toEqual(["step-2-0.png", "step-2-1.png", "step-4-0.png", "step-4-1.png"]);
    expect(previews.files.map((f) => [f.step, f.sample, f.file, f.path])).toEqual([
      [2, 0, "previews/step-2-0.png", join(out, "previews/step-2-0.png")],
      [2, 1, "previews/step-2-1.png", join(out, "previews/step-2-1.png")],
      [4, 0, "previews/step-4-0.png", join(out, "previews/step-4-0.png")],
      [4, 1, "previews/step-4-1.png", join(out, "previews/step-4-1.png")],
    ]);
    expect(seen).toEqual([
      { step: 2, files: ["previews/step-2-0.png", "previews/step-2-1.png"] },
      { step: 4, files: ["previews/step-4-0.png", "previews/step-4-1.png"] },
    ]);
    // Sample 1 after step 4: the preview of its [4, 8, 8] latent (map of sd-vae-ft-mse), 64x64.
    const png = decodePng(readFileSync(join(out, "previews/step-4-1.png")));
    const expected = rgbFrames(latentPreview({ shape: [4, 8, 8], data: at4.data.subarray(256) }, { map: latentRgbMap("sd-vae-ft-mse")! }));
    expect(png).toMatchObject({ width: 64, height: 64 });
    expect(Buffer.from(png.pixels).equals(Buffer.from(expected.frames[0]!))).toBe(true);
    expect(previews.files.find((f) => f.file === "previews/step-4-1.png")!.bytes).toBe(readFileSync(join(out, "previews/step-4-1.png")).length);
  });

  it("writes a video's previews as a gif of every latent frame at the video's rate", async () => {
    const out = join(root, "video");
    const writer = stepPreviewWriter(video.spec, video.plan, out)!;
    const latent = latentOf([1, 4, 4, 8, 8], 3);
    writer.add(1, latent);
    const previews = await writer.finish(1);
    expect(previews.files.map((f) => f.file)).toEqual(["previews/step-1.gif"]);
    const gif = decodeGif(readFileSync(join(out, "previews/step-1.gif")));
    const expected = rgbFrames(latentPreview({ shape: [4, 4, 8, 8], data: latent.data }));
    expect(gif.frames).toHaveLength(4);
    // 4 frames of 8x8 latent pixels: at most 256 colours, which the palette keeps exactly.
    gif.frames.forEach((f, i) => expect(Buffer.from(f.rgb).equals(Buffer.from(expected.frames[i]!)), `frame ${i}`).toBe(true));
    // 12 fps: delays of round(100·(k+1)/12) − round(100·k/12) centiseconds.
    expect(gif.frames.map((f) => f.delay)).toEqual([8, 9, 8, 8]);
  });

  it("removes an earlier run's previews at the first one, keeps other files, and leaves no temporary file", async () => {
    const out = join(root, "again");
    mkdirSync(join(out, "previews"), { recursive: true });
    for (const name of ["step-9.gif", "step-3-1.png", "notes.txt", "step-x.gif"]) writeFileSync(join(out, "previews", name), "old");
    const writer = stepPreviewWriter(video.spec, video.plan, out)!;
    // Nothing is removed before a preview comes.
    expect(readdirSync(join(out, "previews"))).toHaveLength(4);
    writer.add(1, latentOf([1, 4, 4, 8, 8], 4));
    await writer.finish(1);
    expect(readdirSync(join(out, "previews")).sort()).toEqual(["notes.txt", "step-1.gif", "step-x.gif"]);
  });

  it("notes a preview it cannot write and goes on with the next", async () => {
    const out = join(root, "blocked");
    mkdirSync(out);
    writeFileSync(join(out, "previews"), "a file where the directory goes");
    const writer = stepPreviewWriter(video.spec, video.plan, out)!;
    writer.add(1, latentOf([1, 4, 4, 8, 8], 5));
    writer.add(2, { shape: [1, 4, 4, 8], data: new Float32Array(128) });
    const previews = await writer.finish(2);
    expect(previews.files).toEqual([]);
    expect(previews.notes).toEqual([
      expect.stringMatching(/^the preview after step 1 was not written: .*(EEXIST|ENOTDIR)/),
      "the preview after step 2 was not written: a latent to preview is [B, C, T, H, W], not [1, 4, 4, 8]",
    ]);
  });

  it("notes latents that never came (an addon that ignores previewEvery)", async () => {
    const writer = stepPreviewWriter(image.spec, image.plan, join(root, "none"))!;
    const previews = await writer.finish(5);
    expect(previews.files).toEqual([]);
    expect(previews.notes).toEqual([
      "`preview_every: 2`: the native run handed over 0 of the 2 latents of steps 2, 4, …; an addon built before previews ignores the request: rebuild it with `npm run build:native`",
    ]);
  });

  it("names a sample's file `step-<k>` alone, `step-<k>-<b>` among several", () => {
    expect(previewName(10, 0, 1)).toBe("step-10");
    expect(previewName(10, 1, 3)).toBe("step-10-1");
  });
});
