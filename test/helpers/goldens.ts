/**
 * What the tests against the PyTorch goldens (test/fixtures/goldens, made by test/reference/make_goldens.py)
 * share, the reference interpreter's (test/runtime/reference/goldens.test.ts) and the native runtime's
 * (test/native/goldens.test.ts and the other native tests): which goldens there are, their JSON sidecars, the
 * tensors of a safetensors file as fp32 values, the run inputs a forward golden's `input.*` tensors give, the
 * bound they are measured by (max|a − b| / max|b|), and the step op that ends each block, whose output the
 * goldens' `block.*` tensors hold. The goldens' checkpoints are test/helpers/golden-weights.ts.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { openSafetensors } from "../../checkpoint/safetensors.js";
import { opBuffers } from "../../compiler/plan/op-buffers.js";
import type { Op } from "../../compiler/plan/ops.js";
import type { Plan } from "../../compiler/plan/types.js";

/** The golden files and their JSON sidecars. */
export const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/goldens");

/** The families with a forward golden (`<family>.json`): one per family the runtimes are checked on. */
export const FORWARD_GOLDEN_FAMILIES = ["dit", "pixart", "latte", "latte-t2v", "stdit", "stdit3", "opensora-plan"] as const;

/** The sampler goldens: a whole loop of a sampler on a family, by their sidecars. */
export const SAMPLER_GOLDENS = [
  { file: "sampler-ddim-stdit.json", sampler: "ddim", family: "stdit" },
  { file: "sampler-rflow-stdit3.json", sampler: "rflow", family: "stdit3" },
] as const;

// ---- sidecars ----

/** The sidecar of a forward golden (the fields the runtime tests read). */
export interface ForwardSidecar {
  readonly kind: "forward";
  readonly family: string;
  readonly file: string;
  readonly pipeline: string;
  readonly weights: { readonly seed: number };
  readonly blocks: readonly string[];
}

/** The sidecar of a sampler golden (the fields the runtime tests read). */
export interface SamplerSidecar {
  readonly kind: "sampler";
  readonly sampler: string;
  readonly family: string;
  readonly file: string;
  readonly forward_file: string;
  readonly pipeline: string;
  readonly steps: number;
  /** How far PyTorch's own float32 run of the loop is from the float64 golden, per step (max relative error). */
  readonly float32_relative_error: { readonly latent: readonly number[]; readonly prediction: readonly number[] };
}

/** A sidecar of the golden directory, by its file name. */
export function readSidecar<T extends ForwardSidecar | SamplerSidecar>(name: string): T {
  return JSON.parse(readFileSync(join(GOLDEN_DIR, name), "utf8")) as T;
}

// ---- tensors ----

/** All tensors of a safetensors file as fp32 values (I32 tensors exactly). */
export async function readTensors(path: string): Promise<Map<string, Float32Array>> {
  const reader = await openSafetensors(path);
  try {
    const out = new Map<string, Float32Array>();
    for (const t of reader.header.tensors) out.set(t.name, await reader.readF32(t.name));
    return out;
  } finally {
    await reader.close();
  }
}

/** All tensors of a golden file. */
export function readGolden(file: string): Promise<Map<string, Float32Array>> {
  return readTensors(join(GOLDEN_DIR, file));
}

/** The named tensor, which must be there. */
export function tensor(tensors: ReadonlyMap<string, Float32Array>, name: string): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new Error(`no tensor ${name}`);
  return t;
}

/** A forward golden's inputs, as both the addon (NativeInputs) and the reference interpreter (RunInputs) take them. */
export interface GoldenInputs {
  readonly noise: Float32Array;
  readonly text?: Float32Array;
  readonly textMask?: Float32Array;
  readonly negativeText?: Float32Array;
  readonly labels?: Int32Array;
}

/** The run's inputs from a forward golden's `input.*` tensors (the labels, stored as I32, as the integers they are). */
export function goldenInputs(golden: ReadonlyMap<string, Float32Array>): GoldenInputs {
  const text = golden.get("input.text");
  const mask = golden.get("input.text.mask");
  const negative = golden.get("input.negative_text");
  const labels = golden.get("input.labels");
  return {
    noise: tensor(golden, "input.latent"),
    ...(text ? { text } : {}),
    ...(mask ? { textMask: mask } : {}),
    ...(negative ? { negativeText: negative } : {}),
    ...(labels ? { labels: Int32Array.from(labels) } : {}),
  };
}

// ---- measuring ----

/** max|a − b| / max|b| (infinite where either holds a NaN); the lengths must agree. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] ?? Number.NaN;
    const b = expected[i] ?? Number.NaN;
    const d = Math.abs(a - b);
    diff = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(b));
  }
  return diff / scale;
}

// ---- where the goldens' tensors are in a plan ----

/** The buffer an op writes first (its output). */
export function written(op: Op): string {
  const out = opBuffers(op).writes[0];
  if (out === undefined) throw new Error(`op ${op.id} (${op.op}) writes nothing`);
  return out;
}

/** The id of the last step op of every block, by the goldens' name of its output (`block.spatial.0`). */
export function lastOpOfBlocks(plan: Plan): Map<number, string> {
  const last = new Map<string, number>();
  for (const op of plan.program.step) {
    if (op.block !== undefined) last.set(`block.${op.blockKind ?? "spatial"}.${op.block}`, op.id);
  }
  return new Map([...last].map(([name, id]) => [id, name]));
}
