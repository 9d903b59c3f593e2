/**
 * The addon's weights, through whole native runs of a tiny PixArt plan: a file written by the `checkpoint
 * random` machinery (checkpoint/random.ts) in fp32 loads the values `checkpoint: random` draws, bit for bit
 * (the same outputs); bf16 and fp16 files load, converted exactly (the outputs are the reference interpreter's on
 * the file's own values, to 1e-5) and close to the fp32 run; and every refusal rejects the run's promise with a
 * message that names what is wrong: a mis-shaped tensor (its name and the expected shape), a missing tensor, an
 * unexpected tensor (unless it is ignored), a truncated or corrupt file (its path), and a plan whose op names a
 * buffer that does not exist (the op).
 */
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encodeF32, type StorageDtype } from "../../checkpoint/dtype.js";
import { randomTensor, writeRandomCheckpoint } from "../../checkpoint/random.js";
import { writeSafetensors, type TensorToWrite } from "../../checkpoint/safetensors-write.js";
import { familyInfo } from "../../compiler/models/registry.js";
import type { NativeInputs, NativeWeights } from "../../runtime/native/addon.js";
import { describeOp } from "../../runtime/reference/dispatch.js";
import { runPlan } from "../../runtime/reference/interpret.js";
import { maxRelativeError, readTensors } from "../helpers/goldens.js";
import {
  bitIdentical,
  compilePlan,
  fixedValues,
  nativeOutput,
  planJson,
  record,
  referenceInputs,
  rehashed,
  removeTempDirs,
  report,
  runNative,
  tempDir,
  TOLERANCE,
} from "./support.js";

const SEED = 11;

const plan = compilePlan(`version: 1
name: checkpoint-pixart
model: { family: pixart, variant: pixart-tiny, checkpoint: w.safetensors, weights_seed: ${SEED}, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
image: { height: 64, width: 48 }
seed: 3
scheduler: { kind: ddim, steps: 3, guidance: 4.5 }
vae: { kind: none }
output: { dir: out, formats: [latents] }
runtime: { backend: cpu }
`);
const OUTPUT = plan.outputs[0]!.name;

const inputs: NativeInputs = (() => {
  const { samples, latent } = plan.geometry;
  const { textTokens: L, captionChannels: C } = plan.model.hyper;
  return {
    noise: fixedValues(samples * latent.channels * latent.frames * latent.height * latent.width, 1),
    text: fixedValues(samples * L * C, 2),
    textMask: Float32Array.from({ length: samples * L }, (_, i) => (i % L < L - 2 ? 1 : 0)),
  };
})();

const dir = tempDir("opendit-native-checkpoint-");
afterAll(() => {
  removeTempDirs();
  report("checkpoint");
});

/** A random checkpoint of the plan's model written by checkpoint/random.ts, in `dtype`. */
async function randomFile(dtype: StorageDtype): Promise<string> {
  const family = familyInfo(plan.model.family);
  if (!family) throw new Error(`no family ${plan.model.family}`);
  const path = join(dir, `random-${dtype}.safetensors`);
  const written = await writeRandomCheckpoint(path, { family, hyper: plan.model.hyper, seed: SEED, dtype, size: { variant: plan.model.variant ?? "" } });
  expect(written.tensors.map((t) => t.name).sort()).toEqual(plan.weights.map((w) => w.name).sort());
  return path;
}

/** A checkpoint of the plan's weights with changes: `tensors` edits the list written (values: the random ones). */
async function editedFile(name: string, edit: (tensors: TensorToWrite[]) => TensorToWrite[]): Promise<string> {
  const path = join(dir, name);
  const tensors = edit(plan.weights.map((w) => ({ name: w.name, dtype: "F32" as const, shape: w.shape })));
  await writeSafetensors(path, tensors, (t) => encodeF32(randomTensor(SEED, t.name, t.shape), "fp32"));
  return path;
}

function file(path: string, ignore: readonly string[] = []): NativeWeights {
  return { kind: "file", path, ignore };
}

const random: NativeWeights = { kind: "random", seed: SEED };

/** The message a run's promise rejects with (it must reject, not resolve nor throw synchronously). */
async function rejection(run: () => Promise<unknown>): Promise<string> {
  let promise: Promise<unknown> | undefined;
  expect(() => {
    promise = run();
  }).not.toThrow();
  const outcome = await promise!.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome, "the run resolved").toBeInstanceOf(Error);
  return (outcome as Error).message;
}

describe("checkpoint files through the addon", () => {
  it("an fp32 file written by `checkpoint random` gives bit-identical outputs to checkpoint: random", async () => {
    const path = await randomFile("fp32");
    const fromFile = nativeOutput(await runNative(plan, file(path), inputs), OUTPUT);
    const drawn = nativeOutput(await runNative(plan, random, inputs), OUTPUT);
    expect(fromFile.every(Number.isFinite)).toBe(true);
    expect(bitIdentical(fromFile, drawn), `max relative error ${maxRelativeError(fromFile, drawn)}`).toBe(true);
  });

  it.each([
    { dtype: "bf16" as const, bound: 1e-2 },
    { dtype: "fp16" as const, bound: 1e-3 },
  ])("a $dtype file loads, converted exactly, and runs close to fp32", async ({ dtype, bound }) => {
    const path = await randomFile(dtype);
    const got = nativeOutput(await runNative(plan, file(path), inputs), OUTPUT);
    expect(got.every(Number.isFinite)).toBe(true);
    // The reference interpreter on the file's own values (each bf16/fp16 value exactly an fp32 one).
    const stored = await readTensors(path);
    const weights = new Map(plan.weights.map((w) => [w.name, Float64Array.from(stored.get(w.name)!)]));
    const want = runPlan(plan, weights, referenceInputs(inputs)).outputs.get(OUTPUT);
    if (!(want instanceof Float64Array)) throw new Error("the reference gave no latent");
    const exact = record(`${dtype} file vs the reference on its values`, maxRelativeError(got, want));
    expect(exact, `${dtype}: max relative error ${exact} against the reference on the file's values`).toBeLessThanOrEqual(TOLERANCE);
    // Close to the fp32 weights' run, and not the same: the file's rounded values were used.
    const fp32 = nativeOutput(await runNative(plan, random, inputs), OUTPUT);
    const drift = record(`${dtype} file vs fp32 weights`, maxRelativeError(got, fp32));
    expect(drift).toBeLessThanOrEqual(bound);
    expect(bitIdentical(got, fp32)).toBe(false);
  });

  it("a tensor of the wrong shape is refused, naming it and its expected shape", async () => {
    const target = plan.weights.find((w) => w.shape.length === 2 && w.shape[0] !== w.shape[1]);
    if (!target) throw new Error("the plan has no 2-D weight that is not square");
    const [rows, cols] = target.shape as [number, number];
    // The same element count transposed: only a shape check can refuse it.
    const path = await editedFile("wrong-shape.safetensors", (ts) => ts.map((t) => (t.name === target.name ? { ...t, shape: [cols, rows] } : t)));
    const message = await rejection(() => runNative(plan, file(path), inputs));
    expect(message).toContain(target.name);
    expect(message).toMatch(new RegExp(`expected[^\\[]*\\[${rows}, ${cols}\\]`));
  });

  it("a missing tensor is refused, naming it", async () => {
    const target = plan.weights[plan.weights.length - 1]!;
    const path = await editedFile("missing.safetensors", (ts) => ts.filter((t) => t.name !== target.name));
    const message = await rejection(() => runNative(plan, file(path), inputs));
    expect(message).toContain(target.name);
    expect(message).toMatch(/missing/i);
  });

  it("an unexpected tensor is refused, naming it, unless the request ignores it", async () => {
    const extra = "blocks.0.unused_table";
    const path = await editedFile("extra.safetensors", (ts) => [...ts, { name: extra, dtype: "F32", shape: [3, 5] }]);
    const message = await rejection(() => runNative(plan, file(path), inputs));
    expect(message).toContain(extra);
    const ignored = nativeOutput(await runNative(plan, file(path, [extra]), inputs), OUTPUT);
    const drawn = nativeOutput(await runNative(plan, random, inputs), OUTPUT);
    expect(bitIdentical(ignored, drawn)).toBe(true);
  });

  it("a truncated file is refused, naming the file", async () => {
    const path = await randomFile("fp32");
    const truncated = join(dir, "truncated.safetensors");
    const bytes = readFileSync(path);
    writeFileSync(truncated, bytes);
    truncateSync(truncated, bytes.length - 100);
    const message = await rejection(() => runNative(plan, file(truncated), inputs));
    expect(message).toContain(truncated);
    expect(message).toMatch(/truncated|past the end/);
  });

  it("a corrupt header is refused, naming the file", async () => {
    const path = await randomFile("fp32");
    const corrupt = join(dir, "corrupt.safetensors");
    const bytes = Buffer.from(readFileSync(path));
    bytes.fill(0x7b, 8, 24); // "{{{{…": the header's JSON no longer parses
    writeFileSync(corrupt, bytes);
    const message = await rejection(() => runNative(plan, file(corrupt), inputs));
    expect(message).toContain(corrupt);
    expect(message).toMatch(/JSON/);
  });

  it("a missing file is refused, naming it", async () => {
    const path = join(dir, "no-such-file.safetensors");
    const message = await rejection(() => runNative(plan, file(path), inputs));
    expect(message).toContain(path);
  });

  it("a plan whose op names a buffer that does not exist is refused, naming the op", async () => {
    const json = JSON.parse(planJson(plan)) as { program: { step: Record<string, unknown>[] } } & Record<string, unknown>;
    const index = plan.program.step.findIndex((op) => op.op === "linear" && op.block !== undefined);
    const op = plan.program.step[index]!;
    json.program.step[index] = { ...json.program.step[index], x: "no_such_buffer" };
    const edited = JSON.stringify(rehashed(json));
    const message = await rejection(() => runNative(edited, random, inputs));
    expect(message).toContain(describeOp(op));
    expect(message).toContain("no_such_buffer");
  });
});
