/**
 * PAB and MLP broadcast in the plan of pipelines/opensora-dsp-pab.yaml (dsp 8): every op of a reused branch
 * carries its attention kind (the DSP all-to-alls around temporal attention included), the residual adds that
 * always run read the branches' results from cache buffers, and what PAB costs and saves shows in the plan:
 * the arena grows by the caches, and a reuse step skips the branches' FLOPs and, with temporal reuse, all of
 * DSP's all-to-alls.
 */
import { describe, expect, it } from "vitest";
import { opBuffers } from "../../../compiler/plan/op-buffers.js";
import type { Op } from "../../../compiler/plan/ops.js";
import type { Plan } from "../../../compiler/plan/types.js";
import { verifyPlan } from "../../../compiler/plan/verify.js";
import { derivedPipeline, lowerText, opsOf, repoText } from "./lowered.js";

const plan = lowerText("pipelines/opensora-dsp-pab.yaml", repoText("pipelines/opensora-dsp-pab.yaml"));
/** The same pipeline without acceleration. */
const plain = lowerText("plain.yaml", derivedPipeline("opensora-dsp-pab.yaml", {}));

const DEPTH = 28;
const MLP_BLOCKS = [0, 1, 2, 3, 4];

/** Which broadcast skips an op: its attention kind, or `mlp:<block>`. */
function unitOf(op: Op): string | undefined {
  return op.pab ?? (op.mlp ? `mlp:${op.block}` : undefined);
}

/** Ops a pattern runs: those whose attention kind it does not reuse, nor the MLP of their block. */
function runs(p: Plan["patterns"][number], op: Op): boolean {
  if (op.pab && p.reuse.includes(op.pab)) return false;
  return !(op.mlp && p.mlpReuse.includes(`${op.blockKind}:${op.block}`));
}

describe("PAB in the plan of opensora-dsp-pab.yaml", () => {
  const step = plan.program.step;
  const byName = new Map(plan.buffers.map((b) => [b.name, b]));

  it("is sound", () => {
    expect(verifyPlan(plan)).toEqual([]);
    expect(verifyPlan(plain)).toEqual([]);
  });

  it("tags every attention with its kind, and the all-to-alls with temporal attention", () => {
    const T = plan.geometry.tokens.frames;
    const attention = opsOf(step, "self_attention");
    expect(attention).toHaveLength(2 * DEPTH);
    expect(attention.map((o) => o.pab)).toEqual(attention.map((o) => (o.seq === T ? "temporal" : "spatial")));
    expect(opsOf(step, "cross_attention").map((o) => o.pab)).toEqual(Array(DEPTH).fill("cross"));
    const toAll = opsOf(step, "all_to_all");
    expect(toAll).toHaveLength(2 * DEPTH);
    expect(toAll.every((o) => o.pab === "temporal")).toBe(true);
  });

  it("never skips a residual add, the final layer or the sampler", () => {
    const always = step.filter((o) => o.block === undefined || (o.op === "add" && o.a === o.out));
    expect(always.length).toBeGreaterThan(DEPTH * 4);
    expect(always.filter((o) => unitOf(o) !== undefined)).toEqual([]);
  });

  it("tags the MLPs of blocks 0-4 only, four ops each", () => {
    const mlp = step.filter((o) => o.mlp);
    expect([...new Set(mlp.map((o) => o.block))]).toEqual(MLP_BLOCKS);
    expect(mlp.map((o) => o.op)).toEqual(MLP_BLOCKS.flatMap(() => ["layernorm_modulate", "linear", "linear", "gate"]));
  });

  it("hands every skipped branch's result to the ops that always run through a cache of its own", () => {
    const writer = new Map<string, Op>();
    const handed = new Map<string, string>();
    for (const op of step) {
      for (const name of opBuffers(op).reads) {
        const from = writer.get(name);
        const unit = from && unitOf(from);
        if (unit && unit !== unitOf(op)) handed.set(name, unit);
      }
      for (const name of opBuffers(op).writes) writer.set(name, op);
    }
    const caches = plan.buffers.filter((b) => b.role === "cache").map((b) => b.name);
    expect([...handed.keys()].sort()).toEqual([...caches].sort());
    expect(caches).toHaveLength(3 * DEPTH + MLP_BLOCKS.length);
    expect(countValues([...handed.values()])).toEqual({ spatial: DEPTH, temporal: DEPTH, cross: DEPTH, ...Object.fromEntries(MLP_BLOCKS.map((b) => [`mlp:${b}`, 1])) });
    for (const name of caches) {
      const readers = step.filter((o) => opBuffers(o).reads.includes(name));
      expect(readers.map((o) => [o.op, unitOf(o)])).toEqual([["add", undefined]]);
      expect(byName.get(name)!.live).toBeUndefined();
    }
  });

  it("costs the arena the caches' bytes, which the plan without PAB does not have", () => {
    expect(plain.buffers.filter((b) => b.role === "cache")).toEqual([]);
    expect(plain.program.step.filter((o) => unitOf(o) !== undefined)).toEqual([]);
    const cacheBytes = plan.buffers.filter((b) => b.role === "cache").reduce((sum, b) => sum + b.bytes, 0);
    // Each cache is the rank's residual stream, [batch · T/8 · S, D] in bf16 under dsp 8.
    const { tokens, batch } = plan.geometry;
    const rows = batch * (tokens.frames / 8) * tokens.rows * tokens.cols;
    expect(cacheBytes).toBe((3 * DEPTH + MLP_BLOCKS.length) * rows * plan.model.hyper.hidden * 2);
    const largestActivation = Math.max(...plain.buffers.filter((b) => b.role === "activation").map((b) => b.bytes));
    expect(plan.arenaBytes - plain.arenaBytes).toBeLessThanOrEqual(cacheBytes);
    expect(plan.arenaBytes - plain.arenaBytes).toBeGreaterThanOrEqual(cacheBytes - largestActivation);
  });

  it("skips the branches on reuse steps: temporal reuse leaves only the final gather to communicate", () => {
    const full = plan.patterns.find((p) => p.reuse.length === 0 && p.mlpReuse.length === 0)!;
    expect(full).toBeDefined();
    const fullCost = plan.cost.perPattern.find((c) => c.id === full.id)!;
    expect(plan.patterns.some((p) => p.reuse.length === 3)).toBe(true);
    expect(plan.patterns.some((p) => p.mlpReuse.length === MLP_BLOCKS.length)).toBe(true);
    for (const p of plan.patterns) {
      const collectives = step.filter((o) => (o.op === "all_to_all" || o.op === "all_gather") && runs(p, o));
      expect(collectives.length, `pattern ${p.id}`).toBe(p.reuse.includes("temporal") ? 1 : 2 * DEPTH + 1);
      const cost = plan.cost.perPattern.find((c) => c.id === p.id)!;
      if (p.id === full.id) continue;
      expect(cost.flops, `pattern ${p.id}`).toBeLessThan(fullCost.flops);
      if (p.reuse.includes("temporal")) expect(cost.commBytes).toBeLessThan(fullCost.commBytes);
      else expect(cost.commBytes).toBe(fullCost.commBytes);
    }
  });
});

function countValues(values: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
