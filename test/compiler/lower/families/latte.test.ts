/**
 * Original Latte lowering (models.md §3.1): the op sequence of a spatial and of a temporal DiT block with their
 * own adaLN-Zero rows from SiLU(t + y), the alternating `blocks.i` list (even spatial, odd temporal), the
 * temporal table added to the residual stream once between s0 and t0, the per-frame Conv2d patch weight and the
 * [B, C, T, H, W] latent, labels with the null class 101, the unconditional checkpoint, every checkpoint tensor
 * of the shipped UCF101 pipeline read once, and DSP 2 (two all-to-alls per temporal block, none elsewhere, the
 * rank's run of the temporal table), with no buffer left dangling.
 */
import { describe, expect, it } from "vitest";
import { latte } from "../../../../compiler/models/latte.js";
import type { Plan } from "../../../../compiler/plan/types.js";
import { blockOps, CLEAN, dangling, lowerFile, lowerText, shapeOf, weightReads } from "./plan-checks.js";

/** The tiny Latte (D 64, 4 heads, 2 spatial + 2 temporal blocks) at 4 frames of 64x64 (latent 8x8, grid 4x4). */
function tinyYaml(extra: { variant?: string; conditioning?: string; layout?: string; guidance?: number } = {}): string {
  const conditioning = extra.conditioning ?? "conditioning: { labels: [3] }\n";
  return `version: 1
name: tiny-latte
model: { family: latte, variant: ${extra.variant ?? "latte-tiny"}, checkpoint: ckpts/tiny.safetensors }
${conditioning}video: { frames: 4, height: 64, width: 64 }
seed: 1
scheduler: { kind: iddpm, steps: 5, guidance: ${extra.guidance ?? 7.0} }
${extra.layout ? `parallel: { world: 2, layout: "${extra.layout}" }\n` : ""}vae: { kind: sd-vae-ft-ema, checkpoint: ckpts/vae.safetensors }
output: { dir: out, formats: [latents] }
`;
}

function lowerTiny(extra: Parameters<typeof tinyYaml>[0] = {}): Plan {
  return lowerText("tiny.yaml", tinyYaml(extra));
}

describe("Latte blocks", () => {
  const plan = lowerTiny();
  const D = 64;
  const n = 2; // the label and the null class
  const rows = n * 4 * 16;
  const blockOrder = ["linear", "layernorm_modulate", "linear", "self_attention", "linear", "gate", "add", "layernorm_modulate", "linear", "linear", "gate", "add"];

  it("runs a spatial block (an even entry of `blocks`) as adaLN-Zero rows, attention over each frame, and the MLP", () => {
    const ops = blockOps(plan, "spatial", 1);
    expect(ops.map((o) => o.op)).toEqual(blockOrder);
    expect(ops[0]).toMatchObject({ x: "c.silu", weight: "blocks.2.adaLN_modulation.1.weight", rows: n, inFeatures: D, outFeatures: 6 * D, out: "spatial.1.mod" });
    expect(ops[1]).toMatchObject({ x: "x", shift: { buffer: "spatial.1.mod", chunk: 0 }, scale: { buffer: "spatial.1.mod", chunk: 1 }, eps: 1e-6, rowsPerSample: rows / n });
    expect(ops[2]).toMatchObject({ x: (ops[1] as { out: string }).out, weight: "blocks.2.attn.qkv.weight", outFeatures: 3 * D });
    expect(ops[3]).toMatchObject({ batch: n * 4, seq: 16, heads: 4, headDim: 16, scale: 1 / 4 });
    expect(ops[4]).toMatchObject({ weight: "blocks.2.attn.proj.weight" });
    expect(ops[5]).toMatchObject({ gate: { buffer: "spatial.1.mod", chunk: 2 } });
    expect(ops[7]).toMatchObject({ shift: { chunk: 3 }, scale: { chunk: 4 } });
    expect(ops[8]).toMatchObject({ weight: "blocks.2.mlp.fc1.weight", activation: "gelu_tanh" });
    expect(ops[9]).toMatchObject({ weight: "blocks.2.mlp.fc2.weight" });
    expect(ops[10]).toMatchObject({ gate: { chunk: 5 } });
    expect(ops.some((o) => o.op === "permute" || o.op === "cross_attention")).toBe(false);
  });

  it("runs a temporal block (an odd entry) with attention over the frames at each token", () => {
    const ops = blockOps(plan, "temporal", 1);
    expect(ops.map((o) => o.op)).toEqual([
      "linear",
      "layernorm_modulate",
      "permute",
      "linear",
      "self_attention",
      "linear",
      "permute",
      "gate",
      "add",
      "layernorm_modulate",
      "linear",
      "linear",
      "gate",
      "add",
    ]);
    expect(ops[0]).toMatchObject({ x: "c.silu", weight: "blocks.3.adaLN_modulation.1.weight", out: "temporal.1.mod" });
    expect(ops[2]).toMatchObject({ x: (ops[1] as { out: string }).out, dims: [n, 4, 16, D], perm: [0, 2, 1, 3] });
    expect(ops[3]).toMatchObject({ weight: "blocks.3.attn.qkv.weight" });
    expect(ops[4]).toMatchObject({ batch: n * 16, seq: 4, heads: 4, headDim: 16 });
    expect(ops[6]).toMatchObject({ dims: [n, 16, 4, D], perm: [0, 2, 1, 3] });
    expect(ops[10]).toMatchObject({ weight: "blocks.3.mlp.fc1.weight" });
  });

  it("alternates s0, t0, s1, t1 and adds the temporal table to the stream once, between s0 and t0", () => {
    const step = plan.program.step;
    const order: string[] = [];
    for (const o of step) {
      const key = o.blockKind === undefined ? undefined : `${o.blockKind[0]}${o.block}`;
      if (key && order[order.length - 1] !== key) order.push(key);
    }
    expect(order).toEqual(["s0", "t0", "s1", "t1"]);
    const adds = step.filter((o) => o.op === "add_rows" && o.table === "pos.temporal");
    expect(adds).toHaveLength(1);
    const at = adds[0]!.id;
    expect(Math.max(...blockOps(plan, "spatial", 0).map((o) => o.id))).toBeLessThan(at);
    expect(Math.min(...blockOps(plan, "temporal", 0).map((o) => o.id))).toBeGreaterThan(at);
    // Into the residual stream itself, frame by frame: each table row covers one frame's 16 tokens.
    expect(adds[0]).toMatchObject({ x: "x", out: "x", rows, width: D, period: 4, repeat: 16 });
    expect(plan.program.setup.find((o) => o.op === "sincos_1d")).toEqual(expect.objectContaining({ out: "pos.temporal", count: 4, first: 0, scale: 1, width: D }));
    expect(plan.program.setup.find((o) => o.op === "sincos_1d")).not.toHaveProperty("shard");
    // DiT's integer coordinates for the 2-D table.
    expect(plan.program.setup.find((o) => o.op === "sincos_2d")).toMatchObject({ rows: 4, cols: 4, rowScale: 1, colScale: 1 });
  });

  it("builds c = t + y from the labels and the null class, and one SiLU(c) that every adaLN Linear reads", () => {
    const step = plan.program.step;
    expect(step.find((o) => o.op === "embedding")).toMatchObject({ table: "y_embedder.embedding_table.weight", ids: "labels", count: n, width: D });
    expect(step.find((o) => o.op === "add" && o.out === "c")).toMatchObject({ a: "t.emb", b: "y.emb" });
    expect(step.filter((o) => o.op === "silu")).toEqual([expect.objectContaining({ x: "c", out: "c.silu" })]);
    const conditioned = step.filter((o) => o.op === "linear" && o.x === "c.silu").map((o) => (o as { weight: string }).weight);
    expect(conditioned).toEqual([0, 1, 2, 3].map((i) => `blocks.${i}.adaLN_modulation.1.weight`).concat("final_layer.adaLN_modulation.1.weight"));
    expect(plan.inputs.filter((i) => i.buffer === "labels")).toEqual([
      { buffer: "labels", rows: { first: 0, count: 1 }, source: "labels" },
      { buffer: "labels", rows: { first: 1, count: 1 }, source: "null-labels" },
    ]);
  });

  it("ends with DiT's final layer, shift then scale, and guides all 4 eps channels keeping the learned variance", () => {
    const step = plan.program.step;
    const tail = step.slice(step.findIndex((o) => o.op === "linear" && o.weight === "final_layer.adaLN_modulation.1.weight"));
    expect(tail.map((o) => o.op)).toEqual(["linear", "layernorm_modulate", "linear", "unpatchify", "guidance", "solver_update"]);
    expect(tail[0]).toMatchObject({ outFeatures: 2 * D, out: "final.mod" });
    expect(tail[1]).toMatchObject({ shift: { buffer: "final.mod", chunk: 0 }, scale: { buffer: "final.mod", chunk: 1 } });
    expect(tail[2]).toMatchObject({ weight: "final_layer.linear.weight", outFeatures: 2 * 2 * 8 });
    expect(tail[4]).toMatchObject({ mixed: 4, predictionChannels: 4, channels: 8, variance: "cond", scale: 7 });
    expect(tail[5]).toMatchObject({ solver: "ddpm", learnedVariance: true });
  });

  it("keeps the shared [B, C, T, H, W] latent and reads the per-frame Conv2d patch weight", () => {
    expect(shapeOf(plan, "latent")).toEqual([1, 4, 4, 8, 8]);
    expect(shapeOf(plan, "x")).toEqual([rows, D]);
    expect(shapeOf(plan, "spatial.0.mod")).toEqual([n, 6, D]);
    expect(shapeOf(plan, "final.mod")).toEqual([n, 2, D]);
    expect(shapeOf(plan, "pos.temporal")).toEqual([4, D]);
    expect(shapeOf(plan, "model.out")).toEqual([n, 8, 4, 8, 8]);
    expect(plan.weights.find((w) => w.name === "x_embedder.proj.weight")?.shape).toEqual([D, 4, 2, 2]);
    expect(plan.program.step.find((o) => o.op === "patch_embed")).toMatchObject({ patch: { t: 1, h: 2, w: 2 }, grid: { frames: 4, rows: 4, cols: 4 } });
  });

  it("leaves no buffer dangling", () => {
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("Latte conditioning", () => {
  it("runs an unconditional checkpoint on c = t alone, with no labels and no guidance", () => {
    const plan = lowerTiny({ variant: "Latte-XL/2-uncond", conditioning: "", guidance: 1 });
    expect(plan.buffers.some((b) => b.name === "labels")).toBe(false);
    expect(plan.program.step.some((o) => o.op === "embedding" || o.op === "guidance")).toBe(false);
    expect(plan.program.step.find((o) => o.op === "silu")).toMatchObject({ x: "t.emb", out: "c.silu" });
    expect(plan.weights.some((w) => w.name.startsWith("y_embedder"))).toBe(false);
    expect(dangling(plan)).toEqual(CLEAN);
  });

  it("gives a class checkpoint run without labels the null class", () => {
    const plan = lowerTiny({ conditioning: "", guidance: 1 });
    expect(plan.inputs.filter((i) => i.buffer === "labels")).toEqual([{ buffer: "labels", rows: { first: 0, count: 1 }, source: "null-labels" }]);
    expect(plan.geometry.batch).toBe(1);
  });

  it("puts the null class on the other rank under CFG parallel", () => {
    const plan = lowerTiny({ layout: "cfg 2" });
    expect(plan.inputs.filter((i) => i.buffer === "labels")).toEqual([
      { buffer: "labels", rows: { first: 0, count: 1 }, source: "labels", cfgRank: 0 },
      { buffer: "labels", rows: { first: 0, count: 1 }, source: "null-labels", cfgRank: 1 },
    ]);
  });
});

describe("the shipped Latte UCF101 pipeline", () => {
  const plan = lowerFile("pipelines/latte-ucf101.yaml");

  it("reads every checkpoint tensor exactly once, 14 + 14 blocks from one alternating list", () => {
    const reads = weightReads(plan);
    const table = latte.weights(plan.model.hyper).map((w) => w.name);
    expect(table.filter((name) => reads.get(name) !== 1)).toEqual([]);
    expect([...reads.keys()].sort()).toEqual([...table].sort());
    for (const skipped of latte.skippedTensors ?? []) expect(reads.has(skipped)).toBe(false);
    expect(plan.weights.find((w) => w.name === "y_embedder.embedding_table.weight")?.shape).toEqual([102, 1152]);
    expect(plan.program.step.filter((o) => o.op === "self_attention" && o.blockKind === "spatial")).toHaveLength(14);
    expect(plan.program.step.filter((o) => o.op === "self_attention" && o.blockKind === "temporal")).toHaveLength(14);
  });

  it("runs 2 labels with their null classes through 250 IDDPM steps on 16 x 16x16 tokens", () => {
    expect(plan.geometry).toMatchObject({ latent: { channels: 4, frames: 16, height: 32, width: 32 }, tokens: { frames: 16, rows: 16, cols: 16 }, samples: 2, batch: 4 });
    expect(plan.steps).toHaveLength(250);
    expect(plan.schedule.guidance).toEqual({ scale: 7, mixed: 4, variance: "cond" });
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("Latte under DSP 2", () => {
  const plan = lowerTiny({ layout: "dsp 2" });
  const D = 64;
  const n = 2;

  it("switches shards with exactly two all-to-alls per temporal block and none in spatial blocks", () => {
    for (const index of [0, 1]) {
      const temporal = blockOps(plan, "temporal", index).filter((o) => o.op === "all_to_all");
      expect(temporal).toEqual([
        expect.objectContaining({ axis: "dsp", dims: [n, 2, 16, D], scatter: 2, gather: 1 }),
        expect.objectContaining({ axis: "dsp", dims: [n, 4, 8, D], scatter: 1, gather: 2 }),
      ]);
      expect(blockOps(plan, "spatial", index).some((o) => o.op === "all_to_all" || o.op === "all_gather")).toBe(false);
    }
    const collectives = plan.program.step.filter((o) => o.op === "all_to_all" || o.op === "all_gather");
    expect(collectives.filter((o) => o.blockKind === undefined)).toEqual([expect.objectContaining({ op: "all_gather", axis: "dsp", dims: [n, 2, 16, 32], dim: 1 })]);
  });

  it("adds the rank's run of the temporal table to its frames", () => {
    expect(plan.program.setup.find((o) => o.op === "sincos_1d")).toMatchObject({ count: 4, first: 0, scale: 1, shard: { axis: "dsp", parts: 2 } });
    expect(shapeOf(plan, "pos.temporal")).toEqual([2, D]);
    expect(plan.program.step.find((o) => o.op === "add_rows" && o.table === "pos.temporal")).toMatchObject({ rows: n * 2 * 16, period: 2, repeat: 16 });
    expect(dangling(plan)).toEqual(CLEAN);
  });
});
