/**
 * Uneven splits lowered by padding with masking (issue 3; compiler/lower/padding.ts): DSP's token frames and
 * tokens per frame, Ulysses x Ring's tokens per frame, Ulysses' heads. Each padded plan passes the published
 * schema and the verifier, masks its padded positions as attention keys, drops them in unpatchify, reports them
 * in its padding table and in `opendit plan`'s text, and pays for them in its cost. Plans of even layouts carry
 * none of it.
 */
import { describe, expect, it } from "vitest";
import { renderPlanText } from "../../../cli/render/plan-text.js";
import { costContext, opCost } from "../../../compiler/cost/ops-cost.js";
import type { Plan } from "../../../compiler/plan/types.js";
import { verifyPlan } from "../../../compiler/plan/verify.js";
import { derivedPipeline, loweringPipelines, lowerText, opsOf, planValidator, rehash, thaw, type Mutable, type OpOf } from "../plan/lowered.js";

/** A committed pipeline with other sections, lowered (the checker must accept it, warnings aside). */
function lowered(file: string, changes: Readonly<Record<string, unknown>>): Plan {
  return lowerText(file, derivedPipeline(file, changes));
}

function expectSound(plan: Plan): void {
  expect(verifyPlan(plan)).toEqual([]);
  const validate = planValidator();
  validate(JSON.parse(JSON.stringify(plan)));
  expect(validate.errors ?? []).toEqual([]);
}

/** Self-attentions over the frames at a token (STDiT's `temporal` names) and over a frame's tokens. */
function attentions(plan: Plan): { temporal: OpOf<"self_attention">[]; spatial: OpOf<"self_attention">[] } {
  const all = opsOf(plan.program.step, "self_attention");
  const temporal = all.filter((o) => o.qkv.includes("temporal"));
  return { temporal, spatial: all.filter((o) => !temporal.includes(o)) };
}

/** FLOPs of the step's ops of one cost kind, optionally only those `pick` keeps. */
function flopsOf(plan: Plan, kind: "gemm" | "attention", pick: (op: Plan["program"]["step"][number]) => boolean = () => true): number {
  const ctx = costContext(plan);
  return plan.program.step.filter(pick).reduce((sum, op) => {
    const cost = opCost(op, ctx);
    return cost.kind === kind ? sum + cost.flops : sum;
  }, 0);
}

/** The rows of the residual stream, which every token-wise Linear runs over. */
const streamRows = (plan: Plan): number => plan.buffers.find((b) => b.name === "x")!.shape[0]!;
const tokenLinear = (plan: Plan) => (op: Plan["program"]["step"][number]) => op.op === "linear" && op.rows === streamRows(plan);

const stdit15 = { video: { frames: 15, height: 512, width: 512, fps: 8 } };

describe("DSP over 15 token frames (STDiT-XL/2, dsp 2, pad: true)", () => {
  const plan = lowered("opensora-dsp.yaml", { ...stdit15, parallel: { world: 2, layout: "dsp 2", pad: true } });
  const n = plan.geometry.batch;

  it("lowers to a sound plan whose padding table names the 16th frame", () => {
    expectSound(plan);
    expect(plan.padding).toEqual([{ dim: "frames", from: 15, to: 16, parts: 2, wasted: 1 / 16 }]);
  });

  it("runs temporal attention over 16 frames with the padded one masked as a key", () => {
    const { temporal, spatial } = attentions(plan);
    expect(temporal).toHaveLength(28);
    for (const a of temporal) expect([a.batch, a.seq, a.validKeys]).toEqual([n * (1024 / 2), 16, 15]);
    // Spatial attention runs within each of the rank's 8 frames: nothing of a frame is padding.
    for (const a of spatial) expect([a.batch, a.seq, a.validKeys]).toEqual([n * 8, 1024, undefined]);
    const table = plan.buffers.find((b) => b.name === "pos.temporal")!;
    expect(table.shape).toEqual([16, 1152]);
  });

  it("embeds 16 frames (the last one zero) and drops the padded frame in unpatchify: the latent keeps 15", () => {
    const [embed] = opsOf(plan.program.step, "patch_embed");
    expect(embed!.padded).toEqual({ frames: 16, tokens: 1024 });
    expect(embed!.shard).toEqual({ axis: "dsp", parts: 2, dim: "frames" });
    expect(streamRows(plan)).toBe(n * 8 * 1024);
    const [unpatchify] = opsOf(plan.program.step, "unpatchify");
    expect(unpatchify!.padded).toEqual({ frames: 16, tokens: 1024 });
    expect(plan.buffers.find((b) => b.name === unpatchify!.x)!.shape).toEqual([n * 16 * 1024, 32]);
    expect(plan.buffers.find((b) => b.name === unpatchify!.out)!.shape).toEqual([n, 8, 15, 64, 64]);
    const latent = plan.buffers.find((b) => b.name === plan.outputs[0]!.buffer)!;
    expect(latent.shape).toEqual([1, 4, 15, 64, 64]);
  });

  it("shows the padding in one line of `opendit plan`", () => {
    const lines = renderPlanText(plan).split("\n");
    expect(lines.filter((l) => l.startsWith("padding"))).toEqual(["padding   token frames 15 -> 16 over 2 ranks (6.3% thrown away)"]);
  });

  it("costs the padded frame: per rank, the token-wise GEMMs of 16 frames of the 15 over 2 ranks", () => {
    const single = lowered("opensora-dsp.yaml", { ...stdit15, parallel: { world: 1 } });
    expect(single.padding).toBeUndefined();
    const share = 16 / 15;
    expect((2 * flopsOf(plan, "gemm", tokenLinear(plan))) / flopsOf(single, "gemm", tokenLinear(single))).toBeCloseTo(share, 12);
    // Attention grows by the share (spatial, cross) or its square (temporal, quadratic in the frames).
    const attention = (2 * flopsOf(plan, "attention")) / flopsOf(single, "attention");
    expect(attention).toBeGreaterThan(share);
    expect(attention).toBeLessThan(share * share);
    expect(2 * plan.cost.flopsPerStep).toBeGreaterThan(share * single.cost.flopsPerStep);
  });
});

describe("DSP over 225 tokens per frame (STDiT-XL/2, 16 frames of 240x240, dsp 2, pad: true)", () => {
  const plan = lowered("opensora-dsp.yaml", { video: { frames: 16, height: 240, width: 240, fps: 8 }, parallel: { world: 2, layout: "dsp 2", pad: true } });
  const n = plan.geometry.batch;

  it("pads each frame to 226 tokens, masked as keys of spatial attention, and embeds a zero-padded positional table", () => {
    expectSound(plan);
    expect(plan.padding).toEqual([{ dim: "tokens", from: 225, to: 226, parts: 2, wasted: 1 / 226 }]);
    const { temporal, spatial } = attentions(plan);
    for (const a of spatial) expect([a.batch, a.seq, a.validKeys]).toEqual([n * 8, 226, 225]);
    for (const a of temporal) expect([a.batch, a.seq, a.validKeys]).toEqual([n * 113, 16, undefined]);
    const [table] = opsOf(plan.program.setup, "sincos_2d");
    expect([table!.rows, table!.cols, table!.padded, table!.shard]).toEqual([15, 15, 226, undefined]);
    expect(opsOf(plan.program.step, "all_to_all")[0]!.dims).toEqual([n, 8, 226, 1152]);
    expect(opsOf(plan.program.step, "unpatchify")[0]!.padded).toEqual({ frames: 16, tokens: 226 });
  });
});

describe("Ulysses x Ring over 225 tokens (DiT-XL/2 at 240x240, pad: true)", () => {
  it("ulysses 2 pads to 226 tokens: 113 a rank at rest, attention over 226 with 225 real keys", () => {
    const plan = lowered("dit-xl-2.yaml", { image: { height: 240, width: 240 }, parallel: { world: 2, layout: "ulysses 2", pad: true } });
    expectSound(plan);
    const n = plan.geometry.batch;
    expect(plan.padding).toEqual([{ dim: "tokens", from: 225, to: 226, parts: 2, wasted: 1 / 226 }]);
    expect(streamRows(plan)).toBe(n * 113);
    for (const a of opsOf(plan.program.step, "self_attention")) expect([a.batch, a.seq, a.heads, a.validKeys, a.ring]).toEqual([n, 226, 8, 225, undefined]);
    const [table] = opsOf(plan.program.setup, "sincos_2d");
    expect([table!.padded, table!.shard]).toEqual([226, { axis: "ulysses", parts: 2 }]);
    expect(opsOf(plan.program.step, "patch_embed")[0]!.padded).toEqual({ frames: 1, tokens: 226 });
    expect(plan.buffers.find((b) => b.name === plan.outputs[0]!.buffer)!.shape).toEqual([4, 4, 1, 30, 30]);
  });

  it("ulysses 2 x ring 2 pads to 228: each ring rank's chunk of 114, keys masked over the ring's whole sequence", () => {
    const plan = lowered("dit-xl-2.yaml", { image: { height: 240, width: 240 }, parallel: { world: 4, layout: "ulysses 2 x ring 2", pad: true } });
    expectSound(plan);
    expect(plan.padding).toEqual([{ dim: "tokens", from: 225, to: 228, parts: 4, wasted: 3 / 228 }]);
    for (const a of opsOf(plan.program.step, "self_attention")) expect([a.seq, a.heads, a.validKeys, a.ring]).toEqual([114, 8, 225, "ring"]);
    expect(opsOf(plan.program.step, "unpatchify")[0]!.padded).toEqual({ frames: 1, tokens: 228 });
  });
});

describe("Ulysses over 16 heads with pad_heads: true", () => {
  const dit = lowered("dit-xl-2.yaml", { image: { height: 240, width: 240 }, parallel: { world: 3, layout: "ulysses 3", pad_heads: true } });
  const W = 18 * 72;

  it("DiT-XL/2 with ulysses 3 pads to 18 heads, 6 a rank; no token is padded (225 splits in 3)", () => {
    expectSound(dit);
    expect(dit.padding).toEqual([{ dim: "heads", from: 16, to: 18, parts: 3, wasted: 2 / 18 }]);
    const rows = streamRows(dit);
    const qkv = opsOf(dit.program.step, "linear").filter((o) => o.weight.endsWith("attn.qkv.weight"));
    expect(qkv).toHaveLength(28);
    for (const l of qkv) {
      expect([l.outFeatures, l.padColumns, l.outColumns]).toEqual([3 * 1152, { chunks: 3, width: W }, undefined]);
      expect(dit.buffers.find((b) => b.name === l.out)!.shape).toEqual([rows, 3 * W]);
    }
    for (const a of opsOf(dit.program.step, "self_attention")) expect([a.seq, a.heads, a.validKeys]).toEqual([225, 6, undefined]);
    const toAll = opsOf(dit.program.step, "all_to_all");
    expect(toAll.filter((o) => o.scatter === 3).every((o) => o.dims[2] === 3 && o.dims[3] === W)).toBe(true);
    expect(toAll.filter((o) => o.scatter === 1).every((o) => o.dims[3] === W / 3)).toBe(true);
    const proj = opsOf(dit.program.step, "linear").filter((o) => o.weight.endsWith("attn.proj.weight"));
    for (const l of proj) expect([l.inFeatures, l.inColumns]).toEqual([1152, { offset: 0, stride: W }]);
  });

  it("costs the zero heads: attention FLOPs of 18 heads of 16", () => {
    const single = lowered("dit-xl-2.yaml", { image: { height: 240, width: 240 } });
    expect((3 * flopsOf(dit, "attention")) / flopsOf(single, "attention")).toBeCloseTo(18 / 16, 12);
  });

  it("PixArt-α 1024-MS with ulysses 3 pads both the heads and the 4096 tokens", () => {
    const plan = lowered("pixart-usp.yaml", { parallel: { world: 3, layout: "ulysses 3", pad: true, pad_heads: true } });
    expectSound(plan);
    expect(plan.padding?.map((p) => [p.dim, p.from, p.to])).toEqual([
      ["tokens", 4096, 4098],
      ["heads", 16, 18],
    ]);
    for (const a of opsOf(plan.program.step, "self_attention")) expect([a.seq, a.heads, a.validKeys]).toEqual([4098, 6, 4096]);
    expect(renderPlanText(plan)).toContain("padding   tokens per frame 4096 -> 4098 over 3 ranks (0.0% thrown away); attention heads 16 -> 18 over 3 ranks (11.1% thrown away)\n");
  });

  it("Latte-1's separate to_q, to_k, to_v each write their real heads, then zeros, into a third of the padded qkv", () => {
    const plan = lowered("latte-pab.yaml", { parallel: { world: 3, layout: "ulysses 3", pad: true, pad_heads: true } });
    expectSound(plan);
    const block0 = opsOf(plan.program.step, "linear").filter((o) => /^transformer_blocks\.0\.attn1\.to_[qkv]\./.test(o.weight));
    expect(block0.map((o) => [o.outColumns, o.padColumns])).toEqual([0, 1, 2].map((s) => [{ offset: s * W, stride: 3 * W }, { chunks: 1, width: W }]));
    // Temporal attention is local under Ulysses: its heads are the model's.
    const temporal = opsOf(plan.program.step, "linear").filter((o) => /^temporal_transformer_blocks\.0\.attn1\.to_[qkv]\./.test(o.weight));
    expect(temporal.every((o) => o.padColumns === undefined && o.outColumns?.stride === 3 * 1152)).toBe(true);
  });
});

describe("the verifier on padded plans", () => {
  const dsp = lowered("opensora-dsp.yaml", { ...stdit15, parallel: { world: 2, layout: "dsp 2", pad: true } });
  const heads = lowered("dit-xl-2.yaml", { image: { height: 240, width: 240 }, parallel: { world: 3, layout: "ulysses 3", pad_heads: true } });

  /** The problems of a changed copy of `from` (rehashed, so only the change is caught). */
  function problems(from: Plan, change: (plan: Mutable<Plan>) => void): string[] {
    const plan = thaw(from);
    change(plan);
    return verifyPlan(rehash(plan));
  }
  /** The first step op of a kind in a thawed plan, as the JSON object it is. */
  const op = (plan: Mutable<Plan>, name: string) => plan.program.step.find((o) => o.op === name) as unknown as Record<string, unknown>;

  it("catches more valid keys than a sequence has", () => {
    const found = problems(dsp, (p) => {
      const masked = p.program.step.find((o) => o.op === "self_attention" && o.validKeys !== undefined) as { validKeys?: number };
      masked.validKeys = 17;
    });
    expect(found.some((t) => /17 valid keys exceed the 16 keys/.test(t)), found.join("\n")).toBe(true);
  });

  it("catches a padding table that leaves out what the ops pad", () => {
    const found = problems(dsp, (p) => {
      delete p.padding;
    });
    expect(found).toContain("the padding table lists [], but the ops pad [frames]");
  });

  it("catches an unpatchify that reads the grid where the tokens are padded", () => {
    const found = problems(dsp, (p) => {
      delete op(p, "unpatchify").padded;
    });
    expect(found.some((t) => /unpatchify.*x `final.gathered` holds/.test(t)), found.join("\n")).toBe(true);
  });

  it("catches zero-head columns too narrow for the real heads", () => {
    const found = problems(heads, (p) => {
      const qkv = p.program.step.find((o) => o.op === "linear" && o.padColumns !== undefined) as { padColumns: { width: number } };
      qkv.padColumns.width = 1000;
    });
    expect(found.some((t) => /3456 features do not make 3 runs of at most 1000 columns/.test(t)), found.join("\n")).toBe(true);
  });

});

describe("every lowering family with a padded layout", () => {
  const cases: readonly [string, string, Record<string, unknown>][] = [
    ["latte", "latte-ucf101.yaml", { video: { frames: 15, height: 256, width: 256 }, parallel: { world: 2, layout: "dsp 2", pad: true } }],
    ["latte-t2v", "latte-pab.yaml", { video: { frames: 15, height: 512, width: 512 }, parallel: { world: 2, layout: "dsp 2", pad: true } }],
    ["stdit3", "opensora-v12.yaml", { video: { frames: 51, height: 512, width: 512 }, parallel: { world: 2, layout: "dsp 2", pad: true } }],
    ["opensora-plan", "opensora-plan-pab.yaml", { video: { frames: 61, height: 512, width: 512 }, parallel: { world: 3, layout: "ulysses 3", pad: true, pad_heads: true } }],
  ];
  it.each(cases)("%s (%s) lowers to a sound plan with a padding table", (_family, file, changes) => {
    const plan = lowered(file, changes);
    expectSound(plan);
    expect(plan.padding?.length).toBeGreaterThan(0);
  });
});

describe("even layouts", () => {
  it.each(loweringPipelines().map((p) => [p.path, p] as const))("%s carries no padding table and no padding field on any op", (path, p) => {
    const json = JSON.stringify(lowerText(path, p.text));
    expect(json).not.toMatch(/"(padding|padded|validKeys|padColumns|inColumns)":/);
  });
});
