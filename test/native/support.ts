/**
 * What the native runtime's tests (test/native/*.test.ts) share: compiling a pipeline text to a plan with no
 * error and serializing it for the addon, running a plan through the addon (runtime/native/addon.ts), the
 * bound they measure to (max|a − b| / max|b|, test/helpers/goldens.ts `maxRelativeError`), temporary
 * directories removed after each file, the inputs the addon and the float64 reference interpreter
 * (runtime/reference) are both fed, and the values both sides draw from the project's seeded generator
 * (checkpoint/generator.ts): `checkpoint: random` weights (checkpoint/random.ts) and the seeded initial noise
 * (runtime/run/inputs.ts), and a bisection of a native discrepancy against the reference interpreter. The golden
 * files' sidecars and tensors, and reading safetensors files, are test/helpers/goldens.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { randomTensor } from "../../checkpoint/random.js";
import type { Op } from "../../compiler/plan/ops.js";
import { canonicalJson, sha256 } from "../../compiler/plan/serialize.js";
import type { Plan } from "../../compiler/plan/types.js";
import {
  loadNative,
  type NativeAddon,
  type NativeInputs,
  type NativeProgress,
  type NativeRunRequest,
  type NativeRunResult,
  type NativeWeights,
} from "../../runtime/native/addon.js";
import { describeOp } from "../../runtime/reference/dispatch.js";
import type { RunInputs } from "../../runtime/reference/inputs.js";
import { runPlan } from "../../runtime/reference/interpret.js";
import { initialNoise } from "../../runtime/run/inputs.js";
import { maxRelativeError, written } from "../helpers/goldens.js";
import { compiled } from "../runtime/reference/run-fixtures.js";

const here = dirname(fileURLToPath(import.meta.url));

/** The repository root. */
export const ROOT = join(here, "../..");

/** The bound of every native-vs-golden and native-vs-reference comparison: max|a − b| / max|b|. */
export const TOLERANCE = 1e-5;

// ---- plans ----

/** The plan of a pipeline text, which must compile without an error (test/runtime/reference/run-fixtures.ts). */
export function compilePlan(text: string): Plan {
  return compiled(text);
}

/** The plan's JSON text as the addon reads it (compiler/plan/serialize.ts: canonical, keys sorted). */
export function planJson(plan: Plan): string {
  return canonicalJson(plan);
}

/** A plan with its `hash` recomputed after an edit (so a refusal is about the edit, not the hash). */
export function rehashed(plan: Record<string, unknown>): Record<string, unknown> {
  const { hash: _old, ...rest } = plan;
  return { ...rest, hash: sha256(canonicalJson(rest)) };
}

/** The one step op of a kind (guidance, solver_update, unpatchify): there must be exactly one. */
export function onlyStepOp<K extends Op["op"]>(plan: Plan, kind: K): Extract<Op, { op: K }> {
  const ops = plan.program.step.filter((op): op is Extract<Op, { op: K }> => op.op === kind);
  if (ops.length !== 1) throw new Error(`the plan's step program has ${ops.length} ${kind} ops, not 1`);
  return ops[0]!;
}

/** The element count of a plan buffer. */
export function bufferSize(plan: Plan, name: string): number {
  const b = plan.buffers.find((x) => x.name === name);
  if (!b) throw new Error(`the plan has no buffer ${name}`);
  return b.shape.reduce((n, d) => n * d, 1);
}

/** The seed the run's noise is drawn from: the solver's `noiseSeed`, the pipeline's `seed`. */
export function noiseSeedOf(plan: Plan): number {
  return onlyStepOp(plan, "solver_update").noiseSeed;
}

// ---- the addon ----

/** The addon, loaded once (a missing build fails the test that asks, with the loader's message). */
export function native(): NativeAddon {
  return loadNative();
}

/** One native run of a plan on rank 0. */
export function runNative(
  plan: Plan | string,
  weights: NativeWeights,
  inputs: NativeInputs,
  options: Omit<NativeRunRequest, "plan" | "weights" | "inputs"> = {},
  onProgress?: (progress: NativeProgress) => void,
): Promise<NativeRunResult> {
  const text = typeof plan === "string" ? plan : planJson(plan);
  return native().run({ plan: text, weights, inputs, ...options }, onProgress);
}

/** The named output of a native run. */
export function nativeOutput(result: NativeRunResult, name: string): Float32Array {
  const out = result.outputs.find((o) => o.name === name);
  if (!out) throw new Error(`the native run has no output ${name} (it has ${result.outputs.map((o) => o.name).join(", ")})`);
  return out.data;
}

/** A capture of `steps` steps cut into one array per step. */
export function perStep(capture: Float32Array | undefined, steps: number): Float32Array[] {
  if (!capture) throw new Error("the capture is missing");
  expect(capture.length % steps, `a capture of ${capture.length} values over ${steps} steps`).toBe(0);
  const n = capture.length / steps;
  return Array.from({ length: steps }, (_, i) => capture.subarray(i * n, (i + 1) * n));
}

// ---- measuring ----

/** Whether two fp32 arrays hold the same bits (NaNs included). */
export function bitIdentical(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Measured errors of a test file, by case. */
const measured: Record<string, number> = {};

/** Keeps a measured error for `report`; returns it. */
export function record(name: string, value: number): number {
  measured[name] = value;
  return value;
}

/** With OPENDIT_NATIVE_REPORT set, prints the file's measured errors (for reports; CI prints nothing). */
export function report(file: string): void {
  if (process.env["OPENDIT_NATIVE_REPORT"]) console.log(`${file}: ${JSON.stringify(measured, null, 1)}`);
}

// ---- temporary directories ----

const temps: string[] = [];

/** A new temporary directory, removed by `removeTempDirs` (each file's afterAll). */
export function tempDir(prefix = "opendit-native-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
}

// ---- seeded values both sides share ----

/**
 * The initial latent of a plan's run drawn from `seed` (runtime/run/inputs.ts `initialNoise`: sample g is the
 * normals of key(seed, "latent/<g>"), row-major, rounded to fp32), what the addon draws from `noiseSeed`.
 */
export function planNoise(plan: Plan, seed: number): Float32Array {
  const { samples, latent } = plan.geometry;
  return initialNoise(seed, samples, [latent.channels, latent.frames, latent.height, latent.width]);
}

/** `checkpoint: random` weights of a plan (checkpoint/random.ts), fp32 values widened exactly to float64. */
export function randomWeights(plan: Plan, seed = plan.model.weightsSeed): Map<string, Float64Array> {
  return new Map(plan.weights.map((w) => [w.name, Float64Array.from(randomTensor(seed, w.name, w.shape))]));
}

/** Deterministic fp32 values in (−2, 2), different for each `salt`. */
export function fixedValues(count: number, salt: number): Float32Array {
  return Float32Array.from({ length: count }, (_, i) => 2 * Math.sin(12.9898 * (i + 1) + 78.233 * salt));
}

/** The reference interpreter's inputs from the addon's (the same fp32 values; the noise must be given). */
export function referenceInputs(inputs: NativeInputs): RunInputs {
  return {
    ...(inputs.noise ? { noise: inputs.noise } : {}),
    ...(inputs.text ? { text: inputs.text } : {}),
    ...(inputs.negativeText ? { negativeText: inputs.negativeText } : {}),
    ...(inputs.textMask ? { textMask: inputs.textMask } : {}),
    ...(inputs.labels ? { labels: inputs.labels } : {}),
    ...(inputs.timestep !== undefined ? { timestep: inputs.timestep } : {}),
  };
}

// ---- bisecting a discrepancy ----

/**
 * Where a native run first leaves the reference interpreter: both run the plan (the native side capturing the
 * output of every step op that writes a float buffer, on every step it runs), and the op outputs are compared
 * in the order they ran. Says the first op whose output is past the bound, and the op with the largest error.
 * For failure messages only: it reruns both sides.
 */
export async function firstDivergence(
  plan: Plan,
  weights: NativeWeights,
  referenceWeights: ReadonlyMap<string, Float64Array>,
  inputs: NativeInputs,
  steps?: number,
  bound = TOLERANCE,
): Promise<string> {
  const floats = new Set(plan.buffers.filter((b) => b.dtype !== "i32").map((b) => b.name));
  for (const w of plan.weights) floats.add(w.name);
  const ops = plan.program.step.filter((op) => floats.has(written(op)));
  const order: { step: number; op: Op; run: number }[] = [];
  const reference = new Map<number, Float64Array[]>();
  const refInputs = referenceInputs(inputs.noise || inputs.noiseSeed === undefined ? inputs : { ...inputs, noise: planNoise(plan, inputs.noiseSeed) });
  runPlan(plan, new Map(referenceWeights), refInputs, {
    ...(steps === undefined ? {} : { steps }),
    afterOp: (op, mem, program) => {
      if (program !== "step" || !floats.has(written(op))) return;
      const values = mem.buffers.get(written(op));
      if (!(values instanceof Float64Array)) return;
      const runs = reference.get(op.id) ?? [];
      order.push({ step: mem.step, op, run: runs.length });
      runs.push(values.slice());
      reference.set(op.id, runs);
    },
  });
  const result = await runNative(plan, weights, inputs, {
    ...(steps === undefined ? {} : { steps }),
    captures: ops.map((op) => ({ op: op.id, buffer: written(op) })),
  });
  const captured = new Map(ops.map((op, i) => [op.id, result.captures[i]]));
  let first = "";
  let worst = { error: -1, text: "" };
  for (const { step, op, run } of order) {
    const runs = reference.get(op.id)!;
    const all = captured.get(op.id);
    const ref = runs[run]!;
    if (!all || all.length !== runs.length * ref.length) {
      return `step ${step} ${describeOp(op)}: the native capture of ${written(op)} holds ${all?.length ?? 0} values, not ${runs.length} runs of ${ref.length}`;
    }
    const got = all.subarray(run * ref.length, (run + 1) * ref.length);
    const error = maxRelativeError(got, ref);
    const text = `step ${step} ${describeOp(op)} -> ${written(op)}: max relative error ${error.toExponential(3)} vs the reference interpreter`;
    if (!first && error > bound) first = text;
    if (error > worst.error) worst = { error, text };
  }
  return first ? `first past ${bound}: ${first}; largest: ${worst.text}` : `no op past ${bound} against the reference interpreter (largest: ${worst.text})`;
}
