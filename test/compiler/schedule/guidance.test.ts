/**
 * Which channels guidance mixes, per family and sampler (models.md §9.5): DiT's and STDiT's reference guide only
 * the first 3 eps channels on IDDPM's `forward_with_cfg` path; every other path drops the variance half and
 * guides all channels; IDDPM keeps the conditional branch's variance for its learned range.
 */
import { describe, expect, it } from "vitest";
import { familyInfo } from "../../../compiler/models/registry.js";
import type { ModelFamily } from "../../../compiler/models/types.js";
import { guidanceFor } from "../../../compiler/schedule/guidance.js";
import type { Family } from "../../../compiler/spec/schema.js";

function family(name: Family): ModelFamily {
  const f = familyInfo(name);
  if (!f) throw new Error(`no family ${name}`);
  return f;
}

describe("guidanceFor", () => {
  it("DiT, IDDPM 250 (official): eps[:, 0:3], the rest and the variance from the conditional branch", () => {
    expect(guidanceFor(family("dit"), { kind: "iddpm", steps: 250 })).toEqual({ mixed: 3, unmixedFrom: "cond", variance: "cond" });
    expect(guidanceFor(family("dit"), { kind: "iddpm", steps: 250, cfg_channels: "official" }).mixed).toBe(3);
  });

  it("cfg_channels: all mixes every eps channel", () => {
    expect(guidanceFor(family("dit"), { kind: "iddpm", steps: 250, cfg_channels: "all" })).toEqual({ mixed: "all", unmixedFrom: "cond", variance: "cond" });
  });

  it("STDiT 1.0, IDDPM 100: eps[:, 0:3]", () => {
    expect(guidanceFor(family("stdit"), { kind: "iddpm", steps: 100 }).mixed).toBe(3);
  });

  it("the quirk follows IDDPM's code path: respaced DDIM has it, diffusers DDIM and DPM-Solver do not", () => {
    expect(guidanceFor(family("dit"), { kind: "ddim", steps: 50, spacing: "iddpm" })).toEqual({ mixed: 3, unmixedFrom: "cond", variance: "drop" });
    expect(guidanceFor(family("dit"), { kind: "ddim", steps: 50 })).toEqual({ mixed: "all", unmixedFrom: "cond", variance: "drop" });
    expect(guidanceFor(family("dit"), { kind: "dpm-solver", steps: 20 })).toEqual({ mixed: "all", unmixedFrom: "cond", variance: "drop" });
  });

  it("PixArt-α, DPM-Solver++ 20: the variance dropped, all 4 eps channels", () => {
    expect(guidanceFor(family("pixart"), { kind: "dpm-solver", steps: 20 })).toEqual({ mixed: "all", unmixedFrom: "cond", variance: "drop" });
  });

  it("Latte, IDDPM 250: all 4 eps channels, the variance from the conditional branch", () => {
    expect(guidanceFor(family("latte"), { kind: "iddpm", steps: 250 })).toEqual({ mixed: "all", unmixedFrom: "cond", variance: "cond" });
  });

  it("Latte-1 and Open-Sora-Plan, DDIM 50: all channels, then the first half kept", () => {
    for (const name of ["latte-t2v", "opensora-plan"] as const) {
      expect(guidanceFor(family(name), { kind: "ddim", steps: 50 })).toEqual({ mixed: "all", unmixedFrom: "cond", variance: "drop" });
    }
  });

  it("STDiT3, rectified flow 30: v[:, 0:4], all of it", () => {
    expect(guidanceFor(family("stdit3"), { kind: "rflow", steps: 30 })).toEqual({ mixed: "all", unmixedFrom: "cond", variance: "drop" });
  });

  it("reads the quirk from the family record, never from the family's name", () => {
    const quirky: ModelFamily = { ...family("latte"), cfgChannels: 2 };
    expect(guidanceFor(quirky, { kind: "iddpm", steps: 250 }).mixed).toBe(2);
    expect(guidanceFor(quirky, { kind: "dpm-solver", steps: 20 }).mixed).toBe("all");
  });
});
