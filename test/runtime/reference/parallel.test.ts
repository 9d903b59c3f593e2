/**
 * Every exact parallel method against one rank (runtime/reference/ranks.ts): a tiny model of a family with seeded
 * weights (the goldens' rules, test/helpers/golden-weights.ts) and fixed inputs is compiled once without a
 * `parallel` section and once with only `parallel` added; the one-rank plan runs through runPlan and the parallel
 * plan through runRanks, every rank of it, for a few guided steps. Every rank's final latent must equal the
 * one-rank latent of its samples (all of them, or its data-parallel part) to 1e-10: the layouts move and mask
 * data but compute the same model. Also: the collectives on hand-made data, and the PipeFusion refusal.
 */
import { describe, expect, it } from "vitest";
import type { Op } from "../../../compiler/plan/ops.js";
import type { Plan } from "../../../compiler/plan/types.js";
import { runAllGather } from "../../../runtime/reference/collectives/all-gather.js";
import { runAllToAll } from "../../../runtime/reference/collectives/all-to-all.js";
import { runPlan } from "../../../runtime/reference/interpret.js";
import type { Memory } from "../../../runtime/reference/memory.js";
import { runRanks } from "../../../runtime/reference/ranks.js";
import { compiled, inputsOf, maxAbsError, weightsOf } from "./run-fixtures.js";

const TOLERANCE = 1e-10;

/** The tiny pipelines the layouts are added to: three guided steps each, latents only. */
const BASES = {
  /** STDiT 1.0: 4 frames, 4 x 3 tokens a frame. */
  stdit: `model: { family: stdit, variant: stdit-tiny, checkpoint: w.safetensors, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
video: { frames: 4, height: 64, width: 48 }
scheduler: { kind: ddim, steps: 3, guidance: 7 }`,
  /** STDiT 1.0, odd sizes: 3 frames, 3 x 3 tokens a frame. */
  "stdit-odd": `model: { family: stdit, variant: stdit-tiny, checkpoint: w.safetensors, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
video: { frames: 3, height: 48, width: 48 }
scheduler: { kind: ddim, steps: 3, guidance: 7 }`,
  /** STDiT 1.0 with two prompts (T5-sized caption features), for data parallel. */
  "stdit-two": `model: { family: stdit, hyper: { hidden: 32, depth: 1, heads: 2, caption_channels: 4096, text_tokens: 4 }, checkpoint: w.safetensors, dtype: fp32 }
conditioning: { prompts: [a, b], text_encoder: t5-v1_1-xxl }
video: { frames: 4, height: 32, width: 32 }
scheduler: { kind: ddim, steps: 3, guidance: 7 }`,
  /** STDiT 1.2 (rotary temporal attention, q/k norms, rectified flow): 10 latent frames, 3 x 4 tokens. */
  stdit3: `model: { family: stdit3, variant: stdit3-tiny, checkpoint: w.safetensors, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
video: { frames: 34, height: 40, width: 56, fps: 24 }
scheduler: { kind: rflow, steps: 3, guidance: 7 }`,
  /** STDiT 1.2, odd sizes: 5 latent frames, 3 x 3 tokens. */
  "stdit3-odd": `model: { family: stdit3, variant: stdit3-tiny, checkpoint: w.safetensors, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
video: { frames: 17, height: 40, width: 40, fps: 24 }
scheduler: { kind: rflow, steps: 3, guidance: 7 }`,
  /** PixArt-α: 4 x 3 tokens. */
  pixart: `model: { family: pixart, variant: pixart-tiny, checkpoint: w.safetensors, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
image: { height: 64, width: 48 }
scheduler: { kind: ddim, steps: 3, guidance: 4.5 }`,
  /** PixArt-α, odd: 3 x 3 tokens. */
  "pixart-odd": `model: { family: pixart, variant: pixart-tiny, checkpoint: w.safetensors, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
image: { height: 48, width: 48 }
scheduler: { kind: ddim, steps: 3, guidance: 4.5 }`,
  /** DiT, two labels: 4 x 3 tokens. */
  dit: `model: { family: dit, variant: dit-tiny, checkpoint: w.safetensors, dtype: fp32 }
conditioning: { labels: [3, 7] }
image: { height: 64, width: 48 }
scheduler: { kind: ddim, steps: 3, guidance: 4 }`,
} as const;

type Base = keyof typeof BASES;

function pipeline(base: Base, parallel?: string): string {
  const tail = parallel === undefined ? "" : `parallel: ${parallel}\n`;
  return `version: 1\nname: parallel-${base}\n${BASES[base]}\nseed: 0\nvae: { kind: none }\noutput: { dir: out, formats: [latents] }\n${tail}`;
}


/** The one-rank final latent of each base, computed once. */
const singles = new Map<Base, { plan: Plan; latent: Float64Array }>();
function single(base: Base): { plan: Plan; latent: Float64Array } {
  let s = singles.get(base);
  if (!s) {
    const plan = compiled(pipeline(base));
    const out = runPlan(plan, weightsOf(plan), inputsOf(plan)).outputs.get("latents");
    if (!(out instanceof Float64Array)) throw new Error("no latents output");
    s = { plan, latent: out };
    singles.set(base, s);
  }
  return s;
}

/** What each layout axis must put in the step program: the collective that does its exchange. */
const EXCHANGES: Readonly<Record<string, (op: Op) => boolean>> = {
  dp: () => true,
  cfg: (op) => op.op === "all_gather" && op.axis === "cfg",
  dsp: (op) => op.op === "all_to_all" && op.axis === "dsp",
  ulysses: (op) => op.op === "all_to_all" && op.axis === "ulysses",
  ring: (op) => op.op === "self_attention" && op.ring === "ring",
};

interface Case {
  readonly base: Base;
  readonly layout: string;
  /** The dimensions the layout pads (`pad: true`), in the plan's order. */
  readonly pad?: readonly ("frames" | "tokens")[];
}

const CASES: readonly Case[] = [
  ...(["stdit", "stdit3"] as const).flatMap((base) => [
    { base, layout: "cfg 2" },
    { base, layout: "dsp 2" },
    { base, layout: "dsp 4", ...(base === "stdit3" ? { pad: ["frames"] as const } : {}) },
    { base, layout: "ulysses 2" },
    { base, layout: "ulysses 4" },
    { base, layout: "ring 2" },
    { base, layout: "ring 4" },
    { base, layout: "ulysses 2 x ring 2" },
    { base, layout: "cfg 2 x dsp 2" },
  ]),
  { base: "stdit-two", layout: "dp 2" },
  { base: "stdit-two", layout: "dp 2 x cfg 2" },
  ...(["stdit-odd", "stdit3-odd"] as const).flatMap((base) => [
    { base, layout: "dsp 2", pad: ["frames", "tokens"] as const },
    { base, layout: "ulysses 2", pad: ["tokens"] as const },
    { base, layout: "ring 2", pad: ["tokens"] as const },
    { base, layout: "ulysses 2 x ring 2", pad: ["tokens"] as const },
  ]),
  { base: "pixart", layout: "cfg 2" },
  { base: "pixart", layout: "ulysses 2" },
  { base: "pixart", layout: "ulysses 4" },
  { base: "pixart", layout: "ring 4" },
  { base: "pixart", layout: "ulysses 2 x ring 2" },
  { base: "pixart", layout: "cfg 2 x ring 2" },
  { base: "pixart-odd", layout: "ulysses 2", pad: ["tokens"] },
  { base: "pixart-odd", layout: "ring 2", pad: ["tokens"] },
  { base: "dit", layout: "dp 2" },
  { base: "dit", layout: "dp 2 x cfg 2" },
  { base: "dit", layout: "ring 2" },
];


describe.each(CASES)("$base, $layout", ({ base, layout, pad }) => {
  it("gives every rank the one-rank latent of its samples", () => {
    const terms = layout.split(" x ").map((t) => t.split(" ") as [string, string]);
    const world = terms.reduce((w, [, d]) => w * Number(d), 1);
    const one = single(base);
    const plan = compiled(pipeline(base, `{ world: ${world}, layout: "${layout}"${pad ? ", pad: true" : ""} }`));
    expect(plan.mesh.world).toBe(world);
    for (const [axis] of terms) expect(plan.program.step.some(EXCHANGES[axis]!), `${layout}: the ${axis} exchange`).toBe(true);
    expect(plan.padding?.map((p) => p.dim) ?? []).toEqual(pad ?? []);

    const { outputs, memories } = runRanks(plan, weightsOf(plan), inputsOf(plan));
    const dp = plan.mesh.axes.find((a) => a.name === "dp")?.degree ?? 1;
    const part = one.latent.length / dp;
    expect(outputs).toHaveLength(world);
    outputs.forEach((out, r) => {
      const latent = out.get("latents");
      if (!latent) throw new Error(`rank ${r} has no latents output`);
      const d = memories[r]!.rank.coords["dp"] ?? 0;
      const e = maxAbsError(latent, one.latent.subarray(d * part, (d + 1) * part));
      expect(e, `${base} ${layout}: rank ${r} (dp ${d}) max abs error ${e}`).toBeLessThanOrEqual(TOLERANCE);
    });
  });
});

/** A memory holding only the given buffers, for a collective on hand-made data. */
function memoryOf(plan: Plan, buffers: Record<string, number[]>): Memory {
  return {
    plan,
    rank: { coords: {} },
    buffers: new Map(Object.entries(buffers).map(([k, v]) => [k, Float64Array.from(v)])),
    weights: new Map(),
    step: 0,
  };
}

describe("the collectives on hand-made data", () => {
  const plan = single("dit").plan;

  it("all_to_all sends part i of the scatter dimension to rank i and concatenates what arrives along gather", () => {
    // Each rank: [1, 2, 1, 4] (2 rows of 4); scatter the columns (dim 3), gather the rows (dim 1).
    const a = memoryOf(plan, { x: [0, 1, 2, 3, 4, 5, 6, 7], y: new Array<number>(8).fill(-1) });
    const b = memoryOf(plan, { x: [10, 11, 12, 13, 14, 15, 16, 17], y: new Array<number>(8).fill(-1) });
    runAllToAll({ op: "all_to_all", id: 0, axis: "ulysses", x: "x", out: "y", dims: [1, 2, 1, 4], scatter: 3, gather: 1 }, [a, b]);
    expect([...a.buffers.get("y")!]).toEqual([0, 1, 4, 5, 10, 11, 14, 15]);
    expect([...b.buffers.get("y")!]).toEqual([2, 3, 6, 7, 12, 13, 16, 17]);
  });

  it("all_gather concatenates the ranks' views along its dimension in group order", () => {
    const a = memoryOf(plan, { x: [0, 1, 2, 3], y: new Array<number>(8).fill(-1) });
    const b = memoryOf(plan, { x: [4, 5, 6, 7], y: new Array<number>(8).fill(-1) });
    runAllGather({ op: "all_gather", id: 0, axis: "cfg", x: "x", out: "y", dims: [2, 1, 2, 1], dim: 1 }, [a, b]);
    expect([...a.buffers.get("y")!]).toEqual([0, 1, 4, 5, 2, 3, 6, 7]);
    expect([...b.buffers.get("y")!]).toEqual([...a.buffers.get("y")!]);
  });
});

describe("runRanks", () => {
  it("refuses a PipeFusion plan before running anything, naming an op", () => {
    const plan = compiled(pipeline("stdit3", `{ world: 2, layout: "pipefusion 2", pipefusion: { patches: 3, warmup: 1 } }`));
    expect(() => runRanks(plan, new Map(), {})).toThrow(/is a PipeFusion plan \(op \d+ \(.*\)\); the all-ranks reference runs ranks in lockstep/);
  });
});
