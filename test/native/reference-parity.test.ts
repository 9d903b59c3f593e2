/**
 * The native CPU backend (fp32) against the reference interpreter (runtime/reference, float64) on whole sampler
 * runs of tiny pipelines: the same plan, the same weights (`checkpoint: random`: the addon draws them itself from
 * the seed, the reference reads checkpoint/random.ts's values widened to float64), the same initial noise (the
 * addon draws it from the pipeline's seed, sample g from key(seed, "latent/<g>"); the reference is handed the
 * same normals, runtime/run/inputs.ts `initialNoise`) and the same text features. The final latents must agree to
 * max|a − b| / max|b| ≤ 1e-5. The cases cover every sampler's update and its noise: IDDPM ancestral steps with
 * per-step noise (quickstart.yaml, STDiT), class labels and the null class (DiT, Latte), DPM-Solver++'s history
 * (PixArt), rectified flow and rotary attention (STDiT3), PAB's skipped attention and its caches (Latte),
 * MLP broadcast with cross-attention PAB and a negative prompt (Latte-T2V), DDIM with eta > 0 (Open-Sora-Plan).
 * Also: a native run is deterministic (two runs bit-identical) and the same with 1 and 2 threads.
 * A failure names the first op whose output leaves the reference interpreter's (support.ts `firstDivergence`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Plan } from "../../compiler/plan/types.js";
import type { NativeInputs } from "../../runtime/native/addon.js";
import { runPlan } from "../../runtime/reference/interpret.js";
import { maxRelativeError, readTensors } from "../helpers/goldens.js";
import {
  bitIdentical,
  compilePlan,
  firstDivergence,
  fixedValues,
  nativeOutput,
  noiseSeedOf,
  planNoise,
  randomWeights,
  record,
  referenceInputs,
  report,
  ROOT,
  runNative,
  TOLERANCE,
} from "./support.js";

afterAll(() => report("reference-parity"));

/** A tiny pipeline on `checkpoint: random`, latents only, on the CPU backend. */
function pipeline(name: string, body: string): string {
  return `version: 1\nname: parity-${name}\n${body}\nvae: { kind: none }\noutput: { dir: out, formats: [latents] }\nruntime: { backend: cpu }\n`;
}

interface Case {
  readonly name: string;
  readonly text: string;
  /** What the plan must hold for the case to test what it says (checked before running). */
  readonly expect: (plan: Plan) => void;
  /** Text features from a file (quickstart): `y` and `mask`. */
  readonly textFile?: string;
}

const CASES: readonly Case[] = [
  {
    name: "quickstart.yaml (STDiT, IDDPM with per-step noise, null caption)",
    text: readFileSync(join(ROOT, "pipelines/quickstart.yaml"), "utf8"),
    textFile: join(ROOT, "pipelines/quickstart-text.safetensors"),
    expect: (plan) => {
      expect(plan.schedule.solver).toBe("ddpm");
      expect(plan.steps.filter((s) => "add_noise" in s.schedule && s.schedule.add_noise)).toHaveLength(9);
    },
  },
  {
    name: "DiT class-conditional, IDDPM, guidance against the null class",
    text: pipeline(
      "dit",
      `model: { family: dit, variant: dit-tiny, checkpoint: random, weights_seed: 3, dtype: fp32 }
conditioning: { labels: [3, 7] }
image: { height: 64, width: 48 }
seed: 5
scheduler: { kind: iddpm, steps: 8, guidance: 4 }`,
    ),
    expect: (plan) => {
      expect(plan.inputs.map((i) => i.source)).toContain("null-labels");
      expect(plan.schedule.guidance?.scale).toBe(4);
    },
  },
  {
    name: "PixArt, DPM-Solver++ 2M (history)",
    text: pipeline(
      "pixart",
      `model: { family: pixart, variant: pixart-tiny, checkpoint: random, weights_seed: 4, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
image: { height: 64, width: 48 }
seed: 6
scheduler: { kind: dpm-solver, steps: 8, guidance: 4.5 }`,
    ),
    expect: (plan) => {
      expect(plan.schedule.solver).toBe("dpmpp2m");
      expect(plan.program.step.some((op) => op.op === "solver_update" && op.history !== undefined)).toBe(true);
    },
  },
  {
    name: "STDiT3, rectified flow",
    text: pipeline(
      "stdit3",
      `model: { family: stdit3, variant: stdit3-tiny, checkpoint: random, weights_seed: 5, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
video: { frames: 17, height: 40, width: 56, fps: 24 }
seed: 7
scheduler: { kind: rflow, steps: 8, guidance: 7 }`,
    ),
    expect: (plan) => expect(plan.schedule.solver).toBe("flow-euler"),
  },
  {
    name: "Latte, PAB windows (skipped spatial and temporal attention, caches)",
    text: pipeline(
      "latte-pab",
      `model: { family: latte, variant: latte-tiny, checkpoint: random, weights_seed: 6, dtype: fp32 }
conditioning: { labels: [3, 7] }
video: { frames: 4, height: 64, width: 48 }
seed: 8
scheduler: { kind: iddpm, steps: 10, guidance: 7 }
acceleration:
  pab:
    spatial: "every 2 in [100, 800]"
    temporal: "every 3 in [100, 800]"`,
    ),
    expect: (plan) => {
      const reused = plan.patterns.flatMap((p) => p.reuse);
      expect(reused).toContain("spatial");
      expect(reused).toContain("temporal");
    },
  },
  {
    name: "Latte-T2V, DDIM with PAB (cross too) and MLP broadcast, negative prompt",
    text: pipeline(
      "latte-t2v-mlp",
      `model: { family: latte-t2v, variant: latte-t2v-tiny, checkpoint: random, weights_seed: 7, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
video: { frames: 4, height: 64, width: 48 }
seed: 9
scheduler: { kind: ddim, steps: 10, guidance: 7.5 }
acceleration:
  pab:
    spatial: "every 2 in [100, 800]"
    temporal: "every 3 in [100, 800]"
    cross: "every 4 in [100, 800]"
    mlp:
      spatial: { steps: [3, 6], blocks: [0, 1], reuse: 2 }
      temporal: { steps: [3, 6], blocks: [0], reuse: 2 }`,
    ),
    expect: (plan) => {
      expect(plan.patterns.some((p) => p.mlpKeep.length > 0)).toBe(true);
      expect(plan.patterns.some((p) => p.mlpReuse.length > 0)).toBe(true);
      expect(plan.patterns.flatMap((p) => p.reuse)).toContain("cross");
    },
  },
  {
    name: "Open-Sora-Plan, DDIM eta 0.5 (per-step noise)",
    text: pipeline(
      "opensora-plan-eta",
      `model: { family: opensora-plan, variant: opensora-plan-tiny, checkpoint: random, weights_seed: 8, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
video: { frames: 5, height: 64, width: 48 }
seed: 10
scheduler: { kind: ddim, steps: 8, guidance: 7.5, eta: 0.5 }`,
    ),
    expect: (plan) => {
      expect(plan.schedule.solver).toBe("ddim");
      expect(plan.steps.filter((s) => "direction_coef" in s.schedule && s.schedule.add_noise && s.schedule.sigma > 0)).toHaveLength(7);
    },
  },
];

/** The text inputs of a case: the file's, or fixed values with a mask that leaves the last 3 tokens out. */
async function textInputs(plan: Plan, c: Case): Promise<NativeInputs> {
  const { samples } = plan.geometry;
  const { textTokens: L, captionChannels: C } = plan.model.hyper;
  if (c.textFile) {
    const t = await readTensors(c.textFile);
    return { text: t.get("y")!, textMask: t.get("mask")! };
  }
  if (L === 0) return { labels: Int32Array.from([3, 7].slice(0, samples)) };
  return {
    text: fixedValues(samples * L * C, 2),
    negativeText: fixedValues(samples * L * C, 3),
    textMask: Float32Array.from({ length: samples * L }, (_, i) => (i % L < L - 3 ? 1 : 0)),
  };
}

describe.each(CASES)("$name", (c) => {
  it("gives the reference interpreter's final latent (fp32 vs float64) to 1e-5", async () => {
    const plan = compilePlan(c.text);
    c.expect(plan);
    const seed = noiseSeedOf(plan);
    const inputs: NativeInputs = { ...(await textInputs(plan, c)), noiseSeed: seed };
    const output = plan.outputs[0]?.name;
    if (output === undefined) throw new Error("the plan has no output");

    const got = nativeOutput(await runNative(plan, { kind: "random", seed: plan.model.weightsSeed }, inputs, { threads: 2 }), output);
    const weights = randomWeights(plan);
    const want = runPlan(plan, weights, referenceInputs({ ...inputs, noise: planNoise(plan, seed) })).outputs.get(output);
    if (!(want instanceof Float64Array)) throw new Error("the reference gave no latent");
    const error = record(c.name, maxRelativeError(got, want));
    const where = error > TOLERANCE ? await firstDivergence(plan, { kind: "random", seed: plan.model.weightsSeed }, weights, inputs) : "";
    expect(error, `final latent: max relative error ${error}${where ? `; ${where}` : ""}`).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe("native determinism", () => {
  it.each([CASES[0]!, CASES[5]!])("$name: two runs are bit-identical, and 1 thread gives what 2 give", async (c) => {
    const plan = compilePlan(c.text);
    const inputs: NativeInputs = { ...(await textInputs(plan, c)), noiseSeed: noiseSeedOf(plan) };
    const output = plan.outputs[0]!.name;
    const weights = { kind: "random", seed: plan.model.weightsSeed } as const;
    const first = await runNative(plan, weights, inputs, { threads: 2 });
    const again = await runNative(plan, weights, inputs, { threads: 2 });
    const single = await runNative(plan, weights, inputs, { threads: 1 });
    expect(first.threads).toBe(2);
    expect(single.threads).toBe(1);
    const latent = nativeOutput(first, output);
    expect(latent.every(Number.isFinite)).toBe(true);
    expect(bitIdentical(nativeOutput(again, output), latent), "two runs with 2 threads").toBe(true);
    const oneThread = nativeOutput(single, output);
    expect(bitIdentical(oneThread, latent), `1 vs 2 threads: max relative error ${maxRelativeError(oneThread, latent)}`).toBe(true);
  });
});
