/**
 * Latte-1 and Open-Sora-Plan lowering (models.md §3.2, §6): the op sequence of a spatial block (adaLN-single
 * rows, separate to_q/to_k/to_v filling one packed qkv, ungated un-normed cross-attention, the diffusers FFN) and
 * of a temporal block (self-attention and FFN only), attn2's k and v packed in setup, the caption projection,
 * the temporal table (Latte-1: scale 1, skipped for one frame; Open-Sora-Plan: v1.1's interpolation scale,
 * always added), diffusers' positional scales, the final layer on emb_t, every checkpoint tensor of the shipped
 * pipelines read once, DSP 2 on pipelines/latte-pab.yaml (two all-to-alls per temporal block, none around
 * spatial, cross or MLP), Ulysses 2, the PAB branches and caches of latte-pab.yaml, and no dangling buffers.
 */
import { describe, expect, it } from "vitest";
import { openSoraPlanTemporalScale } from "../../../../compiler/lower/families/opensora-plan.js";
import { latteT2V } from "../../../../compiler/models/latte-t2v.js";
import type { Plan } from "../../../../compiler/plan/types.js";
import { allOps, blockOps, CLEAN, dangling, lowerText, repoText, shapeOf, weightReads } from "./plan-checks.js";

/** The tiny variants' text (compiler/models/common.ts TINY_TEXT): 8 tokens of 32 channels. */
const L = 8;
const C = 32;

/**
 * A tiny LatteT2V (D 64, 4 heads, 2 + 2 blocks) at 64x64 (latent 8x8, grid 4x4); its text comes from an
 * embeddings file (`y` for the prompt, `negative_y` for the unconditional half), as no encoder produces it.
 */
function tinyYaml(extra: { family?: "latte-t2v" | "opensora-plan"; frames?: number; size?: number; layout?: string } = {}): string {
  const family = extra.family ?? "latte-t2v";
  const variant = family === "latte-t2v" ? "latte-t2v-tiny" : "opensora-plan-tiny";
  const vae = family === "latte-t2v" ? "sd-vae-ft-ema" : "causalvae-4x8x8";
  const size = extra.size ?? 64;
  return `version: 1
name: tiny-latte-t2v
model: { family: ${family}, variant: ${variant}, checkpoint: ckpts/tiny.safetensors }
conditioning: { embeddings: text.safetensors }
video: { frames: ${extra.frames ?? 4}, height: ${size}, width: ${size} }
seed: 1
scheduler: { kind: ddim, steps: 5, guidance: 7.5 }
${extra.layout ? `parallel: { world: 2, layout: "${extra.layout}" }\n` : ""}vae: { kind: ${vae}, checkpoint: ckpts/vae.safetensors }
output: { dir: out, formats: [latents] }
`;
}

const lowerTiny = (extra: Parameters<typeof tinyYaml>[0] = {}): Plan => lowerText("tiny.yaml", tinyYaml(extra));

describe("Latte-1 blocks", () => {
  const plan = lowerTiny();
  const D = 64;
  const n = 2; // the prompt and the negative prompt
  const rows = n * 4 * 16;

  it("runs a spatial block: adaLN-single rows, split q/k/v into one packed qkv, cross-attention, FFN", () => {
    const ops = blockOps(plan, "spatial", 1);
    expect(ops.map((o) => o.op)).toEqual([
      "modulation",
      "layernorm_modulate",
      "linear",
      "linear",
      "linear",
      "self_attention",
      "linear",
      "gate",
      "add",
      "linear",
      "cross_attention",
      "linear",
      "add",
      "layernorm_modulate",
      "linear",
      "linear",
      "gate",
      "add",
    ]);
    expect(ops[0]).toMatchObject({ table: "transformer_blocks.1.scale_shift_table", source: "t.t0", chunks: 6, sourceChunks: 6 });
    expect(ops[1]).toMatchObject({ x: "x", shift: { chunk: 0 }, scale: { chunk: 1 }, eps: 1e-6 });
    const qkv = (ops[1] as { out: string }).out;
    ["to_q", "to_k", "to_v"].forEach((name, s) =>
      expect(ops[2 + s]).toMatchObject({
        x: qkv,
        weight: `transformer_blocks.1.attn1.${name}.weight`,
        bias: `transformer_blocks.1.attn1.${name}.bias`,
        out: "spatial.1.attn.qkv",
        outFeatures: D,
        outColumns: { offset: s * D, stride: 3 * D },
      }),
    );
    expect(shapeOf(plan, "spatial.1.attn.qkv")).toEqual([rows, 3 * D]);
    expect(ops[5]).toMatchObject({ qkv: "spatial.1.attn.qkv", batch: n * 4, seq: 16, heads: 4, headDim: 16, scale: 1 / 4 });
    expect(ops[6]).toMatchObject({ weight: "transformer_blocks.1.attn1.to_out.0.weight" });
    expect(ops[7]).toMatchObject({ gate: { chunk: 2 } });
    // Cross-attention: the query reads x itself (no norm), and its output is added ungated.
    expect(ops[9]).toMatchObject({ x: "x", weight: "transformer_blocks.1.attn2.to_q.weight" });
    expect(ops[9]).not.toHaveProperty("outColumns");
    expect(ops[10]).toMatchObject({ kv: "spatial.1.cross.kv", mask: "text.mask", keys: L, queries: rows / n, heads: 4 });
    expect(ops[11]).toMatchObject({ weight: "transformer_blocks.1.attn2.to_out.0.weight" });
    expect(ops[12]).toMatchObject({ a: "x", b: (ops[11] as { out: string }).out });
    expect(ops[13]).toMatchObject({ shift: { chunk: 3 }, scale: { chunk: 4 } });
    expect(ops[14]).toMatchObject({ weight: "transformer_blocks.1.ff.net.0.proj.weight", activation: "gelu_tanh", outFeatures: 4 * D });
    expect(ops[15]).toMatchObject({ weight: "transformer_blocks.1.ff.net.2.weight", inFeatures: 4 * D });
    expect(ops[16]).toMatchObject({ gate: { chunk: 5 } });
  });

  it("runs a temporal block: self-attention over the frames at each token and the FFN, no cross-attention", () => {
    const ops = blockOps(plan, "temporal", 0);
    expect(ops.map((o) => o.op)).toEqual([
      "modulation",
      "layernorm_modulate",
      "permute",
      "linear",
      "linear",
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
    expect(ops[0]).toMatchObject({ table: "temporal_transformer_blocks.0.scale_shift_table", source: "t.t0" });
    expect(ops[2]).toMatchObject({ x: (ops[1] as { out: string }).out, dims: [n, 4, 16, D], perm: [0, 2, 1, 3] });
    expect(ops[3]).toMatchObject({ weight: "temporal_transformer_blocks.0.attn1.to_q.weight", outColumns: { offset: 0, stride: 3 * D } });
    expect(ops[5]).toMatchObject({ weight: "temporal_transformer_blocks.0.attn1.to_v.weight", outColumns: { offset: 2 * D, stride: 3 * D } });
    expect(ops[6]).toMatchObject({ batch: n * 16, seq: 4, heads: 4, headDim: 16 });
    expect(ops[7]).toMatchObject({ weight: "temporal_transformer_blocks.0.attn1.to_out.0.weight" });
    expect(ops[12]).toMatchObject({ weight: "temporal_transformer_blocks.0.ff.net.0.proj.weight", activation: "gelu_tanh" });
  });

  it("projects the caption and every block's attn2 keys and values once, in setup", () => {
    const setup = plan.program.setup;
    expect(setup.filter((o) => o.op === "linear" && o.weight.startsWith("caption_projection"))).toEqual([
      expect.objectContaining({ x: "text", weight: "caption_projection.linear_1.weight", inFeatures: C, outFeatures: D, activation: "gelu_tanh" }),
      expect.objectContaining({ weight: "caption_projection.linear_2.weight", out: "caption", activation: "none" }),
    ]);
    for (const i of [0, 1]) {
      expect(setup.filter((o) => o.op === "linear" && o.weight.startsWith(`transformer_blocks.${i}.attn2`))).toEqual([
        expect.objectContaining({ x: "caption", weight: `transformer_blocks.${i}.attn2.to_k.weight`, out: `spatial.${i}.cross.kv`, rows: n * L, outColumns: { offset: 0, stride: 2 * D } }),
        expect.objectContaining({ x: "caption", weight: `transformer_blocks.${i}.attn2.to_v.weight`, out: `spatial.${i}.cross.kv`, outColumns: { offset: D, stride: 2 * D } }),
      ]);
    }
    expect(plan.buffers.find((b) => b.name === "spatial.0.cross.kv")).toMatchObject({ shape: [n * L, 2 * D], role: "table" });
    expect(plan.buffers.some((b) => b.name.startsWith("temporal.") && b.name.endsWith(".cross.kv"))).toBe(false);
    // The negative prompt's features fill the unconditional half, with the prompt's mask.
    expect(shapeOf(plan, "text")).toEqual([n, L, C]);
    expect(plan.inputs.filter((i) => i.buffer.startsWith("text"))).toEqual([
      { buffer: "text", rows: { first: 0, count: 1 }, source: "text" },
      { buffer: "text.mask", rows: { first: 0, count: 1 }, source: "text-mask" },
      { buffer: "text", rows: { first: 1, count: 1 }, source: "text" },
      { buffer: "text.mask", rows: { first: 1, count: 1 }, source: "text-mask" },
    ]);
  });

  it("embeds the timestep with diffusers' names and adds emb_t, not t0, to the final scale_shift_table", () => {
    const step = plan.program.step;
    expect(step.slice(2, 7).map((o) => (o.op === "linear" ? o.weight : o.op))).toEqual([
      "timestep_embed",
      "adaln_single.emb.timestep_embedder.linear_1.weight",
      "adaln_single.emb.timestep_embedder.linear_2.weight",
      "silu",
      "adaln_single.linear.weight",
    ]);
    const tail = step.slice(step.findIndex((o) => o.op === "modulation" && o.table === "scale_shift_table"));
    expect(tail.map((o) => o.op)).toEqual(["modulation", "layernorm_modulate", "linear", "unpatchify", "guidance", "solver_update"]);
    expect(tail[0]).toMatchObject({ source: "t.emb", chunks: 2, sourceChunks: 1 });
    expect(tail[1]).toMatchObject({ shift: { chunk: 0 }, scale: { chunk: 1 } });
    expect(tail[2]).toMatchObject({ weight: "proj_out.weight", outFeatures: 2 * 2 * 8 });
    // DDIM: guidance over all 4 eps channels, the variance half dropped.
    expect(tail[4]).toMatchObject({ mixed: 4, channels: 8, variance: "drop", scale: 7.5 });
  });

  it("adds emb1d(D, 0..F-1) to the stream between s0 and t0, and the per-frame Conv2d patch table", () => {
    const adds = plan.program.step.filter((o) => o.op === "add_rows" && o.table === "pos.temporal");
    expect(adds).toEqual([expect.objectContaining({ x: "x", out: "x", period: 4, repeat: 16 })]);
    expect(Math.max(...blockOps(plan, "spatial", 0).map((o) => o.id))).toBeLessThan(adds[0]!.id);
    expect(Math.min(...blockOps(plan, "temporal", 0).map((o) => o.id))).toBeGreaterThan(adds[0]!.id);
    expect(plan.program.setup.find((o) => o.op === "sincos_1d")).toMatchObject({ count: 4, first: 0, scale: 1 });
    expect(plan.weights.find((w) => w.name === "pos_embed.proj.weight")?.shape).toEqual([D, 4, 2, 2]);
    // Latte-1 was trained at 512² (base grid 32): a 64² run spreads 4 columns over the trained range.
    expect(plan.program.setup.find((o) => o.op === "sincos_2d")).toMatchObject({ rows: 4, cols: 4, rowScale: 8, colScale: 8 });
  });

  it("skips the temporal table for a single frame, as diffusers' Latte-1 does", () => {
    const single = lowerTiny({ frames: 1 });
    expect(allOps(single).some((o) => o.op === "sincos_1d" || (o.op === "add_rows" && o.table === "pos.temporal"))).toBe(false);
    expect(dangling(single)).toEqual(CLEAN);
  });

  it("leaves no buffer dangling", () => {
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("Open-Sora-Plan", () => {
  it("uses v1.1's temporal interpolation scale", () => {
    expect([1, 5, 16, 17, 32, 33, 56].map(openSoraPlanTemporalScale)).toEqual([1, 1, 1, 1, 2, 2, 3]);
  });

  it("runs the Latte-1 blocks on its variant's text tokens and adds the table even for one frame", () => {
    const plan = lowerTiny({ family: "opensora-plan", frames: 1 });
    expect(blockOps(plan, "spatial", 0).find((o) => o.op === "cross_attention")).toMatchObject({ keys: L });
    expect(plan.program.setup.find((o) => o.op === "sincos_1d")).toMatchObject({ count: 1, scale: 1 });
    expect(plan.program.step.filter((o) => o.op === "add_rows" && o.table === "pos.temporal")).toHaveLength(1);
    expect(dangling(plan)).toEqual(CLEAN);
  });

  const text = repoText("pipelines/opensora-plan-pab.yaml");
  const plan = lowerText("pipelines/opensora-plan-pab.yaml", text);

  it("reads every tensor of the shipped v1.1 65x512x512 checkpoint once, on 17 x 32x32 tokens", () => {
    const reads = weightReads(plan);
    const table = latteT2V.weights(plan.model.hyper).map((w) => w.name);
    expect(table.filter((name) => reads.get(name) !== 1)).toEqual([]);
    expect(plan.geometry).toMatchObject({ latent: { frames: 17, height: 64, width: 64 }, tokens: { frames: 17, rows: 32, cols: 32 }, batch: 2 });
    // Open-Sora-Plan's 300 T5 tokens (Latte-1 reads 120), of 4096 channels.
    expect(blockOps(plan, "spatial", 0).find((o) => o.op === "cross_attention")).toMatchObject({ keys: 300 });
    expect(shapeOf(plan, "text")).toEqual([2, 300, 4096]);
    expect(plan.program.setup.find((o) => o.op === "sincos_1d")).toMatchObject({ count: 17, scale: 1 });
    expect(plan.program.setup.find((o) => o.op === "sincos_2d")).toMatchObject({ rowScale: 1, colScale: 1 });
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("the shipped latte-pab pipeline", () => {
  const text = repoText("pipelines/latte-pab.yaml");
  const plan = lowerText("pipelines/latte-pab.yaml", text);

  it("reads every checkpoint tensor exactly once, the skipped null caption never", () => {
    const reads = weightReads(plan);
    const table = latteT2V.weights(plan.model.hyper).map((w) => w.name);
    expect(table.filter((name) => reads.get(name) !== 1)).toEqual([]);
    expect([...reads.keys()].sort()).toEqual([...table].sort());
    for (const skipped of latteT2V.skippedTensors ?? []) expect(plan.weights.some((w) => w.name === skipped)).toBe(false);
    expect(plan.program.step.filter((o) => o.op === "self_attention")).toHaveLength(56);
    expect(plan.program.setup.find((o) => o.op === "sincos_2d")).toMatchObject({ rows: 32, cols: 32, rowScale: 1, colScale: 1 });
    // Latte-1's 120 T5 tokens of 4096 channels, for the prompt and the negative prompt.
    expect(blockOps(plan, "spatial", 0).find((o) => o.op === "cross_attention")).toMatchObject({ keys: 120 });
    expect(shapeOf(plan, "text")).toEqual([2, 120, 4096]);
  });

  it("tags PAB's spatial, temporal and cross branches and keeps their outputs in cache buffers", () => {
    const role = (name: string) => plan.buffers.find((b) => b.name === name)?.role;
    for (let i = 0; i < 28; i++) {
      expect(role(`cache.spatial.${i}.attn`)).toBe("cache");
      expect(role(`cache.spatial.${i}.cross`)).toBe("cache");
      expect(role(`cache.temporal.${i}.attn`)).toBe("cache");
      const spatial = blockOps(plan, "spatial", i);
      expect(spatial.filter((o) => o.pab === "spatial").map((o) => o.op)).toEqual(["layernorm_modulate", "linear", "linear", "linear", "self_attention", "linear", "gate"]);
      expect(spatial.filter((o) => o.pab === "cross").map((o) => o.op)).toEqual(["linear", "cross_attention", "linear"]);
      expect(blockOps(plan, "temporal", i).filter((o) => o.pab === "temporal").map((o) => o.op)).toEqual([
        "layernorm_modulate",
        "permute",
        "linear",
        "linear",
        "linear",
        "self_attention",
        "linear",
        "permute",
        "gate",
      ]);
      // The residual adds and the modulation rows run on every step.
      expect(spatial.filter((o) => o.op === "add" || o.op === "modulation").every((o) => o.pab === undefined && o.mlp === undefined)).toBe(true);
    }
    // MLP broadcast keeps blocks 0-4 of each kind.
    for (const kind of ["spatial", "temporal"] as const) {
      for (let i = 0; i < 28; i++) {
        const mlpOps = blockOps(plan, kind, i).filter((o) => o.mlp === true);
        expect(mlpOps.map((o) => o.op)).toEqual(i < 5 ? ["layernorm_modulate", "linear", "linear", "gate"] : []);
        expect(role(`cache.${kind}.${i}.mlp`)).toBe(i < 5 ? "cache" : undefined);
      }
    }
    const reused = new Set(plan.patterns.flatMap((p) => p.reuse));
    expect([...reused].sort()).toEqual(["cross", "spatial", "temporal"]);
    expect(plan.steps).toHaveLength(50);
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("Latte-1 under DSP 2 (latte-pab.yaml on two GPUs)", () => {
  const text = repoText("pipelines/latte-pab.yaml").replace("vae:", 'parallel: { world: 2, layout: "dsp 2" }\nvae:');
  const plan = lowerText("latte-pab-dsp.yaml", text);
  const D = 1152;
  const n = 2;

  it("switches shards with exactly two all-to-alls per temporal block and none around spatial, cross or MLP", () => {
    for (let i = 0; i < 28; i++) {
      expect(blockOps(plan, "temporal", i).filter((o) => o.op === "all_to_all")).toEqual([
        expect.objectContaining({ axis: "dsp", dims: [n, 8, 1024, D], scatter: 2, gather: 1, pab: "temporal" }),
        expect.objectContaining({ axis: "dsp", dims: [n, 16, 512, D], scatter: 1, gather: 2, pab: "temporal" }),
      ]);
      expect(blockOps(plan, "spatial", i).some((o) => o.op === "all_to_all" || o.op === "all_gather")).toBe(false);
    }
    const collectives = plan.program.step.filter((o) => o.op === "all_to_all" || o.op === "all_gather");
    expect(collectives).toHaveLength(2 * 28 + 1);
    expect(collectives.filter((o) => o.blockKind === undefined)).toEqual([expect.objectContaining({ op: "all_gather", axis: "dsp", dim: 1 })]);
    expect(plan.program.setup.some((o) => o.op === "all_to_all" || o.op === "all_gather")).toBe(false);
  });

  it("shards the frames: local spatial attention over 8 frames, the rank's run of the temporal table", () => {
    expect(blockOps(plan, "spatial", 0).find((o) => o.op === "self_attention")).toMatchObject({ batch: n * 8, seq: 1024 });
    expect(blockOps(plan, "temporal", 0).find((o) => o.op === "self_attention")).toMatchObject({ batch: n * 512, seq: 16 });
    expect(plan.program.setup.find((o) => o.op === "sincos_1d")).toMatchObject({ count: 16, shard: { axis: "dsp", parts: 2 } });
    expect(shapeOf(plan, "pos.temporal")).toEqual([8, D]);
    expect(plan.program.step.find((o) => o.op === "patch_embed")).toMatchObject({ shard: { axis: "dsp", parts: 2, dim: "frames" } });
    expect(shapeOf(plan, "cache.spatial.0.attn")).toEqual([n * 8 * 1024, D]);
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("Latte-1 under Ulysses 2", () => {
  const plan = lowerTiny({ layout: "ulysses 2" });

  it("gathers each frame's tokens for spatial attention only; temporal attention stays local", () => {
    for (const i of [0, 1]) {
      expect(blockOps(plan, "spatial", i).filter((o) => o.op === "all_to_all")).toEqual([
        expect.objectContaining({ axis: "ulysses", scatter: 3, gather: 1 }),
        expect.objectContaining({ axis: "ulysses", scatter: 1, gather: 3 }),
      ]);
      expect(blockOps(plan, "temporal", i).some((o) => o.op === "all_to_all")).toBe(false);
    }
    expect(blockOps(plan, "spatial", 0).find((o) => o.op === "self_attention")).toMatchObject({ seq: 16, heads: 2 });
    expect(plan.program.setup.find((o) => o.op === "sincos_1d")).not.toHaveProperty("shard");
    expect(plan.program.step.find((o) => o.op === "add_rows" && o.table === "pos.temporal")).toMatchObject({ period: 4, repeat: 8 });
    expect(dangling(plan)).toEqual(CLEAN);
  });
});
