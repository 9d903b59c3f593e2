/**
 * PAB lowering: VideoSys's worked Open-Sora schedule (opendit-videosys.md §1.5) comes out letter for letter,
 * the window test is strict and sees the timestep the reference model sees (bf16 cast and int() truncation
 * where the model has them), `every 1` and missing windows never reuse, MLP broadcast ranges and live cache
 * counts follow the Spec, cache buffers are counted over the blocks that hold each attention, and pattern ids
 * are deterministic, in order of first appearance and minimal.
 */
import { describe, expect, it } from "vitest";
import type { Facts } from "../../../compiler/check/facts.js";
import { attentionModeOf, lowerPab, mlpModeOf, type PabPlan } from "../../../compiler/lower/pab.js";
import { pabTestTimestep, roundToDtype } from "../../../compiler/lower/pab-timestep.js";
import { knownFamilies } from "../../../compiler/models/registry.js";
import { timesteps } from "../../../compiler/schedule/timesteps.js";
import type { Spec } from "../../../compiler/spec/schema.js";
import { validateText } from "../../../compiler/validate.js";

/** A Spec and its Facts after a check without errors (warnings such as `every 1` are allowed). */
function checked(yaml: string): { spec: Spec; facts: Facts } {
  const r = validateText("t.yaml", yaml, { fileExists: () => false, baseDir: "/nonexistent" });
  const errors = r.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
  expect(errors).toEqual([]);
  return { spec: r.spec!, facts: r.facts! };
}

const indent = (text: string, by: string): string =>
  text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => by + l)
    .join("\n");

/**
 * Open-Sora 1.2 (STDiT3-XL/2) with rectified flow, 30 steps, 51 frames, at 480p 9:16. Open-Sora's preset for
 * that is 480x854, whose width opendit rejects for the VAE (not a multiple of 8), but the timestep transform
 * reads only the pixel area and the frame count (timesteps.ts `rflowShift`), so the Spec is checked at 480x848
 * and its timesteps are those timesteps.ts gives for 480x854.
 */
function opensora480(pab: string, dtype = "bf16"): { spec: Spec; facts: Facts } {
  const { spec, facts } = checked(`version: 1
name: t
model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: random, dtype: ${dtype} }
conditioning: { prompts: ["a cat"] }
video: { frames: 51, height: 480, width: 848 }
scheduler: { kind: rflow, steps: 30, guidance: 7.0 }
${pab.length > 0 ? `acceleration:\n  pab:\n${indent(pab, "    ")}` : ""}
`);
  return { spec, facts: { ...facts, timesteps: timesteps(spec.scheduler, { frames: 51, height: 480, width: 854 }) } };
}

/** The plan of `opensora480`. */
function lowered(pab: string, dtype = "bf16"): PabPlan {
  const { spec, facts } = opensora480(pab, dtype);
  return lowerPab(spec, facts);
}

const OPENSORA_DEFAULTS = `spatial: every 2 in [450, 930]
temporal: every 4 in [450, 930]
cross: every 6 in [450, 930]`;

const kindPlan = (plan: PabPlan, kind: string) => plan.attention.find((a) => a.kind === kind)!;

describe("the timestep a window tests", () => {
  it("rounds to bf16 and fp16 to nearest, ties to even, as torch's cast does", () => {
    expect(roundToDtype(930.16, "bf16")).toBe(932);
    expect(roundToDtype(929.93, "bf16")).toBe(928);
    expect(roundToDtype(995, "bf16")).toBe(996);
    expect(roundToDtype(257.02, "bf16")).toBe(258);
    expect(roundToDtype(143.11, "bf16")).toBe(143);
    // 930 and 934 lie halfway between bf16 neighbours 4 apart: the even significand wins.
    expect(roundToDtype(930, "bf16")).toBe(928);
    expect(roundToDtype(934, "bf16")).toBe(936);
    expect(roundToDtype(0.0123, "bf16")).toBe(0.0123291015625);
    // An fp32 subnormal keeps bf16's fixed spacing of 2^-133 there.
    expect(roundToDtype(1e-40, "bf16")).toBe(9.183549615799121e-41);
    expect(roundToDtype(930.16, "fp16")).toBe(930);
    expect(roundToDtype(930.3, "fp16")).toBe(930.5);
    expect(roundToDtype(930.16, "fp32")).toBe(Math.fround(930.16));
  });

  it("truncates like Python's int(), after the cast only where the model casts", () => {
    expect(pabTestTimestep(930.16, "model-dtype", "bf16")).toBe(932);
    expect(pabTestTimestep(930.16, "model-dtype", "fp32")).toBe(930);
    expect(pabTestTimestep(930.16, "scheduler", "bf16")).toBe(930);
    expect(pabTestTimestep(995, "scheduler", "bf16")).toBe(995);
    expect(pabTestTimestep(949.05, "scheduler", "bf16")).toBe(949);
  });
});

describe("VideoSys's worked Open-Sora schedule (opendit-videosys.md §1.5)", () => {
  const { spec, facts } = opensora480(OPENSORA_DEFAULTS);
  const plan = lowerPab(spec, facts);

  it("tests the bf16 timesteps of the worked table", () => {
    expect(plan.testTimestep).toEqual({ source: "model-dtype", dtype: "bf16" });
    expect(plan.steps.map((s) => s.testTimestep).join(" ")).toBe(
      "1000 992 984 976 968 960 952 940 932 920 908 892 880 864 848 828 808 788 764 736 708 676 636 596 548 492 426 350 258 143",
    );
  });

  it("reproduces the three schedules letter for letter, with their computed counts", () => {
    // §1.5 prints the spatial line with one `C B` pair too few (28 letters, which would compute 20, not its own
    // 21/30); the window holds steps 9..25, 17 steps alternating from B at step 9 to B at step 25.
    expect(kindPlan(plan, "spatial").runs).toBe("CCCCCCCCC B C B C B C B C B C B C B C B C B CCCC");
    expect(kindPlan(plan, "temporal").runs).toBe("CCCCCCCCC BBB C BBB C BBB C BBB C B CCCC");
    expect(kindPlan(plan, "cross").runs).toBe("CCCCCCCCC BBB C BBBBB C BBBBB C B CCCC");
    expect(plan.attention.map((a) => a.summary)).toEqual(["computed 21/30", "computed 17/30", "computed 16/30"]);
    expect(plan.attention.map((a) => a.computed)).toEqual([21, 17, 16]);
    expect(kindPlan(plan, "spatial").letters).toBe("CCCCCCCCCBCBCBCBCBCBCBCBCBCCCC");
    expect(kindPlan(plan, "spatial").letters).toHaveLength(30);
  });

  it("keeps the mode of each step in its letter", () => {
    for (const a of plan.attention) {
      expect(a.modes.map((m) => (m === "compute" ? "C" : "B")).join("")).toBe(a.letters);
    }
  });

  it("counts one cache per block holding each attention: cross lives in both STDiT3 block kinds", () => {
    expect(plan.attention.map((a) => a.cache)).toEqual([
      { exists: true, blockKinds: ["spatial"], blocks: 28 },
      { exists: true, blockKinds: ["temporal"], blocks: 28 },
      { exists: true, blockKinds: ["spatial", "temporal"], blocks: 56 },
    ]);
  });

  it("decides alike for every block of a kind", () => {
    for (let step = 0; step < 30; step++) {
      const cross = kindPlan(plan, "cross").modes[step];
      for (const block of [0, 13, 27]) {
        expect(attentionModeOf(plan, step, "cross", "spatial", block)).toBe(cross);
        expect(attentionModeOf(plan, step, "cross", "temporal", block)).toBe(cross);
        expect(attentionModeOf(plan, step, "temporal", "temporal", block)).toBe(kindPlan(plan, "temporal").modes[step]);
      }
    }
    expect(() => attentionModeOf(plan, 0, "temporal", "spatial", 0)).toThrow(/holds no temporal attention/);
    expect(() => attentionModeOf(plan, 0, "spatial", "spatial", 28)).toThrow();
    expect(() => attentionModeOf(plan, 30, "spatial", "spatial", 0)).toThrow(/outside/);
  });

  it("numbers patterns by first appearance: the all-compute head is 0, and the tail returns to it", () => {
    expect(plan.steps.slice(0, 9).every((s) => s.pattern === 0)).toBe(true);
    expect(plan.steps.slice(26).every((s) => s.pattern === 0)).toBe(true);
    expect(plan.patterns[0]!.attention).toEqual({ spatial: "compute", temporal: "compute", cross: "compute" });
    // Step 9 reuses all three kinds (9 % 2, 9 % 4 and 9 % 6 are not 0); step 10 computes spatial only.
    expect(plan.steps[9]!.pattern).toBe(1);
    expect(plan.patterns[1]!.attention).toEqual({ spatial: "reuse", temporal: "reuse", cross: "reuse" });
    expect(plan.steps[10]!.pattern).toBe(2);
    expect(plan.patterns[2]!.attention).toEqual({ spatial: "compute", temporal: "reuse", cross: "reuse" });
  });
});

describe("pattern ids", () => {
  const lowerDefaults = () => {
    const { spec, facts } = opensora480(
      `${OPENSORA_DEFAULTS}\nmlp:\n  spatial: { steps: [13, 17, 21], blocks: [0, 1, 2, 3, 4], reuse: 2 }\n  temporal: { steps: [13, 17, 21], blocks: [0, 1, 2, 3, 4], reuse: 2 }`,
    );
    return lowerPab(spec, facts);
  };

  it("are deterministic and survive a JSON round trip", () => {
    const plan = lowerDefaults();
    expect(lowerDefaults()).toEqual(plan);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });

  it("are 0, 1, 2, ... in order of first appearance, and list exactly the steps that use them", () => {
    const plan = lowerDefaults();
    const firstSeen: number[] = [];
    for (const s of plan.steps) if (!firstSeen.includes(s.pattern)) firstSeen.push(s.pattern);
    expect(firstSeen).toEqual(plan.patterns.map((_, i) => i));
    expect(plan.patterns.map((p) => p.id)).toEqual(plan.patterns.map((_, i) => i));
    for (const p of plan.patterns) expect(p.steps).toEqual(plan.steps.filter((s) => s.pattern === p.id).map((s) => s.index));
  });

  it("are minimal: one per distinct tuple of attention modes and MLP keep and reuse sets", () => {
    const plan = lowerDefaults();
    const tuples = new Set(
      plan.steps.map((s) => plan.attention.map((a) => a.letters[s.index]).join("") + plan.mlp.map((m) => m.letters[s.index]).join("")),
    );
    expect(plan.patterns).toHaveLength(tuples.size);
    // Steps 13, 17 and 21 keep MLP outputs: a keep writes a cache buffer, so it is part of the pattern.
    for (const i of [13, 17, 21]) {
      expect(plan.patterns[plan.steps[i]!.pattern]!.mlpKeep).toEqual([
        { blockKind: "spatial", blocks: [0, 1, 2, 3, 4] },
        { blockKind: "temporal", blocks: [0, 1, 2, 3, 4] },
      ]);
    }
  });

  it("a Spec without PAB has exactly one pattern, in which everything computes", () => {
    const { spec, facts } = opensora480("");
    const plan = lowerPab(spec, facts);
    expect(plan.patterns).toEqual([
      { id: 0, attention: { spatial: "compute", temporal: "compute", cross: "compute" }, mlpKeep: [], mlpReuse: [], steps: plan.steps.map((s) => s.index) },
    ]);
    expect(plan.attention.map((a) => a.cache.exists)).toEqual([false, false, false]);
    expect(plan.mlp).toEqual([]);
    expect(plan.peakLiveMlpCaches).toBe(0);

    const dit = checked(`version: 1
name: t
model: { family: dit, variant: DiT-XL/2, checkpoint: random }
conditioning: { labels: [207] }
image: { height: 256, width: 256 }
scheduler: { kind: iddpm, steps: 250, guidance: 4.0 }
`);
    const ditPlan = lowerPab(dit.spec, dit.facts);
    expect(ditPlan.patterns).toHaveLength(1);
    expect(ditPlan.steps.every((s) => s.pattern === 0)).toBe(true);
    expect(ditPlan.attention.map((a) => a.runs)).toEqual(["C".repeat(250)]);
  });
});

describe("the window rule", () => {
  it("is strict at both bounds", () => {
    // Step 9 tests 920 and step 25 tests 492: a bound equal to a step's value leaves that step computing.
    const at = (low: number, high: number) => kindPlan(lowered(`spatial: every 2 in [${low}, ${high}]`), "spatial");
    expect(at(450, 920).letters.slice(9, 12)).toBe("CCB");
    expect(at(450, 921).letters.slice(9, 12)).toBe("BCB");
    expect(at(492, 930).letters.slice(23, 27)).toBe("BCCC");
    expect(at(491, 930).letters.slice(23, 27)).toBe("BCBC");
  });

  it("never reuses with `every 1`, even over the whole schedule", () => {
    const { spec, facts } = opensora480("spatial: every 1 in [0, 1000]\ncross: every 1 in [0, 1000]");
    const plan = lowerPab(spec, facts);
    expect(plan.attention.map((a) => a.computed)).toEqual([30, 30, 30]);
    expect(kindPlan(plan, "spatial").window).toEqual({ every: 1, low: 0, high: 1000 });
    expect(kindPlan(plan, "spatial").cache).toEqual({ exists: false, blockKinds: ["spatial"], blocks: 0 });
    expect(plan.patterns).toHaveLength(1);
  });

  it("always computes a kind without a window or with `off`", () => {
    const { spec, facts } = opensora480("spatial: every 2 in [450, 930]\ntemporal: off");
    const plan = lowerPab(spec, facts);
    expect(kindPlan(plan, "spatial").computed).toBe(21);
    for (const kind of ["temporal", "cross"]) {
      expect(kindPlan(plan, kind).window).toBeNull();
      expect(kindPlan(plan, kind).letters).toBe("C".repeat(30));
      expect(kindPlan(plan, kind).cache.exists).toBe(false);
    }
    // Only spatial varies, between compute and reuse: two patterns.
    expect(plan.patterns.map((p) => p.attention)).toEqual([
      { spatial: "compute", temporal: "compute", cross: "compute" },
      { spatial: "reuse", temporal: "compute", cross: "compute" },
    ]);
  });

  it("sees bf16 timesteps in Open-Sora: a bound of 931 excludes 930.16 at bf16 (932) but not at fp32 (930)", () => {
    const cross = (dtype: string) => kindPlan(lowered("cross: every 6 in [450, 931]", dtype), "cross");
    // Step 8: 8 % 6 = 2, so it reuses exactly when its timestep is inside the window.
    expect(cross("bf16").letters[8]).toBe("C");
    expect(cross("fp32").letters[8]).toBe("B");
    expect(cross("fp16").letters[8]).toBe("B");
  });

  it("sees the uncast scheduler timestep in Latte-T2V: 995 stays below 996 at bf16", () => {
    const { spec, facts } = checked(`version: 1
name: t
model: { family: latte-t2v, variant: Latte-1, checkpoint: random, dtype: bf16 }
conditioning: { prompts: ["a cat"] }
video: { frames: 16, height: 512, width: 512 }
scheduler: { kind: iddpm, steps: 250, guidance: 7.5 }
acceleration:
  pab:
    spatial: every 2 in [100, 996]
`);
    const plan = lowerPab(spec, facts);
    expect(plan.testTimestep.source).toBe("scheduler");
    expect(plan.steps.slice(0, 3).map((s) => s.testTimestep)).toEqual([999, 995, 991]);
    expect(kindPlan(plan, "spatial").letters.slice(0, 4)).toBe("CBCB");
    // Latte-T2V holds cross-attention in its spatial blocks only.
    expect(kindPlan(plan, "cross").cache.blockKinds).toEqual(["spatial"]);
    expect(() => attentionModeOf(plan, 0, "cross", "temporal", 0)).toThrow();
  });

  it("truncates fractional timesteps: DPM-Solver's 949.05 tests as 949, outside a low bound of 949", () => {
    const dit = (low: number) =>
      checked(`version: 1
name: t
model: { family: dit, variant: DiT-XL/2, checkpoint: random }
conditioning: { labels: [207] }
image: { height: 256, width: 256 }
scheduler: { kind: dpm-solver, steps: 20, guidance: 4.0 }
acceleration:
  pab:
    spatial: every 2 in [${low}, 999]
`);
    const at = (low: number) => lowerPab(dit(low).spec, dit(low).facts);
    expect(at(949).steps[1]!.timestep).toBeCloseTo(949.05, 6);
    expect(at(949).steps[1]!.testTimestep).toBe(949);
    expect(kindPlan(at(949), "spatial").letters[1]).toBe("C");
    expect(kindPlan(at(948), "spatial").letters[1]).toBe("B");
  });
});

describe("MLP broadcast", () => {
  it("keeps at the listed steps, reuses on the next `reuse` steps and counts live caches (VideoSys's Open-Sora keys)", () => {
    // 864, 788 and 676 are the test timesteps of steps 13, 17 and 21 in the worked schedule.
    const { spec, facts } = opensora480(
      `mlp:\n  spatial: { steps: [21, 13, 17], blocks: [4, 3, 2, 1, 0], reuse: 2 }\n  temporal: { steps: [13, 17, 21], blocks: [0, 1, 2, 3, 4], reuse: 2 }`,
    );
    const plan = lowerPab(spec, facts);
    expect([13, 17, 21].map((i) => plan.steps[i]!.testTimestep)).toEqual([864, 788, 676]);
    const [spatial, temporal] = plan.mlp;
    expect(spatial!.blocks).toEqual([0, 1, 2, 3, 4]);
    expect(spatial!.keeps).toEqual([
      { step: 13, firstReuse: 14, lastReuse: 15 },
      { step: 17, firstReuse: 18, lastReuse: 19 },
      { step: 21, firstReuse: 22, lastReuse: 23 },
    ]);
    expect(spatial!.letters).toBe("CCCCCCCCCCCCCKBBCKBBCKBBCCCCCC");
    expect(temporal!.letters).toBe(spatial!.letters);
    const live = plan.steps.map((s) => s.liveMlpCaches);
    const alive = [13, 14, 15, 17, 18, 19, 21, 22, 23];
    expect(live).toEqual(plan.steps.map((s) => (alive.includes(s.index) ? 10 : 0)));
    expect(plan.peakLiveMlpCaches).toBe(10);
    expect(plan.patterns[plan.steps[14]!.pattern]!.mlpReuse).toEqual([
      { blockKind: "spatial", blocks: [0, 1, 2, 3, 4] },
      { blockKind: "temporal", blocks: [0, 1, 2, 3, 4] },
    ]);
    expect(mlpModeOf(plan, 14, "spatial", 4)).toBe("reuse");
    expect(mlpModeOf(plan, 14, "spatial", 5)).toBe("compute");
    expect(mlpModeOf(plan, 13, "temporal", 0)).toBe("keep");
    expect(mlpModeOf(plan, 16, "temporal", 0)).toBe("compute");
    // Without attention windows, the MLP alone splits the steps: compute, keep, reuse.
    expect(plan.patterns).toHaveLength(3);
  });

  it("ends an earlier range at a later kept step, and keeps nothing that no step reads", () => {
    const { spec, facts } = opensora480("mlp:\n  spatial: { steps: [10, 11, 13], blocks: [2], reuse: 2 }");
    const [spatial] = lowerPab(spec, facts).mlp;
    expect(spatial!.keeps).toEqual([
      { step: 11, firstReuse: 12, lastReuse: 12 },
      { step: 13, firstReuse: 14, lastReuse: 15 },
    ]);
    expect(spatial!.letters.slice(9, 17)).toBe("CCKBKBBC");
    expect(spatial!.live.slice(9, 17)).toEqual([0, 0, 1, 1, 1, 1, 1, 0]);
  });

  it("refuses what the checker rejects: a reuse range past the last step", () => {
    const { spec, facts } = opensora480("mlp:\n  spatial: { steps: [10], blocks: [0], reuse: 2 }");
    const broken = { ...spec, acceleration: { pab: { mlp: { spatial: { steps: [28], blocks: [0], reuse: 2 } } } } };
    expect(() => lowerPab(broken, facts)).toThrow(/past the last step 29/);
  });
});

describe("the plan as data", () => {
  it("is deeply frozen", () => {
    const { spec, facts } = opensora480(`${OPENSORA_DEFAULTS}\nmlp:\n  spatial: { steps: [13], blocks: [0], reuse: 2 }`);
    const plan = lowerPab(spec, facts);
    const visit = (v: unknown): void => {
      if (v === null || typeof v !== "object") return;
      expect(Object.isFrozen(v)).toBe(true);
      for (const child of Object.values(v)) visit(child);
    };
    visit(plan);
  });

  it("does not depend on the parallel layout, so every rank runs the same pattern at the same step", () => {
    const base = opensora480(OPENSORA_DEFAULTS);
    const dsp = { ...base.facts, degrees: { ...base.facts.degrees, dsp: 4 }, world: 4 };
    expect(lowerPab(base.spec, dsp)).toEqual(lowerPab(base.spec, base.facts));
  });
});

describe("family attention blocks", () => {
  it("place every attention kind of every family in block kinds the family has", () => {
    for (const family of knownFamilies()) {
      const hosts = family.attentionBlocks;
      expect(Object.keys(hosts).sort()).toEqual([...family.attention].sort());
      const blockKinds = family.blocks === "interleaved" ? ["spatial", "temporal"] : ["spatial"];
      for (const kinds of Object.values(hosts)) for (const k of kinds ?? []) expect(blockKinds).toContain(k);
    }
  });

  it("count cross-attention blocks as the checkpoint tensors do", () => {
    for (const family of knownFamilies()) {
      const hyper = family.resolve(Object.values(family.variants)[0]!);
      const queries = family.weights(hyper).filter((w) => /\.(cross_attn\.q_linear|attn2\.to_q)\.weight$/.test(w.name)).length;
      const hosts = family.attentionBlocks.cross ?? [];
      expect(`${family.family}: ${queries}`).toBe(`${family.family}: ${hosts.length * hyper.depth}`);
    }
  });
});
