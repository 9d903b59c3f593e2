/**
 * DiT lowering (models.md §1): the class condition c = t_embedder(t) + embedding_table[label] and its label
 * inputs, one block as adaLN-Zero rows (its own Linear on SiLU(c), no table) around attention and the MLP, the
 * DiT final layer (shift first), integer sin-cos coordinates, the main buffer shapes, every checkpoint tensor
 * read once, guidance over 3 channels keeping the conditional learned variance on the IDDPM path (all 4 and the
 * variance dropped under DPM-Solver), `dp 2 x cfg 2` from the shipped pipeline, PAB caches, and no dangling
 * buffer in any of these plans.
 */
import { describe, expect, it } from "vitest";
import { dit } from "../../../../compiler/models/dit.js";
import type { Plan } from "../../../../compiler/plan/types.js";
import { CLEAN, dangling, label, lowerFile, lowerText, shapeOf, weightReads } from "./plan-checks.js";

/** dit-tiny (D 64, 4 heads, 2 blocks, 10 classes) at 64x64: latent 8x8, a 4x4 token grid, two labels. */
function lowerTiny(extra: { scheduler?: string; acceleration?: string } = {}): Plan {
  const yaml = `version: 1
name: tiny-dit
model: { family: dit, variant: dit-tiny, checkpoint: ckpts/tiny.safetensors, dtype: fp32 }
conditioning: { labels: [1, 7] }
image: { height: 64, width: 64 }
seed: 5
scheduler: ${extra.scheduler ?? "{ kind: iddpm, steps: 10, guidance: 4.0 }"}
${extra.acceleration ?? ""}vae: { kind: sd-vae-ft-mse, checkpoint: ckpts/vae.safetensors }
output: { dir: out, formats: [latents] }
`;
  return lowerText("tiny.yaml", yaml);
}

describe("DiT blocks", () => {
  const plan = lowerTiny();
  const { D, heads, headDim } = { D: 64, heads: 4, headDim: 16 };
  const n = 4; // two labels, then their null-class halves
  const rows = n * 16;

  it("runs a block as its own adaLN-Zero Linear on SiLU(c), then the gated attention and MLP branches", () => {
    const ops = plan.program.step.filter((o) => o.block === 1);
    expect(ops.map(label)).toEqual([
      "linear blocks.1.adaLN_modulation.1.weight",
      "layernorm_modulate",
      "linear blocks.1.attn.qkv.weight",
      "self_attention",
      "linear blocks.1.attn.proj.weight",
      "gate",
      "add",
      "layernorm_modulate",
      "linear blocks.1.mlp.fc1.weight",
      "linear blocks.1.mlp.fc2.weight",
      "gate",
      "add",
    ]);
    // The Linear's [n, 6D] output is the modulation buffer: no scale_shift_table, no modulation op.
    expect(ops[0]).toMatchObject({ x: "c.silu", out: "spatial.1.mod", rows: n, inFeatures: D, outFeatures: 6 * D, bias: "blocks.1.adaLN_modulation.1.bias" });
    expect(ops[1]).toMatchObject({ x: "x", shift: { buffer: "spatial.1.mod", chunk: 0 }, scale: { buffer: "spatial.1.mod", chunk: 1 }, eps: 1e-6 });
    expect(ops[2]).toMatchObject({ x: (ops[1] as { out: string }).out, outFeatures: 3 * D });
    expect(ops[3]).toMatchObject({ batch: n, seq: 16, heads, headDim, scale: 1 / Math.sqrt(headDim) });
    expect(ops[3]).not.toHaveProperty("ring");
    expect(ops[5]).toMatchObject({ gate: { buffer: "spatial.1.mod", chunk: 2 }, rowsPerSample: 16 });
    expect(ops[7]).toMatchObject({ shift: { chunk: 3 }, scale: { chunk: 4 } });
    expect(ops[8]).toMatchObject({ activation: "gelu_tanh", outFeatures: 4 * D });
    expect(ops[10]).toMatchObject({ gate: { chunk: 5 } });
    expect(plan.program.step.some((o) => o.op === "modulation" || o.op === "cross_attention")).toBe(false);
  });

  it("builds c = t_embedder(t) + embedding_table[labels] once, and SiLU(c) for every adaLN Linear", () => {
    const step = plan.program.step;
    const head = step.slice(0, step.findIndex((o) => o.block === 0));
    expect(head.map(label)).toEqual([
      "patch_embed",
      "add_rows",
      "timestep_embed",
      "linear t_embedder.mlp.0.weight",
      "linear t_embedder.mlp.2.weight",
      "embedding",
      "add",
      "silu",
    ]);
    expect(head[1]).toMatchObject({ table: "pos.spatial", period: 16 });
    expect(head[5]).toMatchObject({ table: "y_embedder.embedding_table.weight", ids: "labels", out: "y.emb", count: n, width: D });
    expect(head[6]).toMatchObject({ a: "t.emb", b: "y.emb", out: "c", count: n * D });
    expect(head[7]).toMatchObject({ x: "c", out: "c.silu" });
    expect(step.filter((o) => o.op === "linear" && o.x === "c.silu")).toHaveLength(3); // two blocks and the final layer
    // get_2d_sincos_pos_embed with integer coordinates.
    expect(plan.program.setup).toEqual([expect.objectContaining({ op: "sincos_2d", rows: 4, cols: 4, rowScale: 1, colScale: 1, width: D })]);
  });

  it("ends with the DiT final layer: shift then scale from Linear(SiLU(c)), LN-modulate, linear", () => {
    const step = plan.program.step;
    const at = step.findIndex((o) => o.op === "linear" && o.weight === "final_layer.adaLN_modulation.1.weight");
    expect(step.slice(at).map(label)).toEqual([
      "linear final_layer.adaLN_modulation.1.weight",
      "layernorm_modulate",
      "linear final_layer.linear.weight",
      "unpatchify",
      "guidance",
      "solver_update",
    ]);
    expect(step[at]).toMatchObject({ x: "c.silu", out: "final.mod", outFeatures: 2 * D });
    expect(step[at + 1]).toMatchObject({ x: "x", shift: { buffer: "final.mod", chunk: 0 }, scale: { buffer: "final.mod", chunk: 1 } });
    expect(step[at + 2]).toMatchObject({ outFeatures: 2 * 2 * 8 });
  });

  it("declares the stream, the labels and the modulation buffers with their shapes", () => {
    const buffer = (name: string) => plan.buffers.find((b) => b.name === name);
    expect(buffer("x")?.shape).toEqual([rows, D]);
    expect(buffer("labels")).toMatchObject({ shape: [n], dtype: "i32", role: "input" });
    expect(buffer("latent")).toMatchObject({ shape: [2, 4, 1, 8, 8], dtype: "f32", role: "state" });
    expect(buffer("c.silu")?.shape).toEqual([n, D]);
    expect(buffer("spatial.0.mod")?.shape).toEqual([n, 6, D]);
    expect(buffer("final.mod")?.shape).toEqual([n, 2, D]);
    expect(buffer("final.out")?.shape).toEqual([rows, 32]);
    expect(buffer("model.out")?.shape).toEqual([n, 8, 1, 8, 8]);
    expect(buffer("guided")?.shape).toEqual([2, 8, 1, 8, 8]);
    expect(plan.buffers.some((b) => b.name.startsWith("text"))).toBe(false);
    expect(plan.program.step.find((o) => o.op === "patch_embed")).toMatchObject({
      weight: "x_embedder.proj.weight",
      samples: n,
      inputSamples: 2,
      grid: { frames: 1, rows: 4, cols: 4 },
    });
    expect(plan.inputs.filter((i) => i.buffer === "labels")).toEqual([
      { buffer: "labels", rows: { first: 0, count: 2 }, source: "labels" },
      { buffer: "labels", rows: { first: 2, count: 2 }, source: "null-labels" },
    ]);
    expect(plan.geometry).toMatchObject({ samples: 2, batch: n, tokens: { frames: 1, rows: 4, cols: 4 } });
  });

  it("leaves no buffer dangling", () => {
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("DiT-XL/2 at 256x256 (pipelines/dit-xl-2.yaml)", () => {
  const plan = lowerFile("pipelines/dit-xl-2.yaml");

  it("reads every checkpoint tensor exactly once and lists them all as plan weights", () => {
    const table = dit.weights(plan.model.hyper);
    const reads = weightReads(plan);
    expect(table.filter((w) => reads.get(w.name) !== 1).map((w) => `${w.name} x${reads.get(w.name) ?? 0}`)).toEqual([]);
    expect(plan.weights.map((w) => w.name)).toEqual(table.map((w) => w.name));
    expect(plan.weights.find((w) => w.name === "y_embedder.embedding_table.weight")?.shape).toEqual([1001, 1152]);
    expect(plan.weights.find((w) => w.name === "x_embedder.proj.weight")?.shape).toEqual([1152, 4, 2, 2]);
    // The stored pos_embed is skipped: the table is recomputed in setup.
    expect(dit.skippedTensors).toEqual(["pos_embed"]);
    expect(plan.weights.some((w) => w.name === "pos_embed")).toBe(false);
  });

  it("guides the first 3 channels and keeps the conditional half's learned variance for IDDPM", () => {
    const guidance = plan.program.step.find((o) => o.op === "guidance");
    expect(guidance).toMatchObject({ x: "model.out", out: "guided", samples: 4, plane: 32 * 32, channels: 8, predictionChannels: 4 });
    expect(guidance).toMatchObject({ mixed: 3, variance: "cond", scale: 4 });
    const solver = plan.program.step.find((o) => o.op === "solver_update");
    expect(solver).toMatchObject({ solver: "ddpm", prediction: "guided", learnedVariance: true, channels: 4, stride: 8, samples: 4, plane: 32 * 32 });
    expect(plan.schedule.guidance).toEqual({ scale: 4, mixed: 3, variance: "cond" });
    expect(shapeOf(plan, "guided")).toEqual([4, 8, 1, 32, 32]);
    expect(plan.steps).toHaveLength(250);
  });

  it("has 28 blocks over 256 tokens and no collective", () => {
    const attention = plan.program.step.filter((o) => o.op === "self_attention");
    expect(attention).toHaveLength(28);
    expect(attention[0]).toMatchObject({ batch: 8, seq: 256, heads: 16, headDim: 72 });
    expect(plan.program.step.some((o) => o.op === "all_gather" || o.op === "all_to_all")).toBe(false);
    expect(dangling(plan)).toEqual(CLEAN);
  });

  it("is deterministic", () => {
    expect(lowerFile("pipelines/dit-xl-2.yaml").hash).toBe(plan.hash);
  });
});

describe("DiT guidance follows the sampler", () => {
  it("mixes all 4 channels and drops the variance half under DPM-Solver", () => {
    const plan = lowerTiny({ scheduler: "{ kind: dpm-solver, steps: 10, guidance: 4.0 }" });
    expect(plan.program.step.find((o) => o.op === "guidance")).toMatchObject({ channels: 8, predictionChannels: 4, mixed: 4, variance: "drop" });
    const solver = plan.program.step.find((o) => o.op === "solver_update");
    expect(solver).toMatchObject({ solver: "dpmpp2m", learnedVariance: false, stride: 4, history: "solver.history" });
    expect(dangling(plan)).toEqual(CLEAN);
  });

  it("runs no null-class half without guidance", () => {
    const plan = lowerTiny({ scheduler: "{ kind: iddpm, steps: 10, guidance: 1.0 }" });
    expect(plan.inputs.filter((i) => i.buffer === "labels")).toEqual([{ buffer: "labels", rows: { first: 0, count: 2 }, source: "labels" }]);
    expect(shapeOf(plan, "labels")).toEqual([2]);
    expect(plan.program.step.some((o) => o.op === "guidance")).toBe(false);
    expect(plan.program.step.find((o) => o.op === "solver_update")).toMatchObject({ prediction: "model.out", learnedVariance: true, stride: 8 });
    expect(plan.schedule.guidance).toBeNull();
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("DiT with dp 2 x cfg 2 (pipelines/dit-xl-2-cfg.yaml)", () => {
  const plan = lowerFile("pipelines/dit-xl-2-cfg.yaml");

  it("gathers the two CFG halves with one all_gather and no other collective", () => {
    const collectives = plan.program.step.filter((o) => o.op === "all_gather" || o.op === "all_to_all");
    expect(collectives).toEqual([
      expect.objectContaining({ op: "all_gather", axis: "cfg", x: "model.out", out: "model.out.cfg", dims: [1, 2, 8, 64 * 64], dim: 1 }),
    ]);
    expect(shapeOf(plan, "model.out")).toEqual([2, 8, 1, 64, 64]);
    expect(shapeOf(plan, "model.out.cfg")).toEqual([4, 8, 1, 64, 64]);
    expect(plan.program.step.find((o) => o.op === "guidance")).toMatchObject({ x: "model.out.cfg", samples: 2, mixed: 3, variance: "cond" });
  });

  it("runs each rank's two labels, or their null class on the second cfg rank, sharded over dp", () => {
    expect(plan.geometry).toMatchObject({ samples: 4, batch: 2 });
    expect(shapeOf(plan, "labels")).toEqual([2]);
    const dp = { samplesShard: { axis: "dp", parts: 2 } };
    expect(plan.inputs.filter((i) => i.buffer === "labels")).toEqual([
      { buffer: "labels", rows: { first: 0, count: 2 }, source: "labels", cfgRank: 0, ...dp },
      { buffer: "labels", rows: { first: 0, count: 2 }, source: "null-labels", cfgRank: 1, ...dp },
    ]);
    expect(plan.inputs.find((i) => i.buffer === "latent")).toEqual({ buffer: "latent", rows: { first: 0, count: 2 }, source: "noise", ...dp });
    expect(shapeOf(plan, "x")).toEqual([2 * 1024, 1152]);
    expect(plan.mesh.groups.cfg).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(plan.mesh.groups.dp).toEqual([
      [0, 2],
      [1, 3],
    ]);
  });

  it("leaves no buffer dangling", () => {
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("DiT with PAB", () => {
  it("keeps the attention branch in a cache that reuse steps skip to", () => {
    const plan = lowerTiny({ acceleration: 'acceleration: { pab: { spatial: "every 2 in [100, 800]" } }\n' });
    const tagged = plan.program.step.filter((o) => o.block === 0 && o.pab === "spatial");
    expect(tagged.map(label)).toEqual(["layernorm_modulate", "linear blocks.0.attn.qkv.weight", "self_attention", "linear blocks.0.attn.proj.weight", "gate"]);
    expect(tagged[4]).toMatchObject({ out: "cache.spatial.0.attn" });
    expect(plan.buffers.find((b) => b.name === "cache.spatial.0.attn")).toMatchObject({ role: "cache", shape: [64, 64] });
    expect(plan.patterns.some((p) => p.reuse.includes("spatial"))).toBe(true);
    expect(dangling(plan)).toEqual(CLEAN);
  });
});
