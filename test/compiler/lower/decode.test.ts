/**
 * Lowering the VAE decode (plan.decode): the op program of one pass in diffusers' order, whole frames, tiles
 * (their starts, the last at the edge) and the patch split over 2 and 4 ranks (decode groups, bands, halo,
 * reduce and the k/v all-gather), frames per pass, dtypes, its own memory plan (activations sharing bytes by
 * liveness, input and output held for the pass), the ranks that decode, the cost, and that the plan's hash,
 * schema and verifier cover it.
 */
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { decodeWeightBytes } from "../../../compiler/cost/decode-cost.js";
import { decodeDtype } from "../../../compiler/lower/decode/settings.js";
import { tileStarts } from "../../../compiler/lower/decode/tiles.js";
import { bufferBytes } from "../../../compiler/plan/memory.js";
import { opBuffers } from "../../../compiler/plan/op-buffers.js";
import type { Op } from "../../../compiler/plan/ops.js";
import type { Plan, PlanDecode } from "../../../compiler/plan/types.js";
import { verifyPlan } from "../../../compiler/plan/verify.js";
import type { Spec } from "../../../compiler/spec/schema.js";
import { lowerText, opsOf, planValidator, rehash, repoText, thaw } from "../plan/lowered.js";

/** A tiny DiT writing png, so it decodes with random sd-vae-ft-mse weights; `vae` and `extra` add to it. */
function dit(o: { size?: string; labels?: string; vae?: string; extra?: string } = {}): string {
  return `version: 1
name: d
model: { family: dit, variant: dit-tiny, checkpoint: random }
conditioning: { labels: ${o.labels ?? "[3]"} }
image: ${o.size ?? "{ height: 256, width: 256 }"}
scheduler: { kind: ddim, steps: 2, guidance: 4.0 }
vae: { kind: sd-vae-ft-mse, checkpoint: random${o.vae ? `, ${o.vae}` : ""} }
output: { dir: out, formats: [png] }
${o.extra ?? ""}`;
}

function decodeOf(text: string): { plan: Plan; d: PlanDecode } {
  const plan = lowerText("d.yaml", text);
  expect(plan.decode, "the plan decodes").toBeDefined();
  return { plan, d: plan.decode! };
}

function kinds(program: readonly Op[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const op of program) counts[op.op] = (counts[op.op] ?? 0) + 1;
  return counts;
}

function expectSound(plan: Plan): void {
  expect(verifyPlan(plan)).toEqual([]);
  const validate = planValidator();
  validate(JSON.parse(JSON.stringify(plan)));
  expect(validate.errors ?? []).toEqual([]);
}

describe("whole-frame decode", () => {
  const { plan, d } = decodeOf(dit());

  it("decodes the final latent of each sample on the rank that returns outputs", () => {
    expect(d).toMatchObject({
      vae: "sd-vae-ft-mse",
      checkpoint: "random",
      weightsSeed: 0,
      dtype: "bf16",
      scale: 0.18215,
      latent: { channels: 4, frames: 1, height: 32, width: 32 },
      image: { height: 256, width: 256 },
      samples: 1,
      framesPerPass: 1,
      split: { kind: "whole" },
      passes: 1,
      ranks: [0],
    });
    expect(plan.mesh.groups.decode).toBeUndefined();
    expectSound(plan);
  });

  it("runs diffusers' decoder: post_quant_conv, conv_in, mid block, 4 up blocks, norm and conv_out", () => {
    const p = d.program;
    // 14 resnets (2 mid + 4 x 3 up): 2 norms, 2 3x3 convs and an add each, plus 2 1x1 shortcuts; the mid
    // attention: a norm, 4 linears, the attention and an add; 3 upsamplers; post_quant_conv, conv_in, norm_out, conv_out.
    expect(kinds(p)).toEqual({ conv2d: 36, group_norm: 30, add: 15, linear: 4, cross_attention: 1, upsample_nearest: 3 });
    expect(p.map((o) => o.id)).toEqual(p.map((_, i) => i));
    const convs = opsOf(p, "conv2d");
    expect(convs[0]).toMatchObject({ x: d.input, weight: "post_quant_conv.weight", bias: "post_quant_conv.bias", kernel: 1, inChannels: 4, outChannels: 4, height: 32, width: 32 });
    expect(convs[1]).toMatchObject({ weight: "decoder.conv_in.weight", kernel: 3, inChannels: 4, outChannels: 512 });
    expect(convs[convs.length - 1]).toMatchObject({ weight: "decoder.conv_out.weight", out: d.output, kernel: 3, inChannels: 128, outChannels: 3, height: 256, width: 256 });
    expect(convs.filter((c) => c.kernel === 1).map((c) => c.weight)).toEqual([
      "post_quant_conv.weight",
      "decoder.up_blocks.2.resnets.0.conv_shortcut.weight",
      "decoder.up_blocks.3.resnets.0.conv_shortcut.weight",
    ]);
    const norms = opsOf(p, "group_norm");
    expect(norms.every((n) => n.groups === 32 && n.eps === 1e-6 && n.reduce === undefined)).toBe(true);
    expect(norms.filter((n) => !n.silu).map((n) => n.weight)).toEqual(["decoder.mid_block.attentions.0.group_norm.weight"]);
    expect(norms[norms.length - 1]).toMatchObject({ weight: "decoder.conv_norm_out.weight", silu: true, channels: 128, height: 256 });
    expect(opsOf(p, "upsample_nearest").map((u) => [u.height, u.channels, u.factor])).toEqual([
      [32, 512, 2],
      [64, 512, 2],
      [128, 256, 2],
    ]);
    expect(convs.every((c) => c.halo === undefined)).toBe(true);
    expect(opsOf(p, "all_gather")).toEqual([]);
  });

  it("attends each frame's pixels to all of them: one head of 512, no mask, k and v packed", () => {
    const [q, k, v, out] = opsOf(d.program, "linear");
    expect([q, k, v, out].map((l) => l!.weight)).toEqual(["to_q", "to_k", "to_v", "to_out.0"].map((n) => `decoder.mid_block.attentions.0.${n}.weight`));
    expect(k!.outColumns).toEqual({ offset: 0, stride: 1024 });
    expect(v!.outColumns).toEqual({ offset: 512, stride: 1024 });
    expect(k!.out).toBe(v!.out);
    const [attention] = opsOf(d.program, "cross_attention");
    expect(attention).toMatchObject({ q: q!.out, kv: k!.out, samples: 1, queries: 1024, keys: 1024, heads: 1, headDim: 512, scale: 1 / Math.sqrt(512) });
    expect(attention!.mask).toBeUndefined();
  });

  it("holds the decoder's 140 tensors by diffusers name, with the LDM names as aliases, in the decode dtype", () => {
    expect(d.weights).toHaveLength(140);
    expect(d.weights.every((w) => w.dtype === "bf16")).toBe(true);
    expect(d.weights.find((w) => w.name === "decoder.mid_block.attentions.0.to_q.weight")).toEqual({
      name: "decoder.mid_block.attentions.0.to_q.weight",
      shape: [512, 512],
      dtype: "bf16",
      aliases: ["decoder.mid.attn_1.q.weight", "decoder.mid_block.attentions.0.query.weight"],
    });
    expect(d.weights.find((w) => w.name === "decoder.conv_in.weight")!.aliases).toBeUndefined();
    // The denoising plan's own weight table is untouched.
    expect(plan.weights.some((w) => w.name.startsWith("decoder."))).toBe(false);
  });

  it("plans an arena of its own: activations share bytes by liveness, input and output held for the pass", () => {
    const all = d.buffers.reduce((sum, b) => sum + b.bytes, 0);
    expect(d.arenaBytes).toBeLessThan(all / 4);
    const input = d.buffers.find((b) => b.name === d.input)!;
    const output = d.buffers.find((b) => b.name === d.output)!;
    expect(input).toMatchObject({ role: "input", shape: [1, 32, 32, 4], dtype: "bf16" });
    expect(output).toMatchObject({ role: "output", shape: [1, 256, 256, 3], dtype: "bf16" });
    expect(input.live).toBeUndefined();
    expect(output.live).toBeUndefined();
    // Each activation lives from the op that writes it to the last op that reads it.
    for (const b of d.buffers.filter((x) => x.role === "activation")) {
      const users = d.program.filter((op) => [...opBuffers(op).reads, ...opBuffers(op).writes].includes(b.name)).map((op) => op.id);
      expect(b.live, b.name).toEqual([Math.min(...users), Math.max(...users)]);
      expect(b.bytes).toBe(bufferBytes(b));
    }
    const peak = Math.max(...d.buffers.map((b) => b.offset + b.bytes));
    expect(d.arenaBytes).toBeGreaterThanOrEqual(peak);
  });

  it("is priced: FLOPs of its convolutions and attention, seconds from the GPU profile, peak = arena + weights", () => {
    expect(d.cost.peakBytesPerRank).toBe(d.arenaBytes + decodeWeightBytes(d));
    expect(decodeWeightBytes(d)).toBe(49_490_199 * 2);
    const convFlops = opsOf(d.program, "conv2d").reduce((s, c) => s + 2 * c.frames * c.height * c.width * c.inChannels * c.outChannels * c.kernel ** 2, 0);
    expect(d.cost.flopsPerPass).toBeGreaterThan(convFlops);
    expect(d.cost.flopsPerPass).toBeLessThan(1.05 * convFlops);
    expect(d.cost.secondsPerPass).toBeGreaterThan(d.cost.flopsPerPass / 990e12);
    expect(d.cost.totalSeconds).toBeCloseTo(d.cost.secondsPerPass * d.passes * d.samples, 12);
  });
});

describe("tiled decode", () => {
  it("cuts tiles of tile - overlap stride, the last aligned to the edge", () => {
    expect(tileStarts(64, 32, 8)).toEqual([0, 24, 32]);
    expect(tileStarts(64, 64, 8)).toEqual([0]);
    expect(tileStarts(32, 64, 8)).toEqual([0]);
    expect(tileStarts(100, 40, 0)).toEqual([0, 40, 60]);
    expect(tileStarts(128, 64, 8)).toEqual([0, 56, 64]);
    expect(() => tileStarts(64, 32, 32)).toThrow(/no stride/);
  });

  it("decodes 256-pixel tiles overlapping by 64 of a 512x256 image: one program of the tile size, 3 x 1 passes", () => {
    const { plan, d } = decodeOf(dit({ size: "{ height: 512, width: 256 }", vae: "tiling: { tile: 256, overlap: 64 }" }));
    expect(d.split).toEqual({ kind: "tiled", tile: { height: 32, width: 32 }, overlap: 8, rows: [0, 24, 32], cols: [0] });
    expect(d.passes).toBe(3);
    expect(d.buffers.find((b) => b.name === d.input)!.shape).toEqual([1, 32, 32, 4]);
    expect(d.buffers.find((b) => b.name === d.output)!.shape).toEqual([1, 256, 256, 3]);
    expect(d.ranks).toEqual([0]);
    expectSound(plan);
    // A tile decodes like a whole image of its size.
    const whole = decodeOf(dit()).d;
    expect(d.program).toEqual(whole.program);
  });

  it("defaults to 512-pixel tiles with 64 pixels of overlap", () => {
    const { d } = decodeOf(dit({ size: "{ height: 1024, width: 768 }", vae: "tiling: true" }));
    expect(d.split).toEqual({ kind: "tiled", tile: { height: 64, width: 64 }, overlap: 8, rows: [0, 56, 64], cols: [0, 32] });
    expect(d.passes).toBe(6);
  });
});

describe("patch-split decode", () => {
  it("splits the rows over the 2 ranks of cfg 2 by default: bands, halo rows, reduced norms, gathered k/v", () => {
    const { plan, d } = decodeOf(dit({ extra: 'parallel: { world: 2, layout: "cfg 2" }\n' }));
    expect(d.split).toEqual({ kind: "patch", axis: "decode", parts: 2 });
    expect(plan.mesh.groups.decode).toEqual([[0, 1]]);
    expect(plan.mesh.intraNode.decode).toBe(true);
    expect(d.ranks).toEqual([0, 1]);
    expect(d.passes).toBe(1);
    expect(d.buffers.find((b) => b.name === d.input)!.shape).toEqual([1, 16, 32, 4]);
    expect(d.buffers.find((b) => b.name === d.output)!.shape).toEqual([1, 128, 256, 3]);
    const convs = opsOf(d.program, "conv2d");
    expect(convs.filter((c) => c.kernel === 3).every((c) => c.halo?.axis === "decode")).toBe(true);
    expect(convs.filter((c) => c.kernel === 1).every((c) => c.halo === undefined)).toBe(true);
    expect(opsOf(d.program, "group_norm").every((n) => n.reduce?.axis === "decode")).toBe(true);
    const [gather] = opsOf(d.program, "all_gather");
    // Each member's 16 x 32 band of pixels: 512 queries against the frame's 1024 keys.
    expect(gather).toMatchObject({ axis: "decode", dims: [1, 1, 512, 1024], dim: 2 });
    expect(opsOf(d.program, "cross_attention")[0]).toMatchObject({ kv: gather!.out, queries: 512, keys: 1024 });
    expectSound(plan);
    // The same work as whole frames, split in two.
    const whole = decodeOf(dit()).d;
    expect(d.cost.flopsPerPass * 2).toBeCloseTo(whole.cost.flopsPerPass, -3);
  });

  it("splits over 4 ranks (cfg 2 x ring 2): bands of 8 latent rows, one group", () => {
    const { plan, d } = decodeOf(dit({ extra: 'parallel: { world: 4, layout: "cfg 2 x ring 2" }\n' }));
    expect(d.split).toEqual({ kind: "patch", axis: "decode", parts: 4 });
    expect(plan.mesh.groups.decode).toEqual([[0, 1, 2, 3]]);
    expect(d.ranks).toEqual([0, 1, 2, 3]);
    expect(d.buffers.find((b) => b.name === d.input)!.shape).toEqual([1, 8, 32, 4]);
    expect(opsOf(d.program, "cross_attention")[0]).toMatchObject({ queries: 256, keys: 1024 });
    expectSound(plan);
  });

  it("keeps each dp group's samples to itself: dp 2 x cfg 2 makes two decode groups of 2", () => {
    const { plan, d } = decodeOf(dit({ labels: "[3, 5]", extra: 'parallel: { world: 4, layout: "dp 2 x cfg 2" }\n' }));
    expect(plan.mesh.groups.decode).toEqual([
      [0, 1],
      [2, 3],
    ]);
    expect(d).toMatchObject({ split: { kind: "patch", parts: 2 }, samples: 1, ranks: [0, 1, 2, 3] });
    expectSound(plan);
    const none = decodeOf(dit({ labels: "[3, 5]", vae: "parallel: none", extra: 'parallel: { world: 4, layout: "dp 2 x cfg 2" }\n' }));
    expect(none.d).toMatchObject({ split: { kind: "whole" }, ranks: [0, 2] });
    expect(none.plan.mesh.groups.decode).toBeUndefined();
    expectSound(none.plan);
  });

  it("falls back to whole frames when the rows do not split (ring 3), under PipeFusion, and with tiling", () => {
    expect(decodeOf(dit({ extra: 'parallel: { world: 3, layout: "ring 3", pad: true }\n' })).d.split).toEqual({ kind: "whole" });
    const piped = decodeOf(dit({ extra: 'parallel: { world: 2, layout: "pipefusion 2", pipefusion: { patches: 2, warmup: 1 } }\n' }));
    expect(piped.d).toMatchObject({ split: { kind: "whole" }, ranks: [1] });
    expect(decodeOf(dit({ vae: "tiling: true", size: "{ height: 1024, width: 1024 }", extra: 'parallel: { world: 2, layout: "cfg 2" }\n' })).d.split.kind).toBe("tiled");
  });
});

describe("frames, dtypes and when nothing decodes", () => {
  /** The quickstart (stdit-tiny, 4 frames of 64x64, fp32) written as mp4. */
  function quickstart(vae: string): string {
    const doc = parse(repoText("pipelines/quickstart.yaml")) as Spec;
    return stringify({ ...doc, vae: parse(`{ kind: sd-vae-ft-ema, checkpoint: random, ${vae} }`) as unknown, output: { dir: "out", formats: ["mp4"] } });
  }

  it("decodes frames_per_pass frames a pass, at most the latent's", () => {
    const one = decodeOf(quickstart("weights_seed: 7")).d;
    expect(one).toMatchObject({ framesPerPass: 1, passes: 4, weightsSeed: 7, dtype: "f32", latent: { frames: 4, height: 8, width: 8 } });
    const three = decodeOf(quickstart("frames_per_pass: 3"));
    expect(three.d).toMatchObject({ framesPerPass: 3, passes: 2 });
    expect(three.d.buffers.find((b) => b.name === three.d.input)!.shape).toEqual([3, 8, 8, 4]);
    expect(opsOf(three.d.program, "cross_attention")[0]).toMatchObject({ samples: 3, queries: 64, keys: 64 });
    expectSound(three.plan);
    expect(decodeOf(quickstart("frames_per_pass: 9")).d).toMatchObject({ framesPerPass: 4, passes: 1 });
  });

  it("decodes in the model's dtype, the Spec's vae.dtype, and keeps the SDXL VAE of an fp16 model in bf16", () => {
    expect(decodeOf(dit({ vae: "dtype: fp32" })).d.buffers.every((b) => b.dtype === "f32")).toBe(true);
    const spec = (dtype: "fp16" | "bf16" | "fp32", vaeDtype?: "fp32") =>
      ({ model: { dtype }, vae: { kind: "sdxl-vae", ...(vaeDtype ? { dtype: vaeDtype } : {}) } }) as unknown as Spec;
    expect(decodeDtype(spec("fp16"), "sdxl-vae")).toBe("bf16");
    expect(decodeDtype(spec("fp16"), "sd-vae-ft-ema")).toBe("f16");
    expect(decodeDtype(spec("bf16"), "sdxl-vae")).toBe("bf16");
    expect(decodeDtype(spec("fp16", "fp32"), "sdxl-vae")).toBe("f32");
  });

  it("is absent when the output is latents only (the default) or the VAE is none", () => {
    const latents = lowerText("d.yaml", dit().replace("formats: [png]", "formats: [latents]"));
    expect(latents.decode).toBeUndefined();
    expect(lowerText("d.yaml", dit().replace(/vae: .*\n/, "vae: { kind: none }\n").replace("formats: [png]", "formats: [latents]")).decode).toBeUndefined();
    expect(lowerText("d.yaml", dit().replace(/output: .*\n/, "")).decode).toBeUndefined();
    expect(lowerText("q.yaml", repoText("pipelines/quickstart.yaml")).decode).toBeUndefined();
  });
});

describe("the plan around the decode", () => {
  it("covers the decode by its hash, and leaves the denoising plan as it was", () => {
    const whole = lowerText("d.yaml", dit());
    const tiled = lowerText("d.yaml", dit({ vae: "tiling: { tile: 128, overlap: 32 }" }));
    expect(tiled.hash).not.toBe(whole.hash);
    const { decode: _a, hash: _h, ...rest } = whole;
    const { decode: _b, hash: _i, ...restTiled } = tiled;
    expect(restTiled).toEqual(rest);
  });

  it("is checked by the verifier: a wrong pass count, split, size or a decode op in the step program", () => {
    const base = lowerText("d.yaml", dit({ extra: 'parallel: { world: 2, layout: "cfg 2" }\n' }));
    const passes = thaw(base);
    passes.decode!.passes = 2;
    expect(verifyPlan(rehash(passes))).toEqual(["decode: passes is 2, not ceil(frames / framesPerPass) x tiles = 1"]);
    const parts = thaw(base);
    parts.decode!.split = { kind: "patch", axis: "decode", parts: 4 };
    expect(verifyPlan(rehash(parts))).toContain("decode: the patch split has 4 parts, but the mesh's decode groups hold 2 ranks");
    const conv = thaw(base);
    const first = conv.decode!.program.find((o) => o.op === "conv2d" && o.kernel === 3)!;
    if (first.op === "conv2d") first.inChannels = 8;
    expect(verifyPlan(rehash(conv)).some((p) => /^decode: decode op 1 \(conv2d\): x `decode\.post_quant_conv` holds \d+ values, not frames·height·width·inChannels/.test(p))).toBe(true);
    const stray = thaw(base);
    stray.program.step.push({ ...stray.decode!.program[0]!, id: stray.program.step.length });
    expect(verifyPlan(rehash(stray)).some((p) => p.includes("(conv2d) belongs to the VAE decode, not the step program"))).toBe(true);
    const groups = thaw(base);
    delete groups.mesh.groups.decode;
    expect(verifyPlan(rehash(groups))).toContain("mesh has no groups for decode, whose degree is above 1");
    const unhashed = thaw(base);
    unhashed.decode!.weightsSeed = 5;
    expect(verifyPlan(unhashed as Plan)[0]).toMatch(/^hash [0-9a-f]{64} is not the sha256/);
  });
});
