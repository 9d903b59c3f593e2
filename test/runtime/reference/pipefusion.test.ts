/**
 * PipeFusion plans on all ranks (runtime/reference/pipeline.ts) against one rank: a tiny PixArt-α (4 blocks, a
 * 4 x 3 token grid, 4 guided DDIM steps, seeded weights and fixed inputs, run-fixtures.ts) compiled once without
 * `parallel` and once per PipeFusion layout with 2 row bands, run through runPlan and runPipeline.
 * - warmup = steps: every step is synchronous, the stages compute exactly the one-rank model, so the last
 *   stage's final latent equals the one-rank latent to 1e-10 (measured: 0, the same operations in the same order).
 * - warmup 1 of 4: the pipelined steps attend band 0's queries to band 1's K/V of the previous step (stale K/V),
 *   so PipeFusion is approximate by design. Measured on this model: max abs error 0.5170 against a latent whose
 *   largest value is 185.88, i.e. 2.78e-3 of it, the same for every layout (the stale rows depend on the bands,
 *   not on how blocks split into stages or on CFG ranks, which the test checks to 1e-10). The test pins it as
 *   > 0 (the K/V really is stale) and below 5e-2 of the latent's max, about 18 x the measured figure: wrong
 *   K/V rows (zeros, another band's offset, another block's buffer) change attention outputs by O(1) relative
 *   amounts and land far above that, while a different but legitimate order of float64 sums stays far below.
 * Also: self_attention through a K/V buffer on hand-made data (band by band, rotary positions at the band's
 * offset, equal to the whole-sequence op once the buffer is fresh), and a plan whose sends were removed
 * deadlocks with every rank's blocking op named.
 */
import { describe, expect, it } from "vitest";
import type { SelfAttentionOp } from "../../../compiler/plan/ops.js";
import type { Plan } from "../../../compiler/plan/types.js";
import type { Memory } from "../../../runtime/reference/memory.js";
import { runSelfAttention } from "../../../runtime/reference/ops/self-attention.js";
import { runPlan } from "../../../runtime/reference/interpret.js";
import { runPipeline } from "../../../runtime/reference/pipeline.js";
import { compiled, inputsOf, maxAbsError, weightsOf } from "./run-fixtures.js";

const STEPS = 4;
const EXACT = 1e-10;
/** The largest relative deviation (of the one-rank latent's max) warm-up 1 of 4 may show; measured 2.78e-3. */
const STALE_BOUND = 5e-2;

function pipeline(parallel?: string): string {
  return `version: 1
name: pipefusion-pixart
model: { family: pixart, hyper: { hidden: 64, depth: 4, heads: 4, patch: 2, caption_channels: 32, text_tokens: 8 }, checkpoint: w.safetensors, dtype: fp32 }
conditioning: { embeddings: t.safetensors }
image: { height: 64, width: 48 }
scheduler: { kind: ddim, steps: ${STEPS}, guidance: 4.5 }
seed: 0
vae: { kind: none }
output: { dir: out, formats: [latents] }
${parallel === undefined ? "" : `parallel: ${parallel}\n`}`;
}

function pipeFused(layout: string, warmup: number): Plan {
  const world = layout.split(" x ").reduce((w, term) => w * Number(term.split(" ")[1]), 1);
  return compiled(pipeline(`{ world: ${world}, layout: "${layout}", pipefusion: { patches: 2, warmup: ${warmup} } }`));
}

let oneRank: Float64Array | undefined;
/** The one-rank final latent, computed once. */
function single(): Float64Array {
  if (!oneRank) {
    const plan = compiled(pipeline());
    const out = runPlan(plan, weightsOf(plan), inputsOf(plan)).outputs.get("latents");
    if (!(out instanceof Float64Array)) throw new Error("no latents output");
    oneRank = out;
  }
  return oneRank;
}

/** The final latents of the ranks that hold one (the last stage's), by global rank. */
function finalLatents(plan: Plan): Map<number, Float64Array> {
  const { outputs, memories } = runPipeline(plan, weightsOf(plan), inputsOf(plan));
  const stages = plan.mesh.axes.find((a) => a.name === "pipefusion")?.degree ?? 1;
  const latents = new Map<number, Float64Array>();
  outputs.forEach((out, r) => {
    const latent = out.get("latents");
    const last = (memories[r]!.rank.coords["pipefusion"] ?? 0) === stages - 1;
    expect(latent !== undefined, `rank ${r}: a latents output exactly on the last stage`).toBe(last);
    if (latent instanceof Float64Array) latents.set(r, latent);
  });
  expect(latents.size).toBe(plan.mesh.world / stages);
  return latents;
}

const LAYOUTS = ["pipefusion 2", "pipefusion 4", "cfg 2 x pipefusion 2"] as const;

describe.each(LAYOUTS)("%s", (layout) => {
  it("with every step warm-up, gives the last stage the one-rank latent", () => {
    const plan = pipeFused(layout, STEPS);
    expect(plan.program.step.some((op) => op.op === "send")).toBe(true);
    for (const [r, latent] of finalLatents(plan)) {
      const e = maxAbsError(latent, single());
      expect(e, `${layout}: rank ${r} max abs error ${e}`).toBeLessThanOrEqual(EXACT);
    }
  });
});

describe("warm-up 1 of 4 steps (stale K/V)", () => {
  it("deviates from one rank by a small measured amount, the same for every layout", () => {
    const one = single();
    const peak = one.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    let first: Float64Array | undefined;
    for (const layout of LAYOUTS) {
      const plan = pipeFused(layout, 1);
      expect(plan.program.step.some((op) => op.op === "self_attention" && op.kvCache !== undefined && op.phase === "pipelined")).toBe(true);
      for (const [r, latent] of finalLatents(plan)) {
        const e = maxAbsError(latent, one);
        console.log(`PipeFusion ${layout}, warmup 1/${STEPS}, rank ${r}: max abs error ${e.toExponential(4)}, ${(e / peak).toExponential(4)} of the latent's max ${peak.toFixed(4)}`);
        expect(e).toBeGreaterThan(0);
        expect(e / peak).toBeLessThan(STALE_BOUND);
        first ??= latent;
        expect(maxAbsError(latent, first), `${layout}: rank ${r} against the first layout`).toBeLessThanOrEqual(EXACT);
      }
    }
  });
});

describe("self_attention with a K/V buffer", () => {
  it("writes the band's rows, attends to the whole buffer, and matches the whole-sequence op when fresh", () => {
    // One sequence of 4 tokens, 2 heads of 2, rotary: the whole op, then bands of 2 through a K/V buffer.
    const qkv = Float64Array.from({ length: 4 * 12 }, (_, i) => Math.sin(0.7 * i + 0.3));
    const band = (b: number) => qkv.slice(b * 2 * 12, (b + 1) * 2 * 12);
    const mem: Memory = {
      plan: compiled(pipeline()),
      rank: { coords: {} },
      buffers: new Map([["qkv", qkv], ["out", new Float64Array(16)], ["b0", band(0)], ["b1", band(1)], ["o", new Float64Array(8)], ["kv", new Float64Array(4 * 8)]]),
      weights: new Map(),
      step: 0,
    };
    const whole: SelfAttentionOp = { op: "self_attention", id: 0, qkv: "qkv", out: "out", batch: 1, seq: 4, heads: 2, headDim: 2, scale: 0.7, rope: { theta: 10 } };
    runSelfAttention(whole, mem);
    const expected = mem.buffers.get("out")!;
    const banded = (b: number): SelfAttentionOp => ({ ...whole, qkv: `b${b}`, out: "o", seq: 2, kvCache: { buffer: "kv", keys: 4, offset: 2 * b } });
    runSelfAttention(banded(0), mem);
    const stale = mem.buffers.get("o")!.slice();
    expect(maxAbsError(stale, expected.subarray(0, 8))).toBeGreaterThan(1e-3); // rows 2, 3 still zero
    runSelfAttention(banded(1), mem);
    expect(maxAbsError(mem.buffers.get("o")!, expected.subarray(8, 16))).toBeLessThanOrEqual(1e-15);
    runSelfAttention(banded(0), mem);
    expect(maxAbsError(mem.buffers.get("o")!, expected.subarray(0, 8))).toBeLessThanOrEqual(1e-15);
  });
});

describe("runPipeline", () => {
  it("reports a deadlock naming every rank's blocking op", () => {
    const plan = pipeFused("pipefusion 2", STEPS);
    const step = plan.program.step.filter((op) => !(op.op === "send" && !op.latentRing));
    const broken: Plan = { ...plan, program: { ...plan.program, step } };
    expect(() => runPipeline(broken, weightsOf(plan), inputsOf(plan))).toThrow(
      /PipeFusion deadlock: no rank can move\. rank 0 \(stage 0\) waits at step 1 op \d+ \(recv\) for a message from rank 1; rank 1 \(stage 1\) waits at step 0 op \d+ \(recv.*\) for a message from rank 0/,
    );
  });
});
