/**
 * What the all-ranks tests (parallel.test.ts, pipefusion.test.ts) share to run a tiny pipeline through the
 * reference interpreter: compiling a pipeline text with no error (which goldens.test.ts and the native tests'
 * support.ts use too), seeded weights by the goldens' rules (test/helpers/golden-weights.ts), fixed inputs, and
 * the max abs error of two latents.
 */
import { expect } from "vitest";
import { compile } from "../../../compiler/compile.js";
import type { Plan } from "../../../compiler/plan/types.js";
import type { RunInputs } from "../../../runtime/reference/inputs.js";
import { goldenWeightsFloat64 } from "../../helpers/golden-weights.js";

const WEIGHTS_SEED = 20261121;

/** The plan of a pipeline text, which must compile without an error. */
export function compiled(text: string): Plan {
  const r = compile(text, { fileExists: () => true });
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (!r.plan) throw new Error("no plan");
  return r.plan;
}

/** Deterministic values in (-2, 2), different for each `salt`. */
function values(count: number, salt: number): Float64Array {
  return Float64Array.from({ length: count }, (_, i) => 2 * Math.sin(12.9898 * (i + 1) + 78.233 * salt));
}

/** Every weight of the plan, seeded by its name and shape. */
export function weightsOf(plan: Plan): Map<string, Float64Array> {
  return goldenWeightsFloat64(WEIGHTS_SEED, plan.weights);
}

/** The run's inputs: noise, text with a mask that leaves the last tokens out, and the labels. */
export function inputsOf(plan: Plan): RunInputs {
  const { samples, latent } = plan.geometry;
  const { textTokens: L, captionChannels: C } = plan.model.hyper;
  return {
    noise: values(samples * latent.channels * latent.frames * latent.height * latent.width, 1),
    text: values(samples * L * C, 2),
    negativeText: values(samples * L * C, 3),
    textMask: Float64Array.from({ length: samples * L }, (_, i) => (i % L < Math.max(1, L - 3) ? 1 : 0)),
    labels: [3, 7].slice(0, samples),
  };
}

/** The largest |actual − expected| (infinite where either is NaN); the lengths must agree. */
export function maxAbsError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let e = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs((actual[i] ?? Number.NaN) - (expected[i] ?? Number.NaN));
    e = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(e, d);
  }
  return e;
}
