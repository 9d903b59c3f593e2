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
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunInputs } from "../../../runtime/reference/inputs.js";
import { runPlan } from "../../../runtime/reference/interpret.js";
import type { Memory } from "../../../runtime/reference/memory.js";
import { goldenWeightsFloat64 } from "../../helpers/golden-weights.js";
import {
  FORWARD_GOLDEN_FAMILIES,
  GOLDEN_DIR,
  goldenInputs,
  lastOpOfBlocks,
  maxRelativeError,
  readGolden,
  readSidecar,
  SAMPLER_GOLDENS,
  tensor,
  written,
  type ForwardSidecar,
  type SamplerSidecar,
} from "../../helpers/goldens.js";
import { compiled } from "./run-fixtures.js";

/** The bound on max|a − b| / max|b| against a golden. */
const TOLERANCE = 1e-5;

function copy(mem: Memory, name: string): Float64Array {
  const b = mem.buffers.get(name);
  if (!(b instanceof Float64Array)) throw new Error(`no float buffer ${name}`);
  return b.slice();
}

const forwards = readdirSync(GOLDEN_DIR)
  .filter((f) => f.endsWith(".json"))
  .map((f) => readSidecar<ForwardSidecar | SamplerSidecar>(f))
  .filter((s): s is ForwardSidecar => s.kind === "forward");

describe("the forward goldens", () => {
  it("are one per family the interpreter is checked on", () => {
    expect(forwards.map((s) => s.family).sort()).toEqual([...FORWARD_GOLDEN_FAMILIES].sort());
  });
});

describe.each(FORWARD_GOLDEN_FAMILIES)("%s forward golden, one step of the reference interpreter", (family) => {
  const side = readSidecar<ForwardSidecar>(`${family}.json`);
  const plan = compiled(side.pipeline);

  it("matches every block's residual stream and the model output", async () => {
    const golden = await readGolden(side.file);
    const blockEnds = lastOpOfBlocks(plan);
    expect([...blockEnds.values()].sort()).toEqual([...side.blocks].sort());
    const blocks = new Map<string, Float64Array>();
    let modelOut: Float64Array | undefined;
    runPlan(plan, goldenWeightsFloat64(side.weights.seed, plan.weights), { ...goldenInputs(golden), timestep: tensor(golden, "input.timestep") }, {
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

describe.each(SAMPLER_GOLDENS)("$sampler sampler golden on $family, the whole loop", ({ file }) => {
  const side = readSidecar<SamplerSidecar>(file);
  const forward = forwards.find((s) => s.file === side.forward_file);
  if (!forward) throw new Error(`no forward golden ${side.forward_file}`);
  const plan = compiled(side.pipeline);

  it("matches every step's guided prediction and latent, and the result", async () => {
    expect(existsSync(join(GOLDEN_DIR, side.file))).toBe(true);
    expect(plan.steps).toHaveLength(side.steps);
    const golden = await readGolden(side.file);
    const text = await readGolden(side.forward_file);
    const inputs: RunInputs = { ...goldenInputs(text), noise: tensor(golden, "input.latent") };
    const predictions: Float64Array[] = [];
    const latents: Float64Array[] = [];
    const result = runPlan(plan, goldenWeightsFloat64(forward.weights.seed, plan.weights), inputs, {
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
