import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, validateMarked, withCode } from "../../../helpers/validate.js";

/** A DiT pipeline (spatial attention only) with an acceleration section; iddpm 10 steps uses 999, 888, ..., 111, 0. */
const dit = (pab: string, scheduler = "{ kind: iddpm, steps: 10, guidance: 4.0 }") => `version: 1
name: t
model: { family: dit, variant: DiT-XL/2, checkpoint: random }
conditioning: { labels: [207, 360] }
image: { height: 256, width: 256 }
scheduler: ${scheduler}
acceleration:
  pab:
${pab}`;

/** An Open-Sora 1.0 STDiT pipeline (spatial, temporal and cross attention; MLP broadcast on its blocks). */
const stdit = (pab: string, scheduler = "{ kind: iddpm, steps: 100, guidance: 7.0 }") => `version: 1
name: t
model: { family: stdit, variant: STDiT-XL/2, checkpoint: random }
conditioning: { prompts: ["a cat"] }
video: { frames: 16, height: 256, width: 256 }
scheduler: ${scheduler}
acceleration:
  pab:
${pab}`;

describe("PabKindRule (OD3201)", () => {
  it("underlines the key of a window for an attention kind the model lacks", () => {
    const r = validateMarked(dit("    spatial: every 2 in [100, 800]\n    <|temporal|>: every 4 in [100, 800]\n    <|cross|>: every 6 in [100, 800]\n"));
    const [d] = expectCodeAtMarkers(r, "OD3201");
    expect(d!.message).toBe(
      "`acceleration.pab.temporal` sets a PAB window for temporal attention, but DiT (facebookresearch/DiT) has only `spatial` attention.",
    );
    expect(d!.hint).toBe("Remove `temporal`: the model's `spatial` attention already have windows.");
  });

  it("hints a kind the model has that has no window yet", () => {
    const r = validateMarked(dit("    <|temporal|>: every 4 in [100, 800]\n"));
    const [d] = expectCodeAtMarkers(r, "OD3201");
    expect(d!.hint).toBe("Remove `temporal`, or put the window on an attention kind the model has, such as `spatial: every 2 in [100, 799]`.");
    expect(d!.suggestions).toEqual(["spatial"]);
  });

  it("accepts `off` for a kind the model lacks, and windows on kinds it has", () => {
    const r = validateMarked(stdit("    spatial: every 2 in [100, 800]\n    temporal: every 4 in [100, 800]\n    cross: every 6 in [100, 800]\n"));
    expectCodeAtMarkers(r, "OD3201");
    const off = validateMarked(dit("    spatial: every 2 in [100, 800]\n    temporal: off\n"));
    expectCodeAtMarkers(off, "OD3201");
  });

  it("underlines MLP broadcast for a block kind the model cannot reuse", () => {
    const r = validateMarked(
      stdit("    spatial: every 2 in [100, 800]\n    mlp:\n      spatial: { steps: [10], blocks: [0, 1], reuse: 2 }\n      <|temporal|>: { steps: [10], blocks: [0, 1], reuse: 2 }\n"),
    );
    const [d] = expectCodeAtMarkers(r, "OD3201");
    expect(d!.message).toContain("`acceleration.pab.mlp.temporal` broadcasts the MLP of temporal blocks");
    expect(d!.message).toContain("only reuse the MLP of its `spatial` blocks");
    expect(d!.hint).toBe("Remove `mlp.temporal`.");
  });
});

describe("PabWindowRangeRule (OD3202)", () => {
  it("underlines a high bound above the scheduler's largest timestep", () => {
    const r = validateMarked(dit("    spatial: every 2 in [450, <|1200|>]\n"));
    const [d] = expectCodeAtMarkers(r, "OD3202");
    expect(d!.message).toBe(
      "The high bound 1200 of `acceleration.pab.spatial` is above 999, but the iddpm scheduler's timesteps run from 0 to 999 (train_steps 1000).",
    );
    expect(d!.hint).toBe("Keep the window inside [0, 999]: `spatial: every 2 in [450, 999]`.");
    expect(d!.suggestions).toEqual(["every 2 in [450, 999]"]);
  });

  it("underlines both bounds when the whole window lies past a short training schedule", () => {
    const r = validateMarked(dit("    spatial: every 2 in [<|300|>, <|400|>]\n", "{ kind: iddpm, steps: 10, guidance: 4.0, train_steps: 200 }"));
    const found = expectCodeAtMarkers(r, "OD3202");
    expect(found[0]!.message).toContain("The low bound 300");
    expect(found[1]!.hint).toBe("Keep the window inside [0, 199]: `spatial: every 2 in [198, 199]`.");
  });

  it("accepts 1000 as a bound of rectified flow, whose timesteps run to 1000", () => {
    const r = validateMarked(`version: 1
name: t
model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: random }
conditioning: { prompts: ["a cat"] }
video: { frames: 51, height: 240, width: 426 }
scheduler: { kind: rflow, steps: 30, guidance: 7.0 }
acceleration:
  pab:
    spatial: every 2 in [450, 1000]
`);
    expect(withCode(r, "OD3202")).toEqual([]);
  });
});

describe("PabWindowEmptyRule (OD3203)", () => {
  it("underlines a window between two steps and names the nearest timesteps", () => {
    const r = validateMarked(dit("    spatial: <|every 2 in [450, 550]|>\n"));
    const [d] = expectCodeAtMarkers(r, "OD3203");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toBe(
      "No step of the iddpm sampler falls strictly inside `acceleration.pab.spatial` (450, 550): its 10 timesteps run from 999 to 0, " +
        "and the nearest are 555 (step 4) above it and 444 (step 5) below it, so the window never reuses anything.",
    );
    expect(d!.hint).toBe("Widen the window to take in the nearest steps: `spatial: every 2 in [443, 556]`, or write `spatial: off`.");
  });

  it("uses the strict test: a bound equal to a timestep does not take it in", () => {
    const r = validateMarked(dit("    spatial: <|every 2 in [888, 999]|>\n"));
    const [d] = expectCodeAtMarkers(r, "OD3203");
    expect(d!.message).toContain("the nearest are 999 (step 0) above it and 888 (step 1) below it");
    // 999 + 1 is past the range, so only the low side widens.
    expect(d!.suggestions).toEqual(["every 2 in [887, 999]"]);
  });

  it("reports fractional timesteps of rectified flow to one decimal", () => {
    const r = validateMarked(stdit("    spatial: <|every 2 in [10, 20]|>\n", "{ kind: rflow, steps: 3, guidance: 7.0, timestep_transform: false }"));
    const [d] = expectCodeAtMarkers(r, "OD3203");
    expect(d!.message).toContain("its 3 timesteps run from 1000 to 333.3, and all of them lie at or above 20, the lowest being 333.3 (step 2)");
    expect(d!.hint).toContain("`spatial: every 2 in [10, 334]`");
  });

  it("accepts a window holding a step", () => {
    const r = validateMarked(dit("    spatial: every 2 in [450, 930]\n"));
    expect(withCode(r, "OD3203")).toEqual([]);
  });
});

describe("PabEveryOneRule (OD3204)", () => {
  it("underlines `every 1`", () => {
    const r = validateMarked(dit("    spatial: every <|1|> in [450, 930]\n"));
    const [d] = expectCodeAtMarkers(r, "OD3204");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toContain("`acceleration.pab.spatial` recomputes `every 1` step");
    expect(d!.suggestions).toEqual(["every 2 in [450, 930]", "off"]);
  });

  it("accepts every 2", () => {
    expect(withCode(validateMarked(dit("    spatial: every 2 in [450, 930]\n")), "OD3204")).toEqual([]);
  });
});
