/**
 * The pictures of a run, through runtime/run/run.ts with an injected native addon (RunOptions.native) that
 * returns known latents, so neither the DiT nor a VAE runs: without a decoded `video` output the run writes the
 * linear latent preview beside latents.safetensors, records it in run.json as "preview (linear latent
 * approximation), not a VAE decode", and turns the media's notes into warnings; with a `video` output it writes
 * that instead; the CLI's summary names the files.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { mediaLine } from "../../../cli/commands/run.js";
import { compile } from "../../../compiler/compile.js";
import { pixelByte } from "../../../runtime/media/frames.js";
import { latentPreview } from "../../../runtime/media/preview.js";
import type { NativeAddon, NativeRunRequest, NativeTensor } from "../../../runtime/native/addon.js";
import type { RunRecord } from "../../../runtime/run/record.js";
import { runCompiled } from "../../../runtime/run/run.js";
import { decodePng } from "./decoders.js";

const root = mkdtempSync(join(tmpdir(), "opendit-run-media-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A class-conditional DiT of two samples at 64x64 (latent [2, 4, 8, 8]), asking for png. */
const PIPELINE = [
  "version: 1",
  "name: pictures",
  "model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }",
  "conditioning: { labels: [1, 7] }",
  "image: { height: 64, width: 64 }",
  "scheduler: { kind: iddpm, steps: 2, guidance: 4.0 }",
  "vae: { kind: sd-vae-ft-ema, checkpoint: random }",
  "output: { dir: out, formats: [png, latents], preview_every: 1 }",
  "runtime: { backend: cpu }",
  "",
].join("\n");

const compiled = compile(PIPELINE, { mode: "run", baseDir: root });
if (!compiled.plan || !compiled.spec) throw new Error(compiled.diagnostics.map((d) => d.message).join("\n"));
const { plan, spec } = compiled;

const latents = Float32Array.from({ length: 2 * 4 * 64 }, (_, i) => Math.sin(i * 0.7) * 1.5);

/** An addon that runs nothing: it returns `outputs` as the run's result. */
function fakeNative(extra: readonly NativeTensor[] = []): NativeAddon & { requests: NativeRunRequest[] } {
  const requests: NativeRunRequest[] = [];
  return {
    requests,
    info: () => ({ version: "0.0.0-test", backends: { cpu: { built: true, threads: 1, compiler: "test" }, cuda: { built: false, reason: "test" } } }),
    run: async (request) => {
      requests.push(request);
      return {
        outputs: [{ name: "latents", shape: [2, 4, 1, 8, 8], data: latents }, ...extra],
        captures: [],
        timings: { load: 0, bind: 0, inputs: 0, setup: 0, steps: 0.002, outputs: 0, perStep: [0.001, 0.001] },
        arenaBytes: 0,
        weightBytes: 0,
        threads: 1,
        backend: "cpu",
        deviceBytes: 0,
      };
    },
    openTransport: () => ({ port: 0 }),
    benchTransport: async () => ({ seconds: [] }),
  } as NativeAddon & { requests: NativeRunRequest[] };
}

describe("a run's pictures", () => {
  it("writes the latent preview without a decode, says so in run.json and the summary, and warns what it cannot do", async () => {
    const summary = await runCompiled(spec, plan, { file: "pictures.yaml", baseDir: root, cwd: root, outDir: "preview", native: fakeNative(), env: {} });
    const out = join(root, "preview");
    expect(readdirSync(out).sort()).toEqual(["latents.safetensors", "preview-0.png", "preview-1.png", "run.json"]);
    const record = JSON.parse(readFileSync(join(out, "run.json"), "utf8")) as RunRecord;
    expect(record.media).toEqual({
      source: "preview",
      description: "preview (linear latent approximation), not a VAE decode",
      fps: 8,
      files: [
        { format: "png", file: "preview-0.png", bytes: expect.any(Number), sample: 0 },
        { format: "png", file: "preview-1.png", bytes: expect.any(Number), sample: 1 },
      ],
      notes: [],
    });
    expect(summary.media).toEqual(record.media);
    // The fake addon hands over no latent for the previews during the run (output.preview_every: 1).
    expect(summary.warnings).toEqual([expect.stringMatching(/^`preview_every: 1`: the native run handed over 0 of the 2 latents of steps 1, 2, …/)]);
    expect(summary.previews).toMatchObject({ every: 1, files: [] });
    // Sample 1's picture is the preview of sample 1's latent [4, 8, 8], 64x64.
    const png = decodePng(readFileSync(join(out, "preview-1.png")));
    const preview = latentPreview({ shape: [4, 8, 8], data: latents.subarray(256) });
    expect(png).toMatchObject({ width: 64, height: 64 });
    const expected = new Uint8Array(64 * 64 * 3);
    for (let i = 0; i < 64 * 64; i++) for (let c = 0; c < 3; c++) expected[3 * i + c] = pixelByte(preview.data[c * 64 * 64 + i]!);
    expect(Buffer.from(png.pixels).equals(Buffer.from(expected))).toBe(true);
    expect(mediaLine(summary, root)).toBe("wrote preview/preview-0.png, preview/preview-1.png: preview (linear latent approximation), not a VAE decode\n");
  });

  it("writes the decoded `video` output instead where the native run returns one", async () => {
    const video = { name: "video", shape: [2, 3, 1, 64, 64], data: new Float32Array(2 * 3 * 64 * 64).fill(1) };
    const summary = await runCompiled(spec, plan, { file: "pictures.yaml", baseDir: root, cwd: root, outDir: "decoded", native: fakeNative([video]), env: {} });
    const out = join(root, "decoded");
    expect(readdirSync(out).sort()).toEqual(["latents.safetensors", "run.json", "sample-0.png", "sample-1.png"]);
    expect(summary.media).toMatchObject({ source: "vae", description: "VAE decode (sd-vae-ft-ema)" });
    expect(decodePng(readFileSync(join(out, "sample-0.png"))).pixels.every((b) => b === 255)).toBe(true);
  });

  it("shortens a long run of frames in the summary to its first and last file", () => {
    const files = Array.from({ length: 16 }, (_, i) => ({ format: "png" as const, file: `preview-${String(i).padStart(4, "0")}.png`, bytes: 1, sample: 0 }));
    const summary = {
      outDir: join(root, "o"),
      outputs: [],
      warnings: [],
      tensors: [],
      record: {} as RunRecord,
      media: { source: "preview" as const, description: "d", fps: 8, files: [...files, { format: "gif" as const, file: "preview.gif", bytes: 1, sample: 0 }], notes: [] },
    };
    expect(mediaLine(summary, root)).toBe("wrote o/preview-0000.png … o/preview-0015.png (16 files), o/preview.gif: d\n");
    expect(mediaLine({ ...summary, media: { ...summary.media, files: [] } }, root)).toBe("");
  });
});
