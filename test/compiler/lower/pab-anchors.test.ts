/**
 * The PAB compute/reuse strings of the anchors' default configurations, as the example pipelines carry them
 * (VideoSys's per-model windows, opendit-videosys.md §1.4). C computes, B reuses. Checked by hand against the
 * rule (reuse iff low < t < high strictly and the step index is not a multiple of `every`); for Latte-1's DDIM
 * 50: t_i = 980 − 20i, so (100, 800) holds steps 10..43, spatial reuses the odd ones there (17), temporal the
 * ones not divisible by 3, cross those not divisible by 6.
 */
import { describe, expect, it } from "vitest";
import { lowerPab } from "../../../compiler/lower/pab.js";
import { checked, repoText } from "../plan/lowered.js";

function strings(path: string): Record<string, string> {
  const { spec, facts } = checked(path, repoText(path));
  const plan = lowerPab(spec, facts);
  return Object.fromEntries(plan.attention.map((a) => [a.kind, `${a.letters} ${a.summary}`]));
}

describe("PAB strings of the anchors' default windows", () => {
  it("Latte-1, DDIM 50, windows (100, 800) every 2 / 3 / 6", () => {
    expect(strings("pipelines/latte-pab.yaml")).toEqual({
      spatial: "CCCCCCCCCCCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCCCCCC computed 33/50",
      temporal: "CCCCCCCCCCBBCBBCBBCBBCBBCBBCBBCBBCBBCBBCBBCBCCCCCC computed 27/50",
      cross: "CCCCCCCCCCBBCBBBBBCBBBBBCBBBBBCBBBBBCBBBBBCBCCCCCC computed 22/50",
    });
  });

  it("Open-Sora-Plan v1.1, DDIM 50, windows (100, 850) every 2 / 4 / 6", () => {
    expect(strings("pipelines/opensora-plan-pab.yaml")).toEqual({
      spatial: "CCCCCCCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCCCCCC computed 31/50",
      temporal: "CCCCCCCBCBBBCBBBCBBBCBBBCBBBCBBBCBBBCBBBCBBBCCCCCC computed 22/50",
      cross: "CCCCCCCBBBBBCBBBBBCBBBBBCBBBBBCBBBBBCBBBBBCBCCCCCC computed 19/50",
    });
  });

  it("Open-Sora 1.0, IDDPM 100 (bf16 timesteps), windows (450, 930) every 2 / 4 / 6", () => {
    expect(strings("pipelines/opensora-dsp-pab.yaml")).toEqual({
      spatial:
        "CCCCCCCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCBCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC computed 76/100",
      temporal:
        "CCCCCCCBCBBBCBBBCBBBCBBBCBBBCBBBCBBBCBBBCBBBCBBBCBBBCBBCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC computed 64/100",
      cross:
        "CCCCCCCBBBBBCBBBBBCBBBBBCBBBBBCBBBBBCBBBBBCBBBBBCBBBBBCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC computed 60/100",
    });
  });

  it("Open-Sora 1.2 at 720p x 51, rflow 30, windows (450, 930) every 2 / 4 / 6", () => {
    expect(strings("pipelines/opensora-v12.yaml")).toEqual({
      spatial: "CCCCCCCCCCCBCBCBCBCBCBCBCBCCCC computed 22/30",
      temporal: "CCCCCCCCCCCBCBBBCBBBCBBBCBBCCC computed 18/30",
      cross: "CCCCCCCCCCCBCBBBBBCBBBBBCBBCCC computed 17/30",
    });
  });
});
