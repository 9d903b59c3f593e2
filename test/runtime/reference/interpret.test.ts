/**
 * The reference interpreter's core (runtime/reference/{interpret,dispatch,inputs}.ts): which inputs fill which
 * rows, which ops a step runs (PAB and MLP reuse, PipeFusion stage and phase), the step table's timesteps, the
 * checks before anything runs, and the one-rank limit. The numbers themselves are checked against the PyTorch
 * goldens in goldens.test.ts.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { compile } from "../../../compiler/compile.js";
import type { Op } from "../../../compiler/plan/ops.js";
import type { Plan, PlanPattern } from "../../../compiler/plan/types.js";
import { DecodeOpError, MultiRankOpError, RUNNERS, runOp, runsOnOneRank } from "../../../runtime/reference/dispatch.js";
import { neededInputs, type RunInputs } from "../../../runtime/reference/inputs.js";
import { opRuns, runPlan } from "../../../runtime/reference/interpret.js";
import { allocate, type Memory } from "../../../runtime/reference/memory.js";
import { goldenWeight, goldenWeightsFloat64 } from "../../helpers/golden-weights.js";

const here = dirname(fileURLToPath(import.meta.url));
const goldenDir = join(here, "../../fixtures/goldens");
const SEED = 20261121;

/** A golden's pipeline text (its tiny model, one or two samples, five DDIM steps). */
function pipelineOf(family: string): string {
  return (JSON.parse(readFileSync(join(goldenDir, `${family}.json`), "utf8")) as { pipeline: string }).pipeline;
}

function compiled(pipeline: string): Plan {
  const r = compile(pipeline, { fileExists: () => true });
  expect(r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`)).toEqual([]);
  if (!r.plan) throw new Error("no plan");
  return r.plan;
}

function weightsOf(plan: Plan): Map<string, Float64Array> {
  return goldenWeightsFloat64(SEED, plan.weights);
}

/** Deterministic values in (-2, 2), different for each `salt`. */
function values(count: number, salt: number): Float64Array {
  return Float64Array.from({ length: count }, (_, i) => 2 * Math.sin(12.9898 * (i + 1) + 78.233 * salt));
}

function size(plan: Plan, buffer: string): number {
  const b = plan.buffers.find((x) => x.name === buffer);
  if (!b) throw new Error(`no buffer ${buffer}`);
  return b.shape.reduce((a, d) => a * d, 1);
}

function buffer(mem: Memory, name: string): number[] {
  const b = mem.buffers.get(name);
  if (!b) throw new Error(`no buffer ${name}`);
  return [...b];
}

const dit = compiled(pipelineOf("dit"));
const ditNoise = values(size(dit, "latent"), 1);
const ditInputs: RunInputs = { noise: ditNoise, labels: [3, 7] };

describe("dispatch", () => {
  it("has a runner for every op kind, and only the ops between ranks and the VAE decode's refuse one rank", () => {
    const kinds = Object.keys(RUNNERS).sort();
    expect(kinds).toHaveLength(27);
    expect(kinds.filter((k) => !runsOnOneRank(k as Op["op"]))).toEqual(["all_gather", "all_to_all", "conv2d", "group_norm", "recv", "send", "upsample_nearest"]);
  });

  it("says that the VAE decode's ops run in the native runtime only, naming the op", () => {
    const mem = allocate(dit, weightsOf(dit), { coords: {} });
    const conv: Op = { op: "conv2d", id: 4, x: "a", weight: "w", out: "b", frames: 1, height: 2, width: 2, inChannels: 4, outChannels: 4, kernel: 3 };
    expect(() => runOp(conv, mem)).toThrow(DecodeOpError);
    expect(() => runOp(conv, mem)).toThrow(/^op 4 \(conv2d\) belongs to the VAE decode \(plan\.decode\), which the native runtime runs/);
    const norm: Op = { op: "group_norm", id: 7, x: "a", weight: "w", bias: "b", out: "c", frames: 1, height: 2, width: 2, channels: 32, groups: 32, eps: 1e-6, silu: true };
    expect(() => runOp(norm, mem)).toThrow(/op 7 \(group_norm\) belongs to the VAE decode/);
  });

  it("names the op that needs other ranks", () => {
    const mem = allocate(dit, weightsOf(dit), { coords: {} });
    const gather: Op = { op: "all_gather", id: 57, axis: "cfg", x: "model.out", out: "model.out", dims: [1, 2, 8, 48], dim: 0 };
    expect(() => runOp(gather, mem)).toThrow(MultiRankOpError);
    expect(() => runOp(gather, mem)).toThrow(/op 57 \(all_gather\) moves data over the cfg group between ranks; the reference interpreter runs one rank/);
    const send: Op = { op: "send", id: 3, block: 1, blockKind: "spatial", axis: "pipefusion", peer: "next", x: "x", dims: [1, 1, 1, 1] };
    expect(() => runOp(send, mem)).toThrow(/op 3 \(send, spatial block 1\)/);
  });

  it("stops a CFG-parallel plan at its all-gather, naming it", () => {
    const plan = compiled(`${pipelineOf("dit")}parallel: { world: 2, layout: "cfg 2" }\n`);
    const gather = plan.program.step.find((op) => op.op === "all_gather");
    if (!gather) throw new Error("no all_gather");
    expect(() => runPlan(plan, weightsOf(plan), { noise: values(size(plan, "latent"), 1), labels: [3, 7] }, { steps: 1 })).toThrow(
      new RegExp(`op ${gather.id} \\(all_gather\\)`),
    );
  });
});

describe("inputs", () => {
  it("fill labels, the null class and the noise of a class-conditional plan", () => {
    const { memory } = runPlan(dit, weightsOf(dit), ditInputs, { steps: 0 });
    expect(buffer(memory, "labels")).toEqual([3, 7, 10, 10]);
    expect(buffer(memory, "latent")).toEqual([...ditNoise]);
    expect(neededInputs(dit)).toEqual(["labels", "noise"]);
  });

  it("fill the prompt rows and the stored null caption, with the prompt's mask on both", () => {
    const plan = compiled(pipelineOf("pixart"));
    const text = values(size(plan, "text") / 2, 2);
    const mask = [1, 1, 1, 0, 0, 0, 0, 0];
    const { memory } = runPlan(plan, weightsOf(plan), { noise: values(size(plan, "latent"), 1), text, textMask: mask }, { steps: 0 });
    const nullCaption = [...goldenWeight(SEED, "y_embedder.y_embedding", [8, 32])];
    expect(buffer(memory, "text")).toEqual([...text, ...nullCaption]);
    expect(buffer(memory, "text.mask")).toEqual([...mask, ...mask]);
    expect(neededInputs(plan)).toEqual(["noise", "text", "textMask"]);
  });

  it("fill the unconditional rows of a negative-prompt family from the negative prompt", () => {
    const plan = compiled(pipelineOf("latte-t2v"));
    const text = values(size(plan, "text") / 2, 2);
    const negativeText = values(size(plan, "text") / 2, 3);
    const { memory } = runPlan(plan, weightsOf(plan), { noise: values(size(plan, "latent"), 1), text, negativeText, textMask: [1, 1, 0, 0, 0, 0, 0, 0] }, { steps: 0 });
    expect(buffer(memory, "text")).toEqual([...text, ...negativeText]);
    expect(neededInputs(plan)).toEqual(["negativeText", "noise", "text", "textMask"]);
  });

  it("refuse missing or mis-sized values, naming the input", () => {
    const w = weightsOf(dit);
    expect(() => runPlan(dit, w, { noise: ditNoise }, { steps: 0 })).toThrow(/input labels of buffer labels .*no labels/);
    expect(() => runPlan(dit, w, { ...ditInputs, labels: [3] }, { steps: 0 })).toThrow(/labels holds 1 values, not 2 samples of 1/);
  });

  it("give a data-parallel rank its own samples, so it computes what one rank computes for them", () => {
    const plan = compiled(`${pipelineOf("dit")}parallel: { world: 2, layout: "dp 2" }\n`);
    const rank1 = runPlan(plan, weightsOf(plan), ditInputs, { rank: 1 });
    expect(buffer(rank1.memory, "labels")).toEqual([7, 10]);
    const whole = runPlan(dit, weightsOf(dit), ditInputs);
    const all = whole.outputs.get("latents");
    const mine = rank1.outputs.get("latents");
    if (!all || !mine) throw new Error("no latents");
    const second = all.slice(all.length / 2);
    expect(mine.length).toBe(second.length);
    mine.forEach((v, i) => expect(Math.abs(v - (second[i] ?? Number.NaN))).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(v))));
  });
});

describe("the step loop", () => {
  it("writes each step's timestep from the step table, or the override, before the step runs", () => {
    const seen: number[][] = [];
    runPlan(dit, weightsOf(dit), ditInputs, {
      afterOp: (op, mem, program) => {
        if (program === "step" && op.op === "timestep_embed") seen[mem.step] = buffer(mem, op.t);
      },
    });
    expect(seen).toEqual(dit.steps.map((s) => [s.schedule.timestep, s.schedule.timestep, s.schedule.timestep, s.schedule.timestep]));
    const fixed: number[][] = [];
    runPlan(dit, weightsOf(dit), { ...ditInputs, timestep: [5, 6, 7, 8] }, {
      steps: 2,
      afterOp: (op, mem, program) => {
        if (program === "step" && op.op === "timestep_embed") fixed[mem.step] = buffer(mem, op.t);
      },
    });
    expect(fixed).toEqual([[5, 6, 7, 8], [5, 6, 7, 8]]);
  });

  it("runs the setup program once, then every step op in order, and returns the outputs", () => {
    const ran: string[] = [];
    const result = runPlan(dit, weightsOf(dit), ditInputs, { steps: 2, afterOp: (op, mem, program) => ran.push(`${program}:${mem.step}:${op.id}`) });
    const expected = [
      ...dit.program.setup.map((op) => `setup:0:${op.id}`),
      ...[0, 1].flatMap((s) => dit.program.step.map((op) => `step:${s}:${op.id}`)),
    ];
    expect(ran).toEqual(expected);
    expect([...result.outputs.keys()]).toEqual(dit.outputs.map((o) => o.name));
    expect(result.outputs.get("latents")).not.toBe(result.memory.buffers.get("latent"));
    expect([...(result.outputs.get("latents") ?? [])]).toEqual(buffer(result.memory, "latent"));
  });

  it("refuses a step count the plan does not have, and weights that do not fit it", () => {
    const w = weightsOf(dit);
    expect(() => runPlan(dit, w, ditInputs, { steps: dit.steps.length + 1 })).toThrow(/cannot run 6 steps of a plan of 5/);
    const missing = new Map(w);
    missing.delete("blocks.1.attn.qkv.weight");
    expect(() => runPlan(dit, missing, ditInputs)).toThrow(/blocks\.1\.attn\.qkv\.weight is missing/);
    const short = new Map(w);
    short.set("x_embedder.proj.bias", new Float64Array(3));
    expect(() => runPlan(dit, short, ditInputs)).toThrow(/x_embedder\.proj\.bias holds 3 values, not 64/);
  });

  it("skips the ops of reused attention kinds and reused MLPs, whose caches keep the last computed value", () => {
    const pab = [
      'acceleration:',
      '  pab:',
      '    spatial: "every 2 in [100, 800]"',
      '    cross: "every 3 in [100, 800]"',
      '    mlp:',
      '      spatial: { steps: [3], blocks: [0], reuse: 2 }',
      '',
    ].join("\n");
    const plan = compiled(pipelineOf("latte-t2v").replace("steps: 5", "steps: 10") + pab);
    const patterns = plan.steps.map((s) => plan.patterns[s.pattern] as PlanPattern);
    expect(patterns.some((p) => p.reuse.length > 0)).toBe(true);
    expect(patterns.some((p) => p.mlpReuse.length > 0)).toBe(true);
    const half = size(plan, "text") / 2;
    const inputs: RunInputs = { noise: values(size(plan, "latent"), 1), text: values(half, 2), negativeText: values(half, 3), textMask: [1, 1, 1, 1, 0, 0, 0, 0] };
    const skippable = plan.program.step.filter((op) => op.pab !== undefined || op.mlp === true);
    const caches = plan.buffers.filter((b) => b.role === "cache").map((b) => b.name);
    expect(caches.length).toBeGreaterThan(0);
    const ran: Set<number>[] = plan.steps.map(() => new Set<number>());
    const after: Map<string, number[]>[] = [];
    runPlan(plan, weightsOf(plan), inputs, {
      afterOp: (op, mem, program) => {
        if (program !== "step") return;
        ran[mem.step]?.add(op.id);
        if (op.op === "solver_update") after[mem.step] = new Map(caches.map((c) => [c, buffer(mem, c)]));
      },
    });
    let kept = 0;
    plan.steps.forEach((_step, i) => {
      const p = patterns[i] as PlanPattern;
      for (const op of plan.program.step) {
        const reused = (op.pab !== undefined && p.reuse.includes(op.pab)) || (op.mlp === true && p.mlpReuse.includes(`${op.blockKind}:${op.block}`));
        expect(ran[i]?.has(op.id), `step ${i} ${op.op} ${op.id}`).toBe(!reused);
      }
      if (i === 0) return;
      for (const op of skippable) {
        const reused = (op.pab !== undefined && p.reuse.includes(op.pab)) || (op.mlp === true && p.mlpReuse.includes(`${op.blockKind}:${op.block}`));
        if (!reused || !("out" in op) || !caches.includes(op.out)) continue;
        expect(after[i]?.get(op.out), `step ${i} ${op.out}`).toEqual(after[i - 1]?.get(op.out));
        kept++;
      }
    });
    expect(kept).toBeGreaterThan(0);
  });
});

describe("opRuns", () => {
  const pattern = (phase?: "warmup" | "pipelined"): PlanPattern => ({ id: 0, reuse: ["temporal"], mlpReuse: ["spatial:2"], mlpKeep: [], steps: 1, ...(phase ? { phase } : {}) });
  const rank0 = { coords: { pipefusion: 0 } };
  const op = (extra: Partial<Op>): Op => ({ op: "silu", id: 1, x: "a", out: "b", count: 1, ...extra }) as Op;

  it("runs an op of another pipeline stage only on that stage's ranks", () => {
    expect(opRuns(op({ stage: 0 }), pattern(), rank0)).toBe(true);
    expect(opRuns(op({ stage: 1 }), pattern(), rank0)).toBe(false);
    expect(opRuns(op({ stage: 1 }), pattern(), { coords: { pipefusion: 1 } })).toBe(true);
    expect(opRuns(op({ stage: 1 }), null, rank0)).toBe(false);
  });

  it("runs a phased op only on steps of its phase, and skips reused kinds and MLPs", () => {
    expect(opRuns(op({ phase: "warmup" }), pattern("warmup"), rank0)).toBe(true);
    expect(opRuns(op({ phase: "warmup" }), pattern("pipelined"), rank0)).toBe(false);
    expect(opRuns(op({}), pattern("pipelined"), rank0)).toBe(true);
    expect(opRuns(op({ pab: "temporal" }), pattern(), rank0)).toBe(false);
    expect(opRuns(op({ pab: "spatial" }), pattern(), rank0)).toBe(true);
    expect(opRuns(op({ mlp: true, block: 2, blockKind: "spatial" }), pattern(), rank0)).toBe(false);
    expect(opRuns(op({ mlp: true, block: 2, blockKind: "temporal" }), pattern(), rank0)).toBe(true);
  });
});
