/**
 * Open-Sora 1.2 STDiT3 lowering (models.md §5): the op sequence of a spatial and of a temporal block (qk
 * RMSNorm on both, RoPE only on temporal, attention on the LN-modulated stream), interleaving s0, t0, s1, ...,
 * the fps embedding in setup, the §5.4 positional scales, padding and cropping, every checkpoint tensor read
 * once, the shipped opensora-v12 pipeline with its PAB caches, guidance over the 4 velocity channels, and the
 * collectives under `dsp 2` and `ulysses 2`, with no buffer left dangling.
 */
import { describe, expect, it } from "vitest";
import { stdit3Fps, stdit3PositionScales } from "../../../../compiler/lower/families/stdit3.js";
import { stdit3 } from "../../../../compiler/models/stdit3.js";
import type { Plan } from "../../../../compiler/plan/types.js";
import { allOps, blockOps, CLEAN, dangling, lowerFile, lowerText, shapeOf, weightReads } from "./plan-checks.js";

/** The tiny variants' text (compiler/models/common.ts TINY_TEXT): 8 tokens of 32 channels. */
const L = 8;
const C = 32;

/**
 * The tiny STDiT3 (D 64, 4 heads, 2+2 blocks) at 34 frames (10 latent frames) and 64x72 (latent 8x9, grid 4x5),
 * its 32-channel text from an embeddings file.
 */
function tinyYaml(extra: { layout?: string; world?: number; frames?: number; fps?: number; dtype?: string; pab?: string } = {}): string {
  const fps = extra.fps !== undefined ? `, fps: ${extra.fps}` : "";
  return `version: 1
name: tiny-stdit3
model: { family: stdit3, variant: stdit3-tiny, checkpoint: ckpts/tiny.safetensors, dtype: ${extra.dtype ?? "bf16"} }
conditioning: { embeddings: text.safetensors }
video: { frames: ${extra.frames ?? 34}, height: 64, width: 72${fps} }
seed: 3
scheduler: { kind: rflow, steps: 6, guidance: 7.0 }
${extra.layout ? `parallel: { world: ${extra.world ?? 2}, layout: "${extra.layout}" }\n` : ""}${extra.pab ?? ""}vae: { kind: opensora-vae-v1.2, checkpoint: ckpts/vae.safetensors }
output: { dir: out, formats: [latents] }
`;
}

function lowerTiny(extra: Parameters<typeof tinyYaml>[0] = {}): Plan {
  return lowerText("tiny.yaml", tinyYaml(extra));
}

describe("STDiT3 blocks", () => {
  const plan = lowerTiny();
  const { D, heads, headDim } = { D: 64, heads: 4, headDim: 16 };
  const n = 2; // the prompt and the null caption
  const rows = n * 10 * 20;

  it("runs a spatial block as adaLN rows, qk-normed attention over each frame, cross-attention and the MLP", () => {
    const ops = blockOps(plan, "spatial", 1);
    expect(ops.map((o) => o.op)).toEqual([
      "modulation",
      "layernorm_modulate",
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
    const attn = ops.find((o) => o.op === "self_attention");
    expect(attn).toMatchObject({
      batch: n * 10,
      seq: 20,
      heads,
      headDim,
      qNorm: { weight: "spatial_blocks.1.attn.q_norm.weight", eps: 1e-6 },
      kNorm: { weight: "spatial_blocks.1.attn.k_norm.weight", eps: 1e-6 },
    });
    expect(attn).not.toHaveProperty("rope");
    expect(ops[0]).toMatchObject({ op: "modulation", table: "spatial_blocks.1.scale_shift_table", source: "t.t0", chunks: 6 });
    // The qkv Linear reads the LN-modulated stream, not x.
    expect(ops[1]).toMatchObject({ x: "x", shift: { chunk: 0 }, scale: { chunk: 1 }, eps: 1e-6 });
    expect(ops[2]).toMatchObject({ x: (ops[1] as { out: string }).out, weight: "spatial_blocks.1.attn.qkv.weight", outFeatures: 3 * D });
    expect(ops[5]).toMatchObject({ op: "gate", gate: { chunk: 2 } });
    expect(ops[8]).toMatchObject({ kv: "spatial.1.cross.kv", mask: "text.mask", keys: L, queries: rows / n, heads });
    expect(ops[14]).toMatchObject({ op: "gate", gate: { chunk: 5 } });
  });

  it("runs a temporal block over the frames at each token, with RoPE after the qk norm", () => {
    const ops = blockOps(plan, "temporal", 0);
    expect(ops.map((o) => o.op)).toEqual([
      "modulation",
      "layernorm_modulate",
      "permute",
      "linear",
      "self_attention",
      "linear",
      "permute",
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
    expect(ops[0]).toMatchObject({ table: "temporal_blocks.0.scale_shift_table" });
    // Unlike STDiT 1.0, the temporal attention sees LN(x)·(1 + c1) + s1.
    expect(ops[2]).toMatchObject({ x: (ops[1] as { out: string }).out, dims: [n, 10, 20, D], perm: [0, 2, 1, 3] });
    expect(ops[4]).toMatchObject({
      batch: n * 20,
      seq: 10,
      heads,
      headDim,
      qNorm: { weight: "temporal_blocks.0.attn.q_norm.weight", eps: 1e-6 },
      kNorm: { weight: "temporal_blocks.0.attn.k_norm.weight", eps: 1e-6 },
      rope: { theta: 10000 },
    });
    expect(ops[10]).toMatchObject({ kv: "temporal.0.cross.kv", keys: L });
  });

  it("interleaves s0, t0, s1, t1 and has no temporal sin-cos table", () => {
    const order: string[] = [];
    for (const o of plan.program.step) {
      const key = o.blockKind === undefined ? undefined : `${o.blockKind[0]}${o.block}`;
      if (key && order[order.length - 1] !== key) order.push(key);
    }
    expect(order).toEqual(["s0", "t0", "s1", "t1"]);
    expect(allOps(plan).some((o) => o.op === "sincos_1d")).toBe(false);
    expect(plan.program.step.filter((o) => o.op === "add_rows" && o.table === "pos.spatial")).toHaveLength(1);
  });

  it("declares the shapes of the stream, the text, the cross kv and the padded grid", () => {
    expect(shapeOf(plan, "x")).toEqual([rows, D]);
    expect(shapeOf(plan, "latent")).toEqual([1, 4, 10, 8, 9]);
    expect(shapeOf(plan, "text")).toEqual([n, L, C]);
    expect(shapeOf(plan, "text.mask")).toEqual([n, L]);
    expect(shapeOf(plan, "caption")).toEqual([n * L, D]);
    expect(shapeOf(plan, "spatial.0.cross.kv")).toEqual([n * L, 2 * D]);
    expect(shapeOf(plan, "temporal.1.cross.kv")).toEqual([n * L, 2 * D]);
    expect(shapeOf(plan, "temporal.1.mod")).toEqual([n, 6, D]);
    expect(shapeOf(plan, "pos.spatial")).toEqual([20, D]);
    expect(shapeOf(plan, "model.out")).toEqual([n, 8, 10, 8, 9]);
    const embed = plan.program.step.find((o) => o.op === "patch_embed");
    expect(embed).toMatchObject({ latent: { frames: 10, height: 8, width: 9 }, grid: { frames: 10, rows: 4, cols: 5 }, patch: { t: 1, h: 2, w: 2 } });
    expect(embed).toMatchObject({ weight: "x_embedder.proj.weight", samples: n, inputSamples: 1 });
    const unpatchify = plan.program.step.find((o) => o.op === "unpatchify");
    expect(unpatchify).toMatchObject({ grid: { rows: 4, cols: 5 }, latent: { height: 8, width: 9 }, channels: 8 });
  });

  it("adds the fps embedding, computed once in setup, to the timestep embedding before t_block and the final layer", () => {
    const setup = plan.program.setup;
    expect(setup.find((o) => o.op === "constant")).toMatchObject({ out: "fps", values: [24], count: 1 });
    expect(setup.find((o) => o.op === "timestep_embed")).toMatchObject({ t: "fps", samples: 1, dim: 256, maxPeriod: 10000 });
    const fpsLinears = setup.filter((o) => o.op === "linear" && o.weight.startsWith("fps_embedder"));
    expect(fpsLinears.map((o) => (o.op === "linear" ? [o.weight, o.activation, o.rows] : []))).toEqual([
      ["fps_embedder.mlp.0.weight", "silu", 1],
      ["fps_embedder.mlp.2.weight", "none", 1],
    ]);
    const step = plan.program.step;
    const addFps = step.findIndex((o) => o.op === "add_rows" && o.table === "fps.emb");
    expect(step[addFps]).toMatchObject({ x: "t.emb", out: "t.emb", rows: n, width: D, period: 1, repeat: 1 });
    const tEmb = step.findIndex((o) => o.op === "linear" && o.weight === "t_embedder.mlp.2.weight");
    const silu = step.findIndex((o) => o.op === "silu" && o.x === "t.emb");
    expect(tEmb).toBeLessThan(addFps);
    expect(addFps).toBeLessThan(silu);
    expect(step.find((o) => o.op === "modulation" && o.table === "final_layer.scale_shift_table")).toMatchObject({ source: "t.emb", sourceChunks: 1 });
  });

  it("reads every checkpoint tensor exactly once, except the null caption (an input) and the skipped RoPE table", () => {
    const reads = weightReads(plan);
    const table = stdit3.weights(plan.model.hyper).map((w) => w.name);
    expect(table).not.toContain("rope.freqs");
    expect(stdit3.skippedTensors).toContain("rope.freqs");
    expect(table.filter((name) => reads.get(name) !== 1)).toEqual(["y_embedder.y_embedding"]);
    expect(reads.has("y_embedder.y_embedding")).toBe(false);
    expect(plan.weights.map((w) => w.name)).toContain("y_embedder.y_embedding");
    expect(plan.weights).toHaveLength(table.length);
  });

  it("feeds the null caption with the prompt's mask and guides the 4 velocity channels, dropping the variance half", () => {
    expect(plan.inputs.filter((i) => i.buffer === "text" || i.buffer === "text.mask")).toEqual([
      { buffer: "text", rows: { first: 0, count: 1 }, source: "text" },
      { buffer: "text.mask", rows: { first: 0, count: 1 }, source: "text-mask" },
      { buffer: "text", rows: { first: 1, count: 1 }, source: "null-text" },
      { buffer: "text.mask", rows: { first: 1, count: 1 }, source: "text-mask" },
    ]);
    expect(plan.program.step.find((o) => o.op === "guidance")).toMatchObject({
      channels: 8,
      predictionChannels: 4,
      mixed: 4,
      variance: "drop",
      scale: 7,
    });
    expect(plan.program.step.find((o) => o.op === "solver_update")).toMatchObject({ solver: "flow-euler", stride: 4, channels: 4, learnedVariance: false });
    expect(plan.schedule.guidance).toEqual({ scale: 7, mixed: 4, variance: "drop" });
  });

  it("leaves no buffer dangling and lowers deterministically", () => {
    expect(dangling(plan)).toEqual(CLEAN);
    expect(lowerTiny().hash).toBe(plan.hash);
    expect(Object.isFrozen(plan.program.step[0])).toBe(true);
  });
});

describe("STDiT3 inputs the Spec fixes", () => {
  it("scales positions by idx / scale · (base_size / n_axis) over the padded grid (§5.4)", () => {
    // 720x1280: scale 960/512, grid 45x80, base_size 60.
    const s = stdit3PositionScales(720, 1280, 45, 80);
    expect(s.rowScale).toBeCloseTo(60 / 45 / (960 / 512), 14);
    expect(s.colScale).toBeCloseTo(60 / 80 / (960 / 512), 14);
    // 240x424: grid 15x27 (latent 53 padded to 54), base_size round(sqrt(405)) = 20.
    const small = stdit3PositionScales(240, 424, 15, 27);
    const scale = Math.sqrt(240 * 424) / 512;
    expect(small.rowScale).toBeCloseTo((1 / scale) * (20 / 15), 14);
    expect(small.colScale).toBeCloseTo((1 / scale) * (20 / 27), 14);
    const plan = lowerTiny();
    expect(plan.program.setup.find((o) => o.op === "sincos_2d")).toMatchObject({
      rows: 4,
      cols: 5,
      width: 64,
      ...stdit3PositionScales(64, 72, 4, 5),
    });
  });

  it("takes fps from the Spec for video (24 by default), 120 for one frame, rounded to the model dtype", () => {
    expect(stdit3Fps(51, undefined, "bf16")).toBe(24);
    expect(stdit3Fps(51, 8, "bf16")).toBe(8);
    expect(stdit3Fps(1, 24, "bf16")).toBe(120);
    // bf16 spacing is 0.125 between 16 and 32: 29.97 becomes 30; fp32 keeps its float32 value.
    expect(stdit3Fps(51, 29.97, "bf16")).toBe(30);
    expect(stdit3Fps(51, 29.97, "fp32")).toBe(Math.fround(29.97));
    expect(lowerTiny({ fps: 29.97, dtype: "fp32" }).program.setup.find((o) => o.op === "constant")).toMatchObject({ values: [Math.fround(29.97)] });
    expect(lowerTiny({ frames: 1 }).program.setup.find((o) => o.op === "constant")).toMatchObject({ values: [120] });
  });
});

describe("STDiT3 under sequence parallelism", () => {
  const collectives = (plan: Plan, kind: "spatial" | "temporal", index: number) =>
    blockOps(plan, kind, index).filter((o) => o.op === "all_to_all");

  it("dsp 2: two all-to-alls around each temporal attention, none in spatial blocks", () => {
    const plan = lowerTiny({ layout: "dsp 2" });
    for (const i of [0, 1]) {
      expect(collectives(plan, "spatial", i)).toEqual([]);
      expect(collectives(plan, "temporal", i).map((o) => o.op === "all_to_all" && [o.axis, o.scatter, o.gather])).toEqual([
        ["dsp", 2, 1],
        ["dsp", 1, 2],
      ]);
    }
    const spatial = blockOps(plan, "spatial", 0).find((o) => o.op === "self_attention");
    expect(spatial).toMatchObject({ batch: 2 * 5, seq: 20, heads: 4 });
    const temporal = blockOps(plan, "temporal", 0).find((o) => o.op === "self_attention");
    expect(temporal).toMatchObject({ batch: 2 * 10, seq: 10, rope: { theta: 10000 } });
    expect(plan.program.step.find((o) => o.op === "patch_embed")).toMatchObject({ shard: { axis: "dsp", parts: 2, dim: "frames" } });
    expect(plan.program.step.filter((o) => o.op === "all_gather")).toMatchObject([{ axis: "dsp", dim: 1 }]);
    expect(shapeOf(plan, "x")).toEqual([2 * 5 * 20, 64]);
    expect(dangling(plan)).toEqual(CLEAN);
  });

  it("ulysses 2: two all-to-alls around each spatial attention, none in temporal blocks", () => {
    const plan = lowerTiny({ layout: "ulysses 2" });
    for (const i of [0, 1]) {
      expect(collectives(plan, "temporal", i)).toEqual([]);
      expect(collectives(plan, "spatial", i).map((o) => o.op === "all_to_all" && [o.axis, o.scatter, o.gather])).toEqual([
        ["ulysses", 3, 1],
        ["ulysses", 1, 3],
      ]);
    }
    const spatial = blockOps(plan, "spatial", 1).find((o) => o.op === "self_attention");
    expect(spatial).toMatchObject({ batch: 2 * 10, seq: 20, heads: 2, qNorm: { weight: "spatial_blocks.1.attn.q_norm.weight" } });
    const temporal = blockOps(plan, "temporal", 1).find((o) => o.op === "self_attention");
    expect(temporal).toMatchObject({ batch: 2 * 10, seq: 10, heads: 4 });
    expect(plan.program.setup.find((o) => o.op === "sincos_2d")).toMatchObject({ shard: { axis: "ulysses", parts: 2 } });
    expect(shapeOf(plan, "pos.spatial")).toEqual([10, 64]);
    expect(plan.program.step.filter((o) => o.op === "all_gather")).toMatchObject([{ axis: "ulysses", dim: 2 }]);
    expect(dangling(plan)).toEqual(CLEAN);
  });
});

describe("pipelines/opensora-v12.yaml", () => {
  const plan = lowerFile("pipelines/opensora-v12.yaml");

  it("lowers STDiT3-XL/2 at 51x720x1280 with 28 + 28 blocks", () => {
    expect(plan.model.family).toBe("stdit3");
    expect(plan.geometry.tokens).toEqual({ frames: 15, rows: 45, cols: 80 });
    expect(shapeOf(plan, "x")).toEqual([2 * 15 * 3600, 1152]);
    expect(new Set(plan.program.step.filter((o) => o.blockKind === "spatial").map((o) => o.block)).size).toBe(28);
    expect(new Set(plan.program.step.filter((o) => o.blockKind === "temporal").map((o) => o.block)).size).toBe(28);
    expect(plan.program.setup.filter((o) => o.op === "linear" && o.weight.endsWith("kv_linear.weight"))).toHaveLength(56);
    expect(plan.steps).toHaveLength(30);
    // Open-Sora 1.2's 300 T5 tokens of 4096 channels, for the prompt and the null caption.
    expect(shapeOf(plan, "text")).toEqual([2, 300, 4096]);
    expect(blockOps(plan, "temporal", 0).find((o) => o.op === "cross_attention")).toMatchObject({ keys: 300 });
    const reads = weightReads(plan);
    expect(stdit3.weights(plan.model.hyper).filter((w) => reads.get(w.name) !== 1).map((w) => w.name)).toEqual(["y_embedder.y_embedding"]);
    expect(dangling(plan)).toEqual(CLEAN);
  });

  it("carries the PAB patterns and caches the cross-attention of both block kinds", () => {
    expect(plan.patterns.length).toBeGreaterThan(1);
    const reused = new Set(plan.patterns.flatMap((p) => p.reuse));
    expect([...reused].sort()).toEqual(["cross", "spatial", "temporal"]);
    const role = (name: string) => plan.buffers.find((b) => b.name === name)?.role;
    for (let i = 0; i < 28; i++) {
      expect(role(`cache.spatial.${i}.cross`)).toBe("cache");
      expect(role(`cache.temporal.${i}.cross`)).toBe("cache");
      expect(role(`cache.spatial.${i}.attn`)).toBe("cache");
      expect(role(`cache.temporal.${i}.attn`)).toBe("cache");
    }
    expect(plan.buffers.filter((b) => b.role === "cache" && b.name.endsWith(".mlp")).map((b) => b.name).sort()).toEqual(
      [0, 1, 2, 3, 4].flatMap((i) => [`cache.spatial.${i}.mlp`, `cache.temporal.${i}.mlp`]).sort(),
    );
    // Every op of a temporal block's cross-attention branch is skipped on cross reuse steps.
    const cross = blockOps(plan, "temporal", 7).filter((o) => o.op === "cross_attention" || (o.op === "linear" && o.weight.includes("cross_attn")));
    expect(cross.map((o) => o.pab)).toEqual(["cross", "cross", "cross"]);
    const temporalAttention = blockOps(plan, "temporal", 7).filter((o) => o.pab === "temporal").map((o) => o.op);
    expect(temporalAttention).toEqual(["layernorm_modulate", "permute", "linear", "self_attention", "linear", "permute", "gate"]);
    expect(blockOps(plan, "spatial", 3).filter((o) => o.pab === "temporal")).toEqual([]);
    expect(blockOps(plan, "temporal", 3).filter((o) => o.pab === "spatial")).toEqual([]);
  });
});
