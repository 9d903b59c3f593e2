import { describe, expect, it } from "vitest";
import {
  blockCount,
  degreesOf,
  divisors,
  formatLayout,
  layoutProblems,
  rankCount,
  validLayouts,
} from "../../../../compiler/check/layouts.js";
import { checked, dit, latte, parallel, stdit } from "./pipelines.js";

function setup(source: string) {
  const r = checked(source);
  return { spec: r.spec!, facts: r.facts! };
}

const args = (s: ReturnType<typeof setup>) => [s.spec, s.facts] as const;

describe("layout helpers", () => {
  it("lists divisors in ascending order", () => {
    expect(divisors(1)).toEqual([1]);
    expect(divisors(16)).toEqual([1, 2, 4, 8, 16]);
    expect(divisors(36)).toEqual([1, 2, 3, 4, 6, 9, 12, 18, 36]);
  });

  it("prints layouts in canonical order, outermost first, and counts their ranks", () => {
    expect(formatLayout({ dsp: 4, cfg: 2 })).toBe("cfg 2 x dsp 4");
    expect(formatLayout({ ulysses: 2, ring: 2, dp: 2, pipefusion: 2 })).toBe("dp 2 x pipefusion 2 x ring 2 x ulysses 2");
    expect(formatLayout({ cfg: 1 })).toBe("");
    expect(rankCount({ cfg: 2, dsp: 4 })).toBe(8);
  });

  it("counts the spatial and temporal blocks of interleaved families apart", () => {
    const v = setup(latte(parallel(1)));
    expect(blockCount(v.facts.family!, v.facts.hyper!)).toBe(28);
    const s = setup(stdit(parallel(1)));
    expect(blockCount(s.facts.family!, s.facts.hyper!)).toBe(28);
  });

  it("explains why an assignment does not fit", () => {
    const { spec, facts } = setup(stdit(parallel(8, "dsp 8"), { frames: 15 }));
    expect(layoutProblems(spec, facts, degreesOf({ dsp: 8 }))).toEqual(["dsp 8 does not divide 15 frames"]);
    expect(layoutProblems(spec, facts, degreesOf({ ulysses: 3 }))).toContain("ulysses 3 does not divide 16 heads");
    expect(layoutProblems(spec, facts, degreesOf({ dsp: 2, ulysses: 2 }))).toContain("dsp does not combine with ulysses or ring");
    expect(layoutProblems(spec, facts, degreesOf({ pipefusion: 32 }))).toContain("pipefusion 32 exceeds 28 blocks");
    expect(layoutProblems(spec, facts, degreesOf({ cfg: 4 }))).toEqual(["cfg degree 4 is not 2"]);
  });
});

describe("validLayouts", () => {
  it("ranks `cfg 2 x dsp 4` and `dsp 8` first for an STDiT-XL/2 video on 8 ranks with guidance 7", () => {
    const { spec, facts } = setup(stdit(parallel(8, "dsp 8")));
    const layouts = validLayouts(spec, facts, 8);
    expect(layouts.slice(0, 3)).toEqual(["cfg 2 x dsp 4", "dsp 8", "cfg 2 x ulysses 4"]);
    expect(layouts).toContain("cfg 2 x ring 4");
    expect(layouts.some((l) => /ulysses 3|cfg [^2]/.test(l))).toBe(false);
    // DSP never shares the sequence with Ulysses or Ring.
    expect(layouts.some((l) => l.includes("dsp") && /ulysses|ring/.test(l))).toBe(false);
    expect(new Set(layouts).size).toBe(layouts.length);
  });

  it("leaves out degrees that do not divide the heads, the frames or the inputs", () => {
    const one = validLayouts(...args(setup(stdit(parallel(6, "cfg 2 x dsp 3")))), 6);
    expect(one).not.toContain("cfg 2 x ulysses 3");
    expect(one).not.toContain("cfg 2 x dsp 3");
    expect(one.some((l) => l.includes("dp"))).toBe(false);
    const three = validLayouts(...args(setup(stdit(parallel(6, "cfg 2 x dsp 3"), { conditioning: "{ prompts: [a, b, c] }" }))), 6);
    expect(three).toContain("dp 3 x cfg 2");
  });

  it("offers no dsp for DiT-XL/2 at 256 x 256 on 4 ranks", () => {
    const { spec, facts } = setup(dit(parallel(4, "cfg 2 x ulysses 2"), { conditioning: "{ labels: [207] }" }));
    const layouts = validLayouts(spec, facts, 4);
    expect(layouts.slice(0, 2)).toEqual(["cfg 2 x ulysses 2", "ulysses 4"]);
    expect(layouts).toContain("ulysses 4");
    expect(layouts.some((l) => l.includes("dsp"))).toBe(false);
  });

  it("offers no cfg without guidance", () => {
    const { spec, facts } = setup(stdit(parallel(4, "dsp 4"), { guidance: 1 }));
    const layouts = validLayouts(spec, facts, 4);
    expect(layouts[0]).toBe("dsp 4");
    expect(layouts.some((l) => l.includes("cfg"))).toBe(false);
  });

  it("prefers data parallel when the prompts (or labels) split evenly over it", () => {
    const { spec, facts } = setup(stdit(parallel(4, "dp 4"), { conditioning: "{ prompts: [a, b, c, d] }" }));
    expect(validLayouts(spec, facts, 4).slice(0, 3)).toEqual(["dp 2 x cfg 2", "dp 4", "cfg 2 x dsp 2"]);
    const two = setup(dit(parallel(4, "dp 4")));
    expect(validLayouts(two.spec, two.facts, 4).slice(0, 2)).toEqual(["dp 2 x cfg 2", "cfg 2 x ulysses 2"]);
  });

  it("gives nothing for one rank and stays quick for large worlds", () => {
    const { spec, facts } = setup(stdit(parallel(1)));
    expect(validLayouts(spec, facts, 1)).toEqual([]);
    const started = Date.now();
    const many = validLayouts(spec, facts, 65536);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(many.every((l) => rankCount(Object.fromEntries(l.split(" x ").map((t) => [t.split(" ")[0], Number(t.split(" ")[1])]))) === 65536)).toBe(true);
  });
});
