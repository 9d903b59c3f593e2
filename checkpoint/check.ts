/**
 * A checkpoint against the tensors a model reads (`family.weights(hyper)`), judged as the runtime's loader
 * judges it: every tensor the model reads must be present with its exact shape and a float dtype the loader
 * converts; a tensor the model does not read is an error too (it usually means the wrong family or size),
 * except the names the family lists as skipped (fixed sin-cos tables the runtime recomputes, unused buffers).
 */
import type { WeightInfo } from "../compiler/models/types.js";
import { WEIGHT_DTYPES } from "./dtype.js";
import type { TensorEntry } from "./safetensors.js";

export type CheckpointProblem =
  | { readonly kind: "missing"; readonly name: string; readonly expected: readonly number[] }
  | { readonly kind: "shape"; readonly name: string; readonly expected: readonly number[]; readonly actual: readonly number[] }
  | { readonly kind: "dtype"; readonly name: string; readonly dtype: string }
  | { readonly kind: "unexpected"; readonly name: string; readonly actual: readonly number[] };

export interface CheckpointCheck {
  /** Expected tensors first (in the model's order), then unexpected ones (in file order). */
  readonly problems: readonly CheckpointProblem[];
  /** Names present in the file that the loader skips on purpose. */
  readonly skipped: readonly string[];
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkCheckpoint(
  tensors: readonly Pick<TensorEntry, "name" | "dtype" | "shape">[],
  expected: readonly WeightInfo[],
  skippedNames: readonly string[] = [],
): CheckpointCheck {
  const inFile = new Map(tensors.map((t) => [t.name, t]));
  const wanted = new Set(expected.map((w) => w.name));
  const skip = new Set(skippedNames);
  const problems: CheckpointProblem[] = [];
  for (const w of expected) {
    const t = inFile.get(w.name);
    if (!t) problems.push({ kind: "missing", name: w.name, expected: w.shape });
    else if (!sameShape(t.shape, w.shape)) problems.push({ kind: "shape", name: w.name, expected: w.shape, actual: t.shape });
    else if (!WEIGHT_DTYPES.includes(t.dtype)) problems.push({ kind: "dtype", name: w.name, dtype: t.dtype });
  }
  const skipped: string[] = [];
  for (const t of tensors) {
    if (wanted.has(t.name)) continue;
    if (skip.has(t.name)) skipped.push(t.name);
    else problems.push({ kind: "unexpected", name: t.name, actual: t.shape });
  }
  return { problems, skipped };
}

/** One line for a problem, naming the tensor and, where it has one, the shape the model expects. */
export function describeProblem(p: CheckpointProblem): string {
  switch (p.kind) {
    case "missing":
      return `missing tensor \`${p.name}\` (expected shape ${formatShape(p.expected)})`;
    case "shape":
      return `tensor \`${p.name}\` has shape ${formatShape(p.actual)}, expected ${formatShape(p.expected)}`;
    case "dtype":
      return `tensor \`${p.name}\` has dtype ${p.dtype}; weights must be ${WEIGHT_DTYPES.join(", ")}`;
    case "unexpected":
      return `unexpected tensor \`${p.name}\` ${formatShape(p.actual)}: the model does not read it`;
  }
}
