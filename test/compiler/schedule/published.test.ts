/**
 * Spot checks against published and independently measured numbers: IDDPM's respaced index sets, ᾱ_999 and λ_T
 * of the linear schedule, Open-Sora 1.2's transformed rectified-flow grids (models.md §9.1, §9.3, §9.4), the
 * SD3 flow-matching grid's last σ, numpy's half-to-even DDIM grids, and diffusers' float32 ᾱ table bit for bit
 * against torch 2.11 (sha256 of the little-endian float32 bytes, measured on torch's CPU linspace and cumprod).
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { diffusersAlphasCumprod, iddpmAlphasCumprod, torchLinspaceFloat32 } from "../../../compiler/schedule/betas.js";
import { DiscreteVpSchedule } from "../../../compiler/schedule/dpm-solver.js";
import { lowerSchedule } from "../../../compiler/schedule/lower.js";
import { ddimTimesteps, respacedIndices, timesteps } from "../../../compiler/schedule/timesteps.js";

const IMAGE = { frames: 1, height: 256, width: 256 };

function sha256Float32(values: readonly number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return createHash("sha256").update(bytes).digest("hex");
}

function oneDecimal(values: readonly number[]): number[] {
  return values.map((v) => Math.round(v * 10) / 10);
}

describe("IDDPM respacing (models.md §9.1)", () => {
  it('"100" keeps {0,10,20,…,494,505,…,989,999}: the stride is 999/99, not 10', () => {
    const kept = respacedIndices(1000, 100);
    expect(kept).toHaveLength(100);
    expect(kept.slice(0, 6)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(kept.slice(47, 53)).toEqual([474, 484, 494, 505, 515, 525]);
    expect(kept.slice(-3)).toEqual([979, 989, 999]);
  });

  it('"250" keeps {0,4,8,…,497,502,506,…,995,999}', () => {
    const kept = respacedIndices(1000, 250);
    expect(kept.slice(0, 4)).toEqual([0, 4, 8, 12]);
    expect(kept.slice(123, 128)).toEqual([493, 497, 502, 506, 510]);
    expect(kept.slice(-3)).toEqual([991, 995, 999]);
  });

  it("the model receives the kept training index, last first", () => {
    const table = lowerSchedule({ kind: "iddpm", steps: 100 }, IMAGE);
    expect(table.steps.map((s) => s.timestep)).toEqual(respacedIndices(1000, 100).reverse());
  });
});

describe("the linear schedule's end points (models.md §9)", () => {
  it("ᾱ_999 = 4.036e-5", () => {
    expect(iddpmAlphasCumprod(1000)[999]).toBeCloseTo(4.036e-5, 8);
  });

  it("λ_T = −5.0588, which DPM-Solver's first step starts from", () => {
    expect(new DiscreteVpSchedule(1000).lambda(1)).toBeCloseTo(-5.0588, 4);
    const table = lowerSchedule({ kind: "dpm-solver", steps: 20 }, IMAGE);
    if (table.solver !== "dpmpp2m") throw new Error("expected a dpmpp2m table");
    expect(table.steps[0]!.lambda).toBeCloseTo(-5.0588, 4);
    expect(table.steps[0]!.timestep).toBeCloseTo(999, 9);
    expect(table.steps[19]!.t_next).toBe(0.001);
  });
});

describe("Open-Sora 1.2 rectified flow (models.md §9.4)", () => {
  it("240p (240x426 pixels) x 51 frames: 1000, 985.9, 971.3, …, last 77.0", () => {
    const t = timesteps({ kind: "rflow", steps: 30 }, { frames: 51, height: 240, width: 426 });
    expect(oneDecimal(t.slice(0, 3))).toEqual([1000, 985.9, 971.3]);
    expect(oneDecimal(t.slice(-1))).toEqual([77]);
  });

  it("720p x 51 frames: 1000, 995.3, …, last 200.3", () => {
    const t = timesteps({ kind: "rflow", steps: 30 }, { frames: 51, height: 720, width: 1280 });
    expect(oneDecimal(t.slice(0, 2))).toEqual([1000, 995.3]);
    expect(oneDecimal(t.slice(-1))).toEqual([200.3]);
  });

  it("the last step integrates all the way to 0", () => {
    const table = lowerSchedule({ kind: "rflow", steps: 30 }, { frames: 51, height: 240, width: 426 });
    if (table.solver !== "flow-euler") throw new Error("expected a flow-euler table");
    const last = table.steps[29]!;
    expect(last.sigma_next).toBe(0);
    expect(last.dt).toBeCloseTo(0.077, 3);
  });
});

describe("flow-matching Euler with a shift (diffusers, SD3: models.md §8.2)", () => {
  it("shifts twice: the grid ends at shift(shift(1/T)), which for shift 3 is 9/1008", () => {
    const table = lowerSchedule({ kind: "euler", steps: 28, shift: 3 }, { frames: 1, height: 1024, width: 1024 });
    if (table.solver !== "flow-euler") throw new Error("expected a flow-euler table");
    expect(table.steps[0]!.sigma).toBe(1);
    expect(table.steps[0]!.timestep).toBe(1000);
    expect(table.steps[27]!.sigma).toBeCloseTo(9 / 1008, 15);
    expect(table.steps[27]!.sigma_next).toBe(0);
  });
});

describe("diffusers DDIM grids round half to even as numpy does (models.md §9.2)", () => {
  it("leading, 50 steps: 980, 960, …, 0", () => {
    expect(ddimTimesteps(1000, 50, "leading")).toEqual(Array.from({ length: 50 }, (_, i) => 980 - 20 * i));
  });

  it("trailing, 16 steps: 812.5 rounds to 812, so the fourth timestep is 811", () => {
    expect(ddimTimesteps(1000, 16, "trailing")).toEqual([999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
  });

  it("linspace, 7 steps: 166.5 and 832.5 round to 166 and 832", () => {
    expect(ddimTimesteps(1000, 7, "linspace")).toEqual([999, 832, 666, 500, 333, 166, 0]);
  });

  it("linspace, 1 step: numpy's one-point linspace is its start, 0", () => {
    expect(ddimTimesteps(1000, 1, "linspace")).toEqual([0]);
  });

  it("trailing, 61 steps: the 61 intended steps, where numpy's arange yields a 62nd at timestep -1", () => {
    const t = ddimTimesteps(1000, 61, "trailing");
    expect(t).toHaveLength(61);
    expect(t[0]).toBe(999);
    expect(Math.min(...t)).toBeGreaterThanOrEqual(0);
  });
});

describe("diffusers' float32 schedule is torch's, bit for bit", () => {
  it("T = 1000: betas and ᾱ", () => {
    expect(sha256Float32(torchLinspaceFloat32(0.0001, 0.02, 1000))).toBe("a455de8584c2913e90719b1668c1a4eb0d1e08d8614ad8edaefd5b5f8e5eb140");
    const acp = diffusersAlphasCumprod(1000);
    expect(sha256Float32(acp)).toBe("b5555536933367c4ad73b4e972e1701b8cf631f368d370f1f05c23c5881f1994");
    expect(acp[499]).toBe(0.07858723402023315);
    expect(acp[999]).toBe(4.035830352222547e-5);
  });

  it("T = 500", () => {
    expect(sha256Float32(torchLinspaceFloat32(0.0001, 0.02, 500))).toBe("5c56c880f5b720bc2af9dbc411ddadf9414abf7e0d64e068db28ccd6ab2c5b8d");
    expect(sha256Float32(diffusersAlphasCumprod(500))).toBe("87c9aecbf7c04d8dcd394ecebc3aab0b7ef3310436cb5dcb9fb1e8e2d63a5f00");
  });

  it("a point torch rounds differently from the exact linear value", () => {
    // torch.linspace(1e-4, 0.02, 1000, float32)[2] measured on torch 2.11.
    expect(torchLinspaceFloat32(0.0001, 0.02, 1000)[2]).toBe(0.0001398398308083415);
    expect(Math.fround(0.0001 + (2 * (0.02 - 0.0001)) / 999)).not.toBe(0.0001398398308083415);
  });
});
