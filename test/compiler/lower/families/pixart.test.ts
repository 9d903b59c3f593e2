/**
 * PixArt-α lowering (models.md §2): one block (adaLN-single rows, self-attention, ungated cross-attention, MLP),
 * the T2I final layer on the raw t, PixArt's positional coordinates (base_size, lewei_scale), PixArt-MS's size
 * embedding computed in setup and added to t before t_block and the final layer, the main buffer shapes, every
 * checkpoint tensor read once except the null caption (a `null-text` input), guidance under DPM-Solver, USP
 * (`ring 2 x ulysses 2`, pipelines/pixart-usp.yaml) with its all-to-alls, ring attention and dividing shapes,
 * PAB caches, and no dangling buffer in any of these plans.
 */
import { describe, expect, it } from "vitest";
import { pixartPositionScales, pixartSizeInputs } from "../../../../compiler/lower/families/pixart.js";
import { pixart } from "../../../../compiler/models/pixart.js";
import type { Plan } from "../../../../compiler/plan/types.js";
import { CLEAN, dangling, label, lowerFile, lowerText, shapeOf, weightReads } from "./plan-checks.js";

/** The tiny variants' text (compiler/models/common.ts TINY_TEXT): 8 tokens of 32 channels. */
const L = 8;
const C = 32;

/**
 * A PixArt Spec: pixart-tiny (D 64, 4 heads, 2 blocks) at 64x64 (a 4x4 grid) unless told otherwise. The official
 * variants encode a prompt with T5-XXL; the tiny one reads its 32-channel text from an embeddings file.
 */
function lowerYaml(extra: { variant?: string; height?: number; width?: number; scheduler?: string; acceleration?: string } = {}): Plan {
  const variant = extra.variant ?? "pixart-tiny";
  const conditioning = variant === "pixart-tiny" ? "{ embeddings: text.safetensors }" : '{ prompts: ["a small cactus"], text_encoder: t5-v1_1-xxl }';
  const yaml = `version: 1
name: pixart-test
model: { family: pixart, variant: ${variant}, checkpoint: ckpts/pixart.safetensors, dtype: fp16 }
conditioning: ${conditioning}
image: { height: ${extra.height ?? 64}, width: ${extra.width ?? 64} }
seed: 1
scheduler: ${extra.scheduler ?? "{ kind: dpm-solver, steps: 20, guidance: 4.5 }"}
${extra.acceleration ?? ""}vae: { kind: sd-vae-ft-ema, checkpoint: ckpts/vae.safetensors }
output: { dir: out, formats: [latents] }
`;
  return lowerText("pixart.yaml", yaml);
}

describe("PixArt blocks", () => {
  const plan = lowerYaml();
  const { D, heads, headDim } = { D: 64, heads: 4, headDim: 16 };
  const n = 2; // the prompt and the null caption
  const rows = n * 16;

  it("runs a block as adaLN-single rows, self-attention, ungated cross-attention and the MLP", () => {
    const ops = plan.program.step.filter((o) => o.block === 1);
    expect(ops.map(label)).toEqual([
      "modulation",
      "layernorm_modulate",
      "linear blocks.1.attn.qkv.weight",
      "self_attention",
      "linear blocks.1.attn.proj.weight",
      "gate",
      "add",
      "linear blocks.1.cross_attn.q_linear.weight",
      "cross_attention",
      "linear blocks.1.cross_attn.proj.weight",
      "add",
      "layernorm_modulate",
      "linear blocks.1.mlp.fc1.weight",
      "linear blocks.1.mlp.fc2.weight",
      "gate",
      "add",
    ]);
    expect(ops[0]).toMatchObject({ table: "blocks.1.scale_shift_table", source: "t.t0", samples: n, chunks: 6, sourceChunks: 6, width: D });
    expect(ops[1]).toMatchObject({ x: "x", shift: { buffer: "spatial.1.mod", chunk: 0 }, scale: { chunk: 1 }, eps: 1e-6 });
    expect(ops[3]).toMatchObject({ batch: n, seq: 16, heads, headDim });
    expect(ops[5]).toMatchObject({ gate: { chunk: 2 } });
    // Cross-attention reads x itself (no norm), and its projection is added without a gate.
    expect(ops[7]).toMatchObject({ x: "x" });
    expect(ops[8]).toMatchObject({ kv: "spatial.1.cross.kv", mask: "text.mask", samples: n, queries: 16, keys: L, heads, headDim });
    expect(ops[10]).toMatchObject({ a: "x", b: (ops[9] as { out: string }).out });
    expect(ops[11]).toMatchObject({ shift: { chunk: 3 }, scale: { chunk: 4 } });
    expect(ops[14]).toMatchObject({ gate: { chunk: 5 } });
  });

  it("projects the caption and every block's text kv once, in setup", () => {
    expect(plan.program.setup.map(label)).toEqual([
      "sincos_2d",
      "linear y_embedder.y_proj.fc1.weight",
      "linear y_embedder.y_proj.fc2.weight",
      "linear blocks.0.cross_attn.kv_linear.weight",
      "linear blocks.1.cross_attn.kv_linear.weight",
    ]);
    expect(plan.program.setup[1]).toMatchObject({ x: "text", rows: n * L, inFeatures: C, activation: "gelu_tanh" });
    expect(plan.program.setup[4]).toMatchObject({ x: "caption", out: "spatial.1.cross.kv", outFeatures: 2 * D });
  });

  it("feeds t0 = t_block(SiLU(t)) to the blocks and the raw t to the T2I final layer", () => {
    const step = plan.program.step;
    expect(step.slice(0, step.findIndex((o) => o.block === 0)).map(label)).toEqual([
      "patch_embed",
      "add_rows",
      "timestep_embed",
      "linear t_embedder.mlp.0.weight",
      "linear t_embedder.mlp.2.weight",
      "silu",
      "linear t_block.1.weight",
    ]);
    const at = step.findIndex((o) => o.op === "modulation" && o.block === undefined);
    expect(step.slice(at).map(label)).toEqual([
      "modulation",
      "layernorm_modulate",
      "linear final_layer.linear.weight",
      "unpatchify",
      "guidance",
      "solver_update",
    ]);
    expect(step[at]).toMatchObject({ table: "final_layer.scale_shift_table", source: "t.emb", chunks: 2, sourceChunks: 1 });
    expect(step[at + 1]).toMatchObject({ shift: { buffer: "final.mod", chunk: 0 }, scale: { buffer: "final.mod", chunk: 1 } });
    expect(step.some((o) => o.op === "constant" || o.op === "concat")).toBe(false);
  });

  it("declares the stream, text and modulation buffers with their shapes", () => {
    expect(shapeOf(plan, "x")).toEqual([rows, D]);
    expect(shapeOf(plan, "latent")).toEqual([1, 4, 1, 8, 8]);
    expect(shapeOf(plan, "text")).toEqual([n, L, C]);
    expect(plan.buffers.find((b) => b.name === "text.mask")).toMatchObject({ shape: [n, L], dtype: "i32", role: "input" });
    expect(shapeOf(plan, "caption")).toEqual([n * L, D]);
    expect(shapeOf(plan, "spatial.0.cross.kv")).toEqual([n * L, 2 * D]);
    expect(shapeOf(plan, "spatial.0.mod")).toEqual([n, 6, D]);
    expect(shapeOf(plan, "t.t0")).toEqual([n, 6 * D]);
    expect(shapeOf(plan, "final.mod")).toEqual([n, 2, D]);
    expect(shapeOf(plan, "final.out")).toEqual([rows, 32]);
    expect(shapeOf(plan, "model.out")).toEqual([n, 8, 1, 8, 8]);
    expect(plan.buffers.find((b) => b.name === "x")?.dtype).toBe("f16");
  });

  it("guides all 4 eps channels and drops the variance under DPM-Solver, with the null caption as the other half", () => {
    const guidance = plan.program.step.find((o) => o.op === "guidance");
    expect(guidance).toMatchObject({ samples: 1, channels: 8, predictionChannels: 4, mixed: 4, variance: "drop", scale: 4.5 });
    expect(plan.program.step.find((o) => o.op === "solver_update")).toMatchObject({ solver: "dpmpp2m", learnedVariance: false, stride: 4 });
    expect(plan.inputs.filter((i) => i.buffer === "text")).toEqual([
      { buffer: "text", rows: { first: 0, count: 1 }, source: "text" },
      { buffer: "text", rows: { first: 1, count: 1 }, source: "null-text" },
    ]);
  });

  it("leaves no buffer dangling", () => {
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("PixArt positions", () => {
  it("scales coordinates by base_size / n_axis / lewei_scale of the checkpoint a size runs on", () => {
    // At the training sizes: the integer indices (256, 512), half of them (1024-MS, lewei_scale 2).
    expect(pixartPositionScales(false, 2, { height: 256, width: 256 }, { rows: 16, cols: 16 })).toEqual({ rowScale: 1, colScale: 1 });
    expect(pixartPositionScales(false, 2, { height: 512, width: 512 }, { rows: 32, cols: 32 })).toEqual({ rowScale: 1, colScale: 1 });
    expect(pixartPositionScales(true, 2, { height: 1024, width: 1024 }, { rows: 64, cols: 64 })).toEqual({ rowScale: 0.5, colScale: 0.5 });
    // A 1024-MS bucket off the square: base 64 over each axis' own count.
    const ms = pixartPositionScales(true, 2, { height: 768, width: 1344 }, { rows: 48, cols: 84 });
    expect(ms.rowScale).toBeCloseTo(64 / 48 / 2, 15);
    expect(ms.colScale).toBeCloseTo(64 / 84 / 2, 15);
    // Class PixArt: the nearer of the 256 and 512 checkpoints on a log scale (the boundary is about 362).
    expect(pixartPositionScales(false, 2, { height: 320, width: 320 }, { rows: 20, cols: 20 }).rowScale).toBeCloseTo(16 / 20, 15);
    expect(pixartPositionScales(false, 2, { height: 384, width: 384 }, { rows: 24, cols: 24 }).rowScale).toBeCloseTo(32 / 24, 15);
  });

  it("puts those scales in the setup's sin-cos table", () => {
    const plan = lowerYaml({ variant: "PixArt-XL/2", height: 512, width: 512 });
    expect(plan.program.setup[0]).toMatchObject({ op: "sincos_2d", out: "pos.spatial", rows: 32, cols: 32, rowScale: 1, colScale: 1, width: 1152 });
    expect(shapeOf(plan, "pos.spatial")).toEqual([1024, 1152]);
  });
});

describe("PixArt-XL/2 at 512x512", () => {
  const plan = lowerYaml({ variant: "PixArt-XL/2", height: 512, width: 512 });

  it("reads every checkpoint tensor exactly once, except the null caption the runtime reads as an input", () => {
    const table = pixart.weights(plan.model.hyper);
    const reads = weightReads(plan);
    const nullCaption = "y_embedder.y_embedding";
    expect(table.filter((w) => w.name !== nullCaption && reads.get(w.name) !== 1).map((w) => `${w.name} x${reads.get(w.name) ?? 0}`)).toEqual([]);
    expect(reads.has(nullCaption)).toBe(false);
    expect(plan.weights.map((w) => w.name)).toEqual(table.map((w) => w.name));
    expect(plan.weights.find((w) => w.name === nullCaption)?.shape).toEqual([120, 4096]);
    expect(plan.inputs.some((i) => i.source === "null-text")).toBe(true);
    expect(table.some((w) => w.name.startsWith("csize_embedder") || w.name.startsWith("ar_embedder"))).toBe(false);
    expect(pixart.skippedTensors).toEqual(["pos_embed"]);
    expect(dangling(plan)).toEqual(CLEAN);
  });

  it("guides 3 channels and keeps the conditional variance on the IDDPM path", () => {
    const iddpm = lowerYaml({ variant: "PixArt-XL/2", height: 512, width: 512, scheduler: "{ kind: iddpm, steps: 100, guidance: 4.5 }" });
    expect(iddpm.program.step.find((o) => o.op === "guidance")).toMatchObject({ channels: 8, predictionChannels: 4, mixed: 3, variance: "cond" });
    expect(iddpm.program.step.find((o) => o.op === "solver_update")).toMatchObject({ solver: "ddpm", learnedVariance: true, stride: 8 });
    expect(dangling(iddpm)).toEqual(CLEAN);
  });
});

describe("PixArt-MS size embedders", () => {
  it("reads the ASPECT_RATIO_1024_TEST key as H/W to two decimals", () => {
    expect(pixartSizeInputs(1024, 1024)).toEqual({ hw: [1024, 1024], ar: 1 });
    const buckets: [string, number, number][] = [
      ["0.28", 512, 1856],
      ["0.33", 576, 1728],
      ["0.42", 640, 1536],
      ["0.57", 768, 1344],
      ["0.94", 960, 1024],
      ["1.07", 1024, 960],
      ["1.29", 1152, 896],
      ["1.46", 1216, 832],
      ["2.09", 1472, 704],
      ["4.0", 2048, 512],
    ];
    for (const [key, h, w] of buckets) expect(pixartSizeInputs(h, w).ar).toBe(Number(key));
  });

  it("embeds [H, W] and H/W once in setup and adds the joined row to t before t_block and the final layer", () => {
    const plan = lowerYaml({ variant: "PixArt-XL/2-1024-MS", height: 768, width: 1344 });
    const setup = plan.program.setup.filter((o) => o.op !== "linear" || o.weight.startsWith("csize") || o.weight.startsWith("ar"));
    const sizeOps = setup.slice(setup.findIndex((o) => o.op === "constant"));
    expect(sizeOps.map(label)).toEqual([
      "constant",
      "timestep_embed",
      "linear csize_embedder.mlp.0.weight",
      "linear csize_embedder.mlp.2.weight",
      "constant",
      "timestep_embed",
      "linear ar_embedder.mlp.0.weight",
      "linear ar_embedder.mlp.2.weight",
      "concat",
    ]);
    expect(sizeOps[0]).toMatchObject({ out: "size.hw", values: [768, 1344], count: 2 });
    expect(sizeOps[1]).toMatchObject({ t: "size.hw", samples: 2, dim: 256, maxPeriod: 10000 });
    expect(sizeOps[2]).toMatchObject({ rows: 2, inFeatures: 256, outFeatures: 384, activation: "silu" });
    expect(sizeOps[3]).toMatchObject({ out: "size.hw.emb", rows: 2, inFeatures: 384, outFeatures: 384 });
    expect(sizeOps[4]).toMatchObject({ out: "size.ar", values: [0.57], count: 1 });
    expect(sizeOps[7]).toMatchObject({ out: "size.ar.emb", rows: 1, outFeatures: 384 });
    expect(sizeOps[8]).toEqual(expect.objectContaining({ parts: ["size.hw.emb", "size.ar.emb"], widths: [768, 384], out: "size.emb", rows: 1 }));
    expect(plan.buffers.find((b) => b.name === "size.hw")).toMatchObject({ shape: [2], dtype: "f32", role: "table" });
    expect(shapeOf(plan, "size.emb")).toEqual([1, 1152]);

    const step = plan.program.step;
    const add = step.findIndex((o) => o.op === "add_rows" && o.table === "size.emb");
    expect(step[add]).toMatchObject({ x: "t.emb", out: "t.emb", rows: 2, width: 1152, period: 1, repeat: 1 });
    expect(step[add - 1]).toMatchObject({ op: "linear", weight: "t_embedder.mlp.2.weight" });
    expect(step[add + 1]).toMatchObject({ op: "silu", x: "t.emb" });
    expect(step.find((o) => o.op === "modulation" && o.table === "final_layer.scale_shift_table")).toMatchObject({ source: "t.emb" });
    // 1024-MS positions at 768x1344 (grid 48x84).
    expect(plan.program.setup[0]).toMatchObject({ op: "sincos_2d", rows: 48, cols: 84, rowScale: 64 / 48 / 2, colScale: 64 / 84 / 2 });
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("PixArt-MS with USP, ring 2 x ulysses 2 (pipelines/pixart-usp.yaml)", () => {
  const plan = lowerFile("pipelines/pixart-usp.yaml");
  const n = 2;
  const S = 64 * 64;
  const Sl = S / 4;

  it("shards the tokens of the image 4 ways, every shape dividing", () => {
    expect(plan.geometry).toMatchObject({ batch: n, tokens: { frames: 1, rows: 64, cols: 64 } });
    expect(shapeOf(plan, "x")).toEqual([n * Sl, 1152]);
    expect(shapeOf(plan, "pos.spatial")).toEqual([Sl, 1152]);
    const embed = plan.program.step.find((o) => o.op === "patch_embed");
    expect(embed).toMatchObject({ shard: { axis: "sequence", parts: 4, dim: "tokens" }, grid: { rows: 64, cols: 64 } });
    expect(plan.program.setup.find((o) => o.op === "sincos_2d")).toMatchObject({ shard: { axis: "sequence", parts: 4 }, rowScale: 0.5, colScale: 0.5 });
    expect(plan.mesh.groups.ulysses).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(plan.mesh.groups.ring).toEqual([
      [0, 2],
      [1, 3],
    ]);
  });

  it("trades the token shard for heads around every self-attention, which runs the ring over 2 x 1024 tokens", () => {
    const block = plan.program.step.filter((o) => o.block === 5);
    expect(block.map(label).slice(1, 7)).toEqual([
      "layernorm_modulate",
      "linear blocks.5.attn.qkv.weight",
      "all_to_all",
      "self_attention",
      "all_to_all",
      "linear blocks.5.attn.proj.weight",
    ]);
    expect(block[3]).toMatchObject({ axis: "ulysses", x: "spatial.5.attn.qkv", dims: [n, Sl, 3, 1152], scatter: 3, gather: 1 });
    expect(block[4]).toMatchObject({ op: "self_attention", batch: n, seq: 2 * Sl, heads: 8, headDim: 72, ring: "ring" });
    expect(block[5]).toMatchObject({ axis: "ulysses", dims: [n, 2 * Sl, 1, 576], scatter: 1, gather: 3 });
    const allToAll = plan.program.step.filter((o) => o.op === "all_to_all");
    expect(allToAll).toHaveLength(2 * 28);
    expect(allToAll.every((o) => o.axis === "ulysses")).toBe(true);
    expect(plan.program.step.filter((o) => o.op === "self_attention" && o.ring === "ring")).toHaveLength(28);
    // Cross-attention and the MLP are token-wise: local, over the rank's 1024 tokens.
    expect(block.find((o) => o.op === "cross_attention")).toMatchObject({ queries: Sl, keys: 120, heads: 16 });
  });

  it("gathers the token shards once before unpatchify, then guides under DPM-Solver", () => {
    const gathers = plan.program.step.filter((o) => o.op === "all_gather");
    expect(gathers).toEqual([expect.objectContaining({ axis: "sequence", x: "final.out", out: "final.gathered", dims: [n, 1, Sl, 32], dim: 2 })]);
    expect(shapeOf(plan, "final.gathered")).toEqual([n * S, 32]);
    expect(plan.schedule.guidance).toEqual({ scale: 4.5, mixed: 4, variance: "drop" });
    expect(plan.buffers.find((b) => b.name === "x")?.dtype).toBe("f16");
  });

  it("reads every MS checkpoint tensor once, size embedders included, and leaves no buffer dangling", () => {
    const table = pixart.weights(plan.model.hyper);
    const reads = weightReads(plan);
    expect(table.filter((w) => w.name !== "y_embedder.y_embedding" && reads.get(w.name) !== 1).map((w) => w.name)).toEqual([]);
    expect(reads.get("csize_embedder.mlp.0.weight")).toBe(1);
    expect(reads.get("ar_embedder.mlp.2.bias")).toBe(1);
    expect(plan.program.setup.find((o) => o.op === "constant" && o.out === "size.ar")).toMatchObject({ values: [1] });
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("PixArt with PAB", () => {
  it("caches the self- and cross-attention branches that reuse steps skip", () => {
    const plan = lowerYaml({ acceleration: 'acceleration: { pab: { spatial: "every 2 in [100, 900]", cross: "every 3 in [100, 900]" } }\n' });
    const block = plan.program.step.filter((o) => o.block === 0);
    expect(block.filter((o) => o.pab === "spatial").map(label)).toEqual([
      "layernorm_modulate",
      "linear blocks.0.attn.qkv.weight",
      "self_attention",
      "linear blocks.0.attn.proj.weight",
      "gate",
    ]);
    expect(block.filter((o) => o.pab === "cross").map(label)).toEqual([
      "linear blocks.0.cross_attn.q_linear.weight",
      "cross_attention",
      "linear blocks.0.cross_attn.proj.weight",
    ]);
    expect(plan.buffers.find((b) => b.name === "cache.spatial.0.attn")).toMatchObject({ role: "cache", shape: [32, 64] });
    expect(plan.buffers.find((b) => b.name === "cache.spatial.0.cross")).toMatchObject({ role: "cache", shape: [32, 64] });
    expect(plan.patterns.some((p) => p.reuse.includes("cross"))).toBe(true);
    expect(dangling(plan)).toEqual(CLEAN);
  });
});
