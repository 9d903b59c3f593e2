/**
 * runtime/run/inputs.ts: the initial noise (determinism, one stream per sample keyed `latent/<g>`, fp32
 * rounding) and the inputs a run gathers from the pipeline's files, with the errors that name the file, the
 * tensor and the shapes when a file does not fit the plan, or when the plan needs text only an encoder makes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeF32 } from "../../../checkpoint/dtype.js";
import { fillNormals, tensorKey } from "../../../checkpoint/generator.js";
import { writeSafetensors } from "../../../checkpoint/safetensors-write.js";
import { compile } from "../../../compiler/compile.js";
import type { Plan } from "../../../compiler/plan/types.js";
import type { Spec } from "../../../compiler/spec/schema.js";
import { RunError } from "../../../runtime/run/errors.js";
import { initialNoise, runInputs } from "../../../runtime/run/inputs.js";
import { repoBytes } from "../../cli/support/fixture-dir.js";

const dir = mkdtempSync(join(tmpdir(), "opendit-inputs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tensor file in the test directory: float tensors hold 0.01·i at element i; int32 ones (masks) 1 for the first 5 elements, then 0. */
async function floatFile(name: string, tensors: Record<string, readonly number[]>, ints: Record<string, readonly number[]> = {}): Promise<string> {
  const path = join(dir, name);
  const all = [
    ...Object.entries(tensors).map(([n, shape]) => ({ name: n, dtype: "F32" as const, shape })),
    ...Object.entries(ints).map(([n, shape]) => ({ name: n, dtype: "I32" as const, shape })),
  ];
  await writeSafetensors(path, all, (t) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.dtype === "I32") return new Uint8Array(Int32Array.from({ length: count }, (_, i) => (i < 5 ? 1 : 0)).buffer);
    return encodeF32(Float32Array.from({ length: count }, (_, i) => 0.01 * i), "fp32");
  });
  return path;
}

const QUICKSTART_TEXT = "quickstart-text.safetensors";

function pipeline(lines: readonly string[]): string {
  return [
    "version: 1",
    "name: inputs-test",
    "model: { family: stdit, variant: stdit-tiny, checkpoint: random, dtype: fp32 }",
    "video: { frames: 4, height: 64, width: 64 }",
    "scheduler: { kind: iddpm, steps: 2, guidance: 7.0 }",
    "vae: { kind: none }",
    "output: { dir: out, formats: [latents] }",
    ...lines,
    "",
  ].join("\n");
}

function compiled(text: string): { spec: Spec; plan: Plan } {
  const result = compile({ path: join(dir, "pipeline.yaml"), text }, { mode: "validate", baseDir: dir });
  if (!result.plan || !result.spec) throw new Error(result.diagnostics.map((d) => d.message).join("\n"));
  return { spec: result.spec, plan: result.plan };
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RunError);
  return (error as RunError).message;
}

describe("initialNoise", () => {
  const shape = [4, 2, 3, 5];

  it("is the same for the same seed, and sample g is the normals of key(seed, latent/<g>) rounded to fp32", () => {
    const a = initialNoise(42, 3, shape);
    expect(a.length).toBe(3 * 120);
    expect(initialNoise(42, 3, shape)).toEqual(a);
    for (let g = 0; g < 3; g++) {
      const expected = new Float32Array(120);
      fillNormals(tensorKey(42, `latent/${g}`), expected, (z) => z);
      expect(a.subarray(g * 120, (g + 1) * 120)).toEqual(expected);
    }
    for (const v of a) expect(Math.fround(v)).toBe(v);
  });

  it("keys each sample by its index, so a sample's noise does not depend on how many samples the run has", () => {
    const one = initialNoise(7, 1, shape);
    const three = initialNoise(7, 3, shape);
    expect(three.subarray(0, 120)).toEqual(one);
    expect(three.subarray(120, 240)).not.toEqual(one);
    expect(initialNoise(8, 1, shape)).not.toEqual(one);
  });

  it("draws standard normals", () => {
    const values = initialNoise(0, 4, [4, 8, 16, 16]);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });
});

describe("runInputs", () => {
  it("takes the seed and replicates the embeddings file's one sample to every sample, mask as floats", async () => {
    // The real quickstart features: `y` [1, 8, 32] and `mask` [1, 8] with 5 real tokens.
    writeFileSync(join(dir, QUICKSTART_TEXT), repoBytes("pipelines/quickstart-text.safetensors"));
    const { spec, plan } = compiled(pipeline([`conditioning: { embeddings: ${QUICKSTART_TEXT} }`, "seed: 42"]));
    const inputs = await runInputs(spec, plan, dir);
    expect(inputs.noiseSeed).toBe(42);
    expect(inputs.noise).toBeUndefined();
    expect(inputs.text?.length).toBe(8 * 32);
    expect(Array.from(inputs.textMask ?? [])).toEqual([1, 1, 1, 1, 1, 0, 0, 0]);
    expect(inputs.negativeText).toBeUndefined();
    expect(inputs.labels).toBeUndefined();
  });

  it("names the file, the tensor and both shapes when the features do not fit the plan's text buffer", async () => {
    const path = await floatFile("narrow.safetensors", { y: [1, 8, 16] }, { mask: [1, 8] });
    const { spec, plan } = compiled(pipeline(["conditioning: { embeddings: narrow.safetensors }"]));
    const message = await failure(runInputs(spec, plan, dir));
    expect(message).toContain(path);
    expect(message).toContain("tensor `y` has shape [1, 8, 16]");
    expect(message).toContain("[1, 8, 32]");
  });

  it("names a missing mask and lists what the file holds", async () => {
    await floatFile("nomask.safetensors", { y: [1, 8, 32] });
    const { spec, plan } = compiled(pipeline(["conditioning: { embeddings: nomask.safetensors }"]));
    const message = await failure(runInputs(spec, plan, dir));
    expect(message).toMatch(/has no tensor `mask`/);
    expect(message).toContain("`y` [1, 8, 32]");
  });

  it("refuses a mask of the wrong length", async () => {
    await floatFile("longmask.safetensors", { y: [1, 8, 32] }, { mask: [1, 9] });
    const { spec, plan } = compiled(pipeline(["conditioning: { embeddings: longmask.safetensors }"]));
    expect(await failure(runInputs(spec, plan, dir))).toContain("tensor `mask` has shape [1, 9], but this plan reads [1, 8]");
  });

  it("says there is no text encoder yet, with the shapes to precompute, when the pipeline gives prompts", async () => {
    const text = pipeline(["conditioning: { prompts: [\"a red panda\"], text_encoder: t5-v1_1-xxl }"]).replace(
      "variant: stdit-tiny",
      "hyper: { hidden: 64, depth: 1, heads: 4, patch_t: 1, caption_channels: 4096, text_tokens: 8 }",
    );
    const { spec, plan } = compiled(text);
    const message = await failure(runInputs(spec, plan, dir));
    expect(message).toContain("no text encoder yet");
    expect(message).toContain("conditioning.embeddings");
    expect(message).toContain("`y` [1, 8, 4096]");
    expect(message).toContain("`mask` [1, 8]");
  });

  it("reads a noise file of the plan's latent shape, and names the file and tensor when the shape is wrong", async () => {
    await floatFile("noise.safetensors", { noise: [1, 4, 4, 8, 8] });
    await floatFile("y.safetensors", { y: [1, 8, 32] }, { mask: [1, 8] });
    const good = compiled(pipeline(["conditioning: { embeddings: y.safetensors }", "noise: noise.safetensors"]));
    const inputs = await runInputs(good.spec, good.plan, dir);
    expect(inputs.noiseSeed).toBeUndefined();
    expect(inputs.noise?.length).toBe(4 * 4 * 8 * 8);
    expect(inputs.noise?.[3]).toBeCloseTo(0.03, 6);

    const path = await floatFile("bad-noise.safetensors", { noise: [1, 4, 8, 8] });
    const bad = compiled(pipeline(["conditioning: { embeddings: y.safetensors }", "noise: bad-noise.safetensors"]));
    const message = await failure(runInputs(bad.spec, bad.plan, dir));
    expect(message).toContain(path);
    expect(message).toContain("tensor `noise` has shape [1, 4, 8, 8]");
    expect(message).toContain("[1, 4, 4, 8, 8]");
  });

  it("accepts an image family's noise without the frame axis, and passes the labels as Int32Array", async () => {
    await floatFile("image-noise.safetensors", { noise: [2, 4, 8, 8] });
    const text = [
      "version: 1",
      "name: dit-inputs",
      "model: { family: dit, variant: dit-tiny, checkpoint: random, dtype: fp32 }",
      "conditioning: { labels: [1, 7] }",
      "image: { height: 64, width: 64 }",
      "noise: image-noise.safetensors",
      "scheduler: { kind: iddpm, steps: 2, guidance: 4.0 }",
      "vae: { kind: none }",
      "output: { dir: out, formats: [latents] }",
      "",
    ].join("\n");
    const { spec, plan } = compiled(text);
    const inputs = await runInputs(spec, plan, dir);
    expect(inputs.noise?.length).toBe(2 * 4 * 8 * 8);
    expect(inputs.labels).toEqual(Int32Array.from([1, 7]));
  });

  it("says when an input file does not exist", async () => {
    const { spec, plan } = compiled(pipeline(["conditioning: { embeddings: missing.safetensors }"]));
    expect(await failure(runInputs(spec, plan, dir))).toMatch(/cannot read the `conditioning\.embeddings` file .*missing\.safetensors: it does not exist/);
  });
});
