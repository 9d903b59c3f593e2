/**
 * Every parallel method, pinned on the plan it lowers to: which collectives appear, over which axis, how many
 * and around which attention; how the attentions' local heads and sequence lengths change; how the rank's
 * share of tokens, samples and text inputs is named; and that the mesh's groups of the axes in use partition
 * the ranks. Open-Sora 1.0's STDiT-XL/2 at 16x512x512 runs every method; every other family that lowers runs
 * the methods its checker accepts (DSP needs spatial-temporal blocks). Each plan also passes the published
 * schema and the verifier.
 */
import { describe, expect, it } from "vitest";
import { AXES, type Axis } from "../../../grammar/expr/types.js";
import type { GroupAxis } from "../../../compiler/lower/mesh.js";
import type { Op } from "../../../compiler/plan/ops.js";
import type { Plan } from "../../../compiler/plan/types.js";
import { verifyPlan } from "../../../compiler/plan/verify.js";
import type { Family } from "../../../compiler/spec/schema.js";
import { derivedPipeline, hasLowering, lowerText, opsOf, pipelineDocument, planValidator, type OpOf } from "./lowered.js";

interface Attentions {
  /** Self-attention over the frames at one position (sequence length T). */
  readonly temporal: OpOf<"self_attention">[];
  /** Self-attention over the tokens of one frame. */
  readonly spatial: OpOf<"self_attention">[];
}

/** Temporal attentions are those over T tokens; the bases below keep T apart from every spatial length. */
function attentions(plan: Plan): Attentions {
  const T = plan.geometry.tokens.frames;
  const all = opsOf(plan.program.step, "self_attention");
  return { temporal: all.filter((o) => T > 1 && o.seq === T), spatial: all.filter((o) => !(T > 1 && o.seq === T)) };
}

const tokensPerFrame = (plan: Plan): number => plan.geometry.tokens.rows * plan.geometry.tokens.cols;
const isCollective = (op: Op): op is OpOf<"all_to_all"> | OpOf<"all_gather"> => op.op === "all_to_all" || op.op === "all_gather";
const blockKey = (op: Op): string => `${op.blockKind ?? "-"}:${op.block ?? "-"}`;

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/** The axes of the step's all-gathers, sorted; and no collective in setup. */
function gatherAxes(plan: Plan): string[] {
  expect(plan.program.setup.filter(isCollective)).toEqual([]);
  return opsOf(plan.program.step, "all_gather")
    .map((o) => o.axis)
    .sort();
}

/** The groups of every axis in use exist, have `degree` ranks each, differ only along the axis, and partition the world. */
function expectGroupsPartition(plan: Plan, used: Readonly<Partial<Record<GroupAxis, number>>>): void {
  const { mesh } = plan;
  for (const [axis, degree] of Object.entries(used) as [GroupAxis, number][]) {
    const groups = mesh.groups[axis];
    expect(groups, axis).toBeDefined();
    const along: readonly Axis[] = axis === "sequence" ? ["ulysses", "ring", "dsp"] : axis === "decode" ? AXES.filter((a) => a !== "dp") : [axis];
    for (const g of groups!) {
      expect(g).toHaveLength(degree);
      const first = mesh.ranks[g[0]!]!.coords;
      for (const r of g) for (const a of AXES) if (!along.includes(a)) expect(mesh.ranks[r]!.coords[a], `${axis} group [${g}] on ${a}`).toBe(first[a]);
    }
    expect(
      groups!
        .flat()
        .slice()
        .sort((x, y) => x - y),
    ).toEqual(Array.from({ length: mesh.world }, (_, i) => i));
  }
}

/** DSP over `n` ranks: frames sharded; two all-to-alls around every temporal attention, nothing else inside blocks. */
function expectDsp(plan: Plan, n: number): void {
  const { temporal, spatial } = attentions(plan);
  const T = plan.geometry.tokens.frames;
  const heads = plan.model.hyper.heads;
  const toAll = opsOf(plan.program.step, "all_to_all");
  expect(temporal.length).toBeGreaterThan(0);
  expect(toAll.every((o) => o.axis === "dsp" && o.block !== undefined)).toBe(true);
  // Exactly two per block that holds a temporal attention (one switches frames to positions, one switches back).
  expect(countBy(toAll, blockKey)).toEqual(countBy([...temporal, ...temporal], blockKey));
  for (const key of Object.keys(countBy(temporal, blockKey))) {
    const pair = toAll.filter((o) => blockKey(o) === key);
    expect(pair.map((o) => [o.scatter, o.gather])).toEqual([
      [2, 1],
      [1, 2],
    ]);
  }
  expect(temporal.every((o) => o.seq === T && o.heads === heads && o.ring === undefined)).toBe(true);
  expect(spatial.every((o) => o.seq === tokensPerFrame(plan) && o.heads === heads && o.ring === undefined)).toBe(true);
  expect(opsOf(plan.program.step, "patch_embed")[0]!.shard).toEqual({ axis: "dsp", parts: n, dim: "frames" });
}

/** Ulysses `u` x Ring `r` over the tokens of each frame: all-to-alls over heads around spatial attention, K/V ring inside it. */
function expectUsp(plan: Plan, u: number, r: number): void {
  const { temporal, spatial } = attentions(plan);
  const heads = plan.model.hyper.heads;
  const S = tokensPerFrame(plan);
  const toAll = opsOf(plan.program.step, "all_to_all");
  expect(spatial.length).toBeGreaterThan(0);
  expect(toAll.every((o) => o.axis === "ulysses")).toBe(true);
  expect(toAll).toHaveLength(u > 1 ? 2 * spatial.length : 0);
  for (const a of spatial) {
    if (u > 1) {
      expect(toAll.filter((o) => o.out === a.qkv), `all-to-all into op ${a.id}`).toHaveLength(1);
      expect(toAll.filter((o) => o.x === a.out), `all-to-all out of op ${a.id}`).toHaveLength(1);
    }
    expect([a.heads, a.seq, a.ring]).toEqual([heads / u, S / r, r > 1 ? "ring" : undefined]);
  }
  for (const a of temporal) expect([a.heads, a.seq, a.ring]).toEqual([heads, plan.geometry.tokens.frames, undefined]);
  const axis = u > 1 && r > 1 ? "sequence" : u > 1 ? "ulysses" : "ring";
  expect(opsOf(plan.program.step, "patch_embed")[0]!.shard).toEqual({ axis, parts: u * r, dim: "tokens" });
}

/** CFG parallel: the conditional input on cfg rank 0, the unconditional one on rank 1, one gather before guidance. */
function expectCfg(plan: Plan): void {
  const gather = opsOf(plan.program.step, "all_gather").filter((o) => o.axis === "cfg");
  expect(gather).toHaveLength(1);
  expect(opsOf(plan.program.step, "guidance")[0]!.x).toBe(gather[0]!.out);
  const cond = plan.inputs.filter((i) => i.cfgRank === 0);
  const uncond = plan.inputs.filter((i) => i.cfgRank === 1);
  expect(cond.length).toBeGreaterThan(0);
  expect(cond.every((i) => i.source === "text" || i.source === "labels")).toBe(true);
  expect(uncond.every((i) => i.source === "null-text" || i.source === "text" || i.source === "null-labels")).toBe(true);
  expect(uncond.map((i) => [i.buffer, i.rows])).toEqual(cond.map((i) => [i.buffer, i.rows]));
  expect(plan.geometry.batch).toBe(plan.geometry.samples);
}

interface Method {
  readonly layout: string;
  readonly world: number;
  readonly samples: number;
  /** Needs spatial-temporal blocks (DSP). */
  readonly video: boolean;
  readonly check: (plan: Plan) => void;
}

const METHODS: readonly Method[] = [
  ...[2, 4].map(
    (n): Method => ({
      layout: `dsp ${n}`,
      world: n,
      samples: 1,
      video: true,
      check: (plan) => {
        expectDsp(plan, n);
        expect(gatherAxes(plan)).toEqual(["dsp"]);
        expectGroupsPartition(plan, { dsp: n });
      },
    }),
  ),
  ...[2, 4].map(
    (n): Method => ({
      layout: `ulysses ${n}`,
      world: n,
      samples: 1,
      video: false,
      check: (plan) => {
        expectUsp(plan, n, 1);
        expect(gatherAxes(plan)).toEqual(["ulysses"]);
        expectGroupsPartition(plan, { ulysses: n });
      },
    }),
  ),
  {
    layout: "ring 2",
    world: 2,
    samples: 1,
    video: false,
    check: (plan) => {
      expectUsp(plan, 1, 2);
      expect(opsOf(plan.program.step, "all_to_all")).toEqual([]);
      expect(gatherAxes(plan)).toEqual(["ring"]);
      expectGroupsPartition(plan, { ring: 2 });
    },
  },
  {
    layout: "ulysses 2 x ring 2",
    world: 4,
    samples: 1,
    video: false,
    check: (plan) => {
      expectUsp(plan, 2, 2);
      expect(gatherAxes(plan)).toEqual(["sequence"]);
      expectGroupsPartition(plan, { ulysses: 2, ring: 2, sequence: 4 });
    },
  },
  {
    layout: "cfg 2",
    world: 2,
    samples: 1,
    video: false,
    check: (plan) => {
      expectCfg(plan);
      expect(plan.program.step.filter(isCollective)).toHaveLength(1);
      expect(attentions(plan).spatial.every((o) => o.ring === undefined)).toBe(true);
      expect(gatherAxes(plan)).toEqual(["cfg"]);
      expectGroupsPartition(plan, { cfg: 2 });
    },
  },
  {
    layout: "dp 2",
    world: 2,
    samples: 2,
    video: false,
    check: (plan) => {
      expect([...plan.program.setup, ...plan.program.step].filter(isCollective)).toEqual([]);
      expect(opsOf(plan.program.step, "self_attention").every((o) => o.ring === undefined)).toBe(true);
      const sharded = plan.inputs.filter((i) => i.source !== "timestep");
      expect(sharded.map((i) => i.source)).toEqual(expect.arrayContaining(["noise"]));
      expect(sharded.every((i) => i.samplesShard?.axis === "dp" && i.samplesShard.parts === 2)).toBe(true);
      expect(plan.geometry.samples).toBe(2);
      expect(plan.buffers.find((b) => b.name === plan.outputs[0]!.buffer)!.shape[0]).toBe(1);
      expect(plan.geometry.batch).toBe(plan.schedule.guidance ? 2 : 1);
      expectGroupsPartition(plan, { dp: 2 });
    },
  },
  {
    layout: "cfg 2 x dsp 2",
    world: 4,
    samples: 1,
    video: true,
    check: (plan) => {
      expectDsp(plan, 2);
      expectCfg(plan);
      expect(gatherAxes(plan)).toEqual(["cfg", "dsp"]);
      expectGroupsPartition(plan, { cfg: 2, dsp: 2 });
    },
  },
];

interface Base {
  readonly family: Family;
  readonly file: string;
  /** Spatial-temporal blocks: DSP applies. */
  readonly spatialTemporal: boolean;
  readonly video?: { readonly frames: number; readonly height: number; readonly width: number };
}

/** One committed pipeline per family; sizes changed only where the layouts need divisible token frames. */
const BASES: readonly Base[] = [
  { family: "stdit", file: "opensora-dsp.yaml", spatialTemporal: true },
  { family: "latte", file: "latte-ucf101.yaml", spatialTemporal: true },
  { family: "latte-t2v", file: "latte-pab.yaml", spatialTemporal: true },
  { family: "opensora-plan", file: "opensora-plan-pab.yaml", spatialTemporal: true, video: { frames: 61, height: 512, width: 512 } },
  { family: "stdit3", file: "opensora-v12.yaml", spatialTemporal: true, video: { frames: 68, height: 512, width: 512 } },
  { family: "dit", file: "dit-xl-2.yaml", spatialTemporal: false },
  { family: "pixart", file: "pixart-usp.yaml", spatialTemporal: false },
];

/** The base with one method's layout and sample count (prompts or labels, made from the base's first). */
function methodPipeline(base: Base, method: Method): string {
  const conditioning = { ...(pipelineDocument(base.file).conditioning as Record<string, unknown>) };
  const prompts = conditioning.prompts as string[] | undefined;
  const labels = conditioning.labels as number[] | undefined;
  const each = Array.from({ length: method.samples }, (_, i) => i);
  if (prompts) conditioning.prompts = each.map((i) => (i === 0 ? prompts[0]! : `${prompts[0]!}, take ${i + 1}`));
  if (labels) conditioning.labels = each.map((i) => labels[0]! + i);
  return derivedPipeline(base.file, {
    parallel: { world: method.world, layout: method.layout },
    conditioning,
    ...(base.video ? { video: base.video } : {}),
  });
}

describe("the STDiT-XL/2 16x512x512 base", () => {
  it("is Open-Sora 1.0 at 16 frames of 512x512 with guidance", () => {
    const plan = lowerText("stdit.yaml", methodPipeline(BASES[0]!, METHODS.find((m) => m.layout === "cfg 2")!));
    expect([plan.model.variant, plan.geometry.frames, plan.geometry.height, plan.geometry.width]).toEqual(["STDiT-XL/2", 16, 512, 512]);
    expect(plan.schedule.guidance).not.toBeNull();
    expect(plan.model.hyper.depth).toBe(28);
  });

  it("under dsp 4 has exactly two all-to-alls in each of its 28 blocks and one gather after them", () => {
    const plan = lowerText("stdit.yaml", methodPipeline(BASES[0]!, METHODS.find((m) => m.layout === "dsp 4")!));
    const toAll = opsOf(plan.program.step, "all_to_all");
    expect(countBy(toAll, blockKey)).toEqual(Object.fromEntries(Array.from({ length: 28 }, (_, i) => [`spatial:${i}`, 2])));
    const gathers = plan.program.step.filter((o) => o.op === "all_gather");
    expect(gathers.map((o) => [o.op === "all_gather" && o.axis, o.block])).toEqual([["dsp", undefined]]);
    expect(gathers[0]!.id).toBeGreaterThan(toAll[toAll.length - 1]!.id);
  });
});

for (const base of BASES.filter((b) => hasLowering(b.family))) {
  describe(`${base.family} (${base.file})`, () => {
    const methods = METHODS.filter((m) => base.spatialTemporal || !m.video);
    it.each(methods.map((m) => [m.layout, m] as const))("%s", (_layout, method) => {
      const plan = lowerText(`${base.family}.yaml`, methodPipeline(base, method));
      expect(plan.mesh.world).toBe(method.world);
      method.check(plan);
      expect(verifyPlan(plan)).toEqual([]);
      const validate = planValidator();
      validate(JSON.parse(JSON.stringify(plan)));
      expect(validate.errors ?? []).toEqual([]);
    });
  });
}
