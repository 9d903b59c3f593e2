/**
 * `opendit run` of a plan of two ranks that decodes with the VAE, through the launcher (one process per rank, the
 * built dist/runtime/launch/rank-main.js, as test/cli/run-ranks.test.ts): the run publishes the decoding ranks'
 * video, not the linear latent preview. The full-size SD-VAE decoder (`checkpoint: random`, the only VAE a Spec
 * names) is kept fast by tiny pictures: 16x16, latent 2x2.
 *
 * - a video (the quickstart STDiT, 2 frames of 16x16, png and gif) on `cfg 2`: with `vae.parallel: none` (whole
 *   decode; plan.decode.ranks [0], the representative), and by default (patch decode over the decode group
 *   [0, 1], latent rows split 1 + 1; the group's first member, rank 0, returns the video);
 * - an image DiT of two samples (labels 1 and 7, png) on `dp 2` (whole decode; plan.decode.ranks [0, 1], one
 *   sample each: rank 1's sample must come second).
 * Each writes sample-*.png (and sample.gif), no preview file, run.json's media.source "vae", and every picture
 * byte for byte the one-rank run's: the CPU backend's latents over cfg and dp are bit-identical to one rank's,
 * and its patch decode is exact (test/native/vae-split.test.ts: max abs error 0 against the whole frame), so no
 * bound is needed.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import type { RunRecord } from "../../runtime/run/record.js";
import { run } from "./support/capture-io.js";
import { fixtureDir, repoBytes, repoFile } from "./support/fixture-dir.js";

/** The built rank entry (`npm run build`): the launcher starts it for every rank. */
const RANK_MAIN = fileURLToPath(new URL("../../dist/runtime/launch/rank-main.js", import.meta.url));

const QUICKSTART = repoFile("pipelines/quickstart.yaml");

/** The quickstart pipeline at 2 frames of 16x16, 2 steps, decoded by the SD-VAE into png and gif. */
function video(layout: string | undefined, vae = ""): string {
  const swaps: [string, string][] = [
    ["video: { frames: 4, height: 64, width: 64, fps: 8 }", "video: { frames: 2, height: 16, width: 16, fps: 8 }"],
    ["steps: 10", "steps: 2"],
    ["vae: { kind: none }", `vae: { kind: sd-vae-ft-ema, checkpoint: random${vae} }`],
    ["formats: [latents]", "formats: [latents, png, gif]"],
  ];
  let text = QUICKSTART;
  for (const [from, to] of swaps) {
    if (!text.includes(from)) throw new Error(`quickstart.yaml has no \`${from}\``);
    text = text.replace(from, to);
  }
  return layout ? `${text}parallel: { world: 2, layout: "${layout}" }\n` : text;
}

/** A class-conditional DiT of two samples at 16x16, decoded into png. */
function image(layout: string | undefined): string {
  return [
    "version: 1",
    "name: decoded-images",
    "model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }",
    "conditioning: { labels: [1, 7] }",
    "image: { height: 16, width: 16 }",
    "seed: 3",
    "scheduler: { kind: iddpm, steps: 2, guidance: 4.0 }",
    "vae: { kind: sd-vae-ft-ema, checkpoint: random }",
    "output: { dir: outputs/decoded-images, formats: [latents, png] }",
    "runtime: { backend: cpu }",
    ...(layout ? [`parallel: { world: 2, layout: "${layout}" }`] : []),
    "",
  ].join("\n");
}

const FILES: Readonly<Record<string, string>> = {
  "video-1.yaml": video(undefined),
  "video-cfg2-whole.yaml": video("cfg 2", ", parallel: none"),
  "video-cfg2-patch.yaml": video("cfg 2"),
  "image-1.yaml": image(undefined),
  "image-dp2.yaml": image("dp 2"),
};

const root = fixtureDir({ ...FILES, "quickstart-text.safetensors": repoBytes("pipelines/quickstart-text.safetensors") });

/** One CPU thread a rank on a 2-core CI. */
const ENV = { PATH: process.env["PATH"], OPENDIT_CPU_THREADS: "1" };

/** The plan.decode of a file, as the run compiles it. */
function decodeOf(file: string): { ranks: readonly number[]; split: { kind: string }; samples: number } {
  const r = compile({ path: join(root, file), text: FILES[file]! }, { mode: "run", baseDir: root });
  const decode = r.plan?.decode;
  if (!decode) throw new Error(`${file} has no plan.decode: ${r.diagnostics.map((d) => d.message).join("; ")}`);
  return decode;
}

function readRecord(dir: string): RunRecord {
  return JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as RunRecord;
}

/** Runs `file` into out-<file>; checks it succeeded with a decode and no preview; returns the directory. */
async function runDecoded(file: string): Promise<string> {
  const out = join(root, `out-${file.replace(/\.yaml$/, "")}`);
  const r = await run(["run", file, "--out", out], { cwd: root, env: ENV });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(": VAE decode (sd-vae-ft-ema)\n");
  expect(readdirSync(out).some((f) => f.startsWith("preview"))).toBe(false);
  expect(readRecord(out).media).toMatchObject({ source: "vae", description: "VAE decode (sd-vae-ft-ema)" });
  return out;
}

/** The pictures of an output directory (png, gif) by name. */
function pictures(dir: string): Map<string, Buffer> {
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith(".png") || f.endsWith(".gif"))
      .sort()
      .map((f) => [f, readFileSync(join(dir, f))]),
  );
}

/** Every picture of `dir` is the reference's, byte for byte, and there are no others. */
function expectSamePictures(dir: string, reference: ReadonlyMap<string, Buffer>): void {
  const got = pictures(dir);
  expect([...got.keys()]).toEqual([...reference.keys()]);
  for (const [name, bytes] of reference) expect(got.get(name)!.equals(bytes), `${dir}/${name}`).toBe(true);
}

beforeAll(() => {
  if (!existsSync(RANK_MAIN)) throw new Error(`${RANK_MAIN} is not built: run \`npm run build\` (the launcher's ranks run dist/)`);
});

describe("opendit run on two ranks publishes the VAE decode", () => {
  it("a video on cfg 2, decoded whole by rank 0 and patch-split over ranks 0 and 1: the one-rank run's pictures", async () => {
    expect(decodeOf("video-1.yaml")).toMatchObject({ ranks: [0], split: { kind: "whole" }, samples: 1 });
    expect(decodeOf("video-cfg2-whole.yaml")).toMatchObject({ ranks: [0], split: { kind: "whole" }, samples: 1 });
    expect(decodeOf("video-cfg2-patch.yaml")).toMatchObject({ ranks: [0, 1], split: { kind: "patch", parts: 2 }, samples: 1 });

    const one = await runDecoded("video-1.yaml");
    const reference = pictures(one);
    expect([...reference.keys()]).toEqual(["sample-0000.png", "sample-0001.png", "sample.gif"]);
    // The random decoder's pictures are not flat: a mix-up of frames or samples would show.
    expect(reference.get("sample-0000.png")!.equals(reference.get("sample-0001.png")!)).toBe(false);

    for (const file of ["video-cfg2-whole.yaml", "video-cfg2-patch.yaml"]) {
      const out = await runDecoded(file);
      expect(readRecord(out).world).toBe(2);
      expect(readRecord(out).media!.files.map((f) => [f.file, f.sample])).toEqual([
        ["sample-0000.png", 0],
        ["sample-0001.png", 0],
        ["sample.gif", 0],
      ]);
      expectSamePictures(out, reference);
    }
  }, 120_000);

  it("two images on dp 2, one decoded by each rank: the one-rank run's pictures, in sample order", async () => {
    expect(decodeOf("image-1.yaml")).toMatchObject({ ranks: [0], split: { kind: "whole" }, samples: 2 });
    expect(decodeOf("image-dp2.yaml")).toMatchObject({ ranks: [0, 1], split: { kind: "whole" }, samples: 1 });

    const one = await runDecoded("image-1.yaml");
    const reference = pictures(one);
    expect([...reference.keys()]).toEqual(["sample-0.png", "sample-1.png"]);
    expect(reference.get("sample-0.png")!.equals(reference.get("sample-1.png")!)).toBe(false);

    const out = await runDecoded("image-dp2.yaml");
    expect(readRecord(out).media!.files.map((f) => [f.file, f.sample])).toEqual([
      ["sample-0.png", 0],
      ["sample-1.png", 1],
    ]);
    expectSamePictures(out, reference);
  }, 120_000);
});
