/**
 * The reference interpreter (runtime/reference) against the PyTorch goldens (test/fixtures/goldens, made by
 * test/reference/make_goldens.py from the reference forwards in test/reference/models): every forward golden's
 * pipeline is compiled, its checkpoint redrawn (test/helpers/golden-weights.ts), its inputs fed, and one step's
 * program run at the golden's timestep; the residual stream after each block and the model output (`model.out`
 * after unpatchify) must match the golden's `block.*` and `output` tensors. The sampler goldens run the whole
 * loop: each step's guided prediction and latent must match. The goldens were computed in float64 from
 * float32-rounded weights and inputs and stored in float32, as the interpreter computes them, so the bound is
 * float32 storage rounding with a wide margin: max|a − b| / max|b| ≤ 1e-5.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { openSafetensors } from "../../../checkpoint/safetensors.js";
import { compile } from "../../../compiler/compile.js";
import { opBuffers } from "../../../compiler/plan/op-buffers.js";
import type { Op } from "../../../compiler/plan/ops.js";
import type { Plan } from "../../../compiler/plan/types.js";
import type { RunInputs } from "../../../runtime/reference/inputs.js";
import { runPlan } from "../../../runtime/reference/interpret.js";
import type { Memory } from "../../../runtime/reference/memory.js";
import { goldenWeight } from "../../helpers/golden-weights.js";

const here = dirname(fileURLToPath(import.meta.url));
const goldenDir = join(here, "../../fixtures/goldens");

/** The bound on max|a − b| / max|b| against a golden. */
const TOLERANCE = 1e-5;

const FORWARD_FAMILIES = ["dit", "pixart", "latte", "latte-t2v", "stdit", "stdit3", "opensora-plan"] as const;
const SAMPLERS = [
  { file: "sampler-ddim-stdit.json", sampler: "ddim", family: "stdit" },
  { file: "sampler-rflow-stdit3.json", sampler: "rflow", family: "stdit3" },
] as const;

interface ForwardSidecar {
  readonly kind: "forward";
  readonly family: string;
  readonly file: string;
  readonly pipeline: string;
  readonly weights: { readonly seed: number };
  readonly blocks: readonly string[];
}

interface SamplerSidecar {
  readonly kind: "sampler";
  readonly sampler: string;
  readonly family: string;
  readonly file: string;
  readonly forward_file: string;
  readonly pipeline: string;
  readonly steps: number;
}

function readJson<T>(name: string): T {
  return JSON.parse(readFileSync(join(goldenDir, name), "utf8")) as T;
}

/** All tensors of a golden file, as fp32 values (I32 tensors exactly). */
async function readGolden(file: string): Promise<Map<string, Float32Array>> {
  const reader = await openSafetensors(join(goldenDir, file));
  try {
    const out = new Map<string, Float32Array>();
    for (const t of reader.header.tensors) out.set(t.name, await reader.readF32(t.name));
    return out;
  } finally {
    await reader.close();
  }
}

function tensor(golden: ReadonlyMap<string, Float32Array>, name: string): Float32Array {
  const t = golden.get(name);
  if (!t) throw new Error(`the golden has no tensor ${name}`);
  return t;
}

function compiled(pipeline: string): Plan {
  const r = compile(pipeline, { fileExists: () => true });
  const errors = r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
  expect(errors).toEqual([]);
  if (!r.plan) throw new Error("no plan");
  return r.plan;
}

/** The golden checkpoint of a plan, in float64 (each value the fp32 the reference read). */
function goldenWeights(plan: Plan, seed: number): Map<string, Float64Array> {
  return new Map(plan.weights.map((w) => [w.name, Float64Array.from(goldenWeight(seed, w.name, w.shape))]));
}

/** The run's inputs from a forward golden's `input.*` tensors. */
function goldenInputs(golden: ReadonlyMap<string, Float32Array>): RunInputs {
  const optional = (name: string): Float32Array | undefined => golden.get(name);
  const inputs: { -readonly [K in keyof RunInputs]: RunInputs[K] } = { noise: tensor(golden, "input.latent") };
  const text = optional("input.text");
  const mask = optional("input.text.mask");
  const negative = optional("input.negative_text");
  const labels = optional("input.labels");
  if (text) inputs.text = text;
  if (mask) inputs.textMask = mask;
  if (negative) inputs.negativeText = negative;
  if (labels) inputs.labels = labels;
  return inputs;
}

/** max|a − b| / max|b|. */
function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
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

function written(op: Op): string {
  const out = opBuffers(op).writes[0];
  if (out === undefined) throw new Error(`op ${op.id} (${op.op}) writes nothing`);
  return out;
}

function copy(mem: Memory, name: string): Float64Array {
  const b = mem.buffers.get(name);
  if (!(b instanceof Float64Array)) throw new Error(`no float buffer ${name}`);
  return b.slice();
}

/** The id of the last step op of every block, by the golden's name of its output (`block.spatial.0`). */
function lastOpOfBlocks(plan: Plan): Map<number, string> {
  const last = new Map<string, number>();
  for (const op of plan.program.step) {
    if (op.block !== undefined) last.set(`block.${op.blockKind ?? "spatial"}.${op.block}`, op.id);
  }
  return new Map([...last].map(([name, id]) => [id, name]));
}

const forwards = readdirSync(goldenDir)
  .filter((f) => f.endsWith(".json"))
  .map((f) => readJson<ForwardSidecar | SamplerSidecar>(f))
  .filter((s): s is ForwardSidecar => s.kind === "forward");

describe("the forward goldens", () => {
  it("are one per family the interpreter is checked on", () => {
    expect(forwards.map((s) => s.family).sort()).toEqual([...FORWARD_FAMILIES].sort());
  });
});

describe.each(FORWARD_FAMILIES)("%s forward golden, one step of the reference interpreter", (family) => {
  const side = readJson<ForwardSidecar>(`${family}.json`);
  const plan = compiled(side.pipeline);

  it("matches every block's residual stream and the model output", async () => {
    const golden = await readGolden(side.file);
    const blockEnds = lastOpOfBlocks(plan);
    expect([...blockEnds.values()].sort()).toEqual([...side.blocks].sort());
    const blocks = new Map<string, Float64Array>();
    let modelOut: Float64Array | undefined;
    runPlan(plan, goldenWeights(plan, side.weights.seed), { ...goldenInputs(golden), timestep: tensor(golden, "input.timestep") }, {
      steps: 1,
      afterOp: (op, mem, program) => {
        if (program !== "step") return;
        const block = blockEnds.get(op.id);
        if (block !== undefined) blocks.set(block, copy(mem, written(op)));
        if (op.op === "unpatchify") modelOut = copy(mem, op.out);
      },
    });
    const errors: Record<string, number> = {};
    for (const name of side.blocks) {
      const got = blocks.get(name);
      if (!got) throw new Error(`${name} was not captured`);
      errors[name] = maxRelativeError(got, tensor(golden, name));
    }
    if (!modelOut) throw new Error("no unpatchify op ran");
    errors["output"] = maxRelativeError(modelOut, tensor(golden, "output"));
    for (const [name, e] of Object.entries(errors)) expect(e, `${family} ${name}: max relative error ${e}`).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe.each(SAMPLERS)("$sampler sampler golden on $family, the whole loop", ({ file }) => {
  const side = readJson<SamplerSidecar>(file);
  const forward = forwards.find((s) => s.file === side.forward_file);
  if (!forward) throw new Error(`no forward golden ${side.forward_file}`);
  const plan = compiled(side.pipeline);

  it("matches every step's guided prediction and latent, and the result", async () => {
    expect(existsSync(join(goldenDir, side.file))).toBe(true);
    expect(plan.steps).toHaveLength(side.steps);
    const golden = await readGolden(side.file);
    const text = await readGolden(side.forward_file);
    const inputs: RunInputs = { ...goldenInputs(text), noise: tensor(golden, "input.latent") };
    const predictions: Float64Array[] = [];
    const latents: Float64Array[] = [];
    const result = runPlan(plan, goldenWeights(plan, forward.weights.seed), inputs, {
      afterOp: (op, mem, program) => {
        if (program !== "step") return;
        if (op.op === "guidance") predictions[mem.step] = copy(mem, op.out);
        if (op.op === "solver_update") latents[mem.step] = copy(mem, op.latent);
      },
    });
    for (let i = 0; i < side.steps; i++) {
      const p = predictions[i];
      const l = latents[i];
      if (!p || !l) throw new Error(`step ${i} did not run its guidance and solver update`);
      const ep = maxRelativeError(p, tensor(golden, `step.${i}.prediction`));
      const el = maxRelativeError(l, tensor(golden, `step.${i}.latent`));
      expect(ep, `step ${i} prediction: max relative error ${ep}`).toBeLessThanOrEqual(TOLERANCE);
      expect(el, `step ${i} latent: max relative error ${el}`).toBeLessThanOrEqual(TOLERANCE);
    }
    const out = result.outputs.get(plan.outputs[0]?.name ?? "");
    if (!out) throw new Error("no output");
    expect(maxRelativeError(out, tensor(golden, "output"))).toBeLessThanOrEqual(TOLERANCE);
  });
});
