import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, validateMarked, withCode } from "../../../helpers/validate.js";

/** Open-Sora 1.2 STDiT3 (28 spatial and 28 temporal blocks), rectified flow with 30 steps (indices 0 to 29). */
const stdit3 = (mlp: string) => `version: 1
name: t
model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: random }
conditioning: { prompts: ["a cat"] }
video: { frames: 51, height: 240, width: 426 }
scheduler: { kind: rflow, steps: 30, guidance: 7.0 }
acceleration:
  pab:
    spatial: every 2 in [450, 930]
    mlp:
${mlp}`;

describe("MlpBroadcastStepRule (OD3205)", () => {
  it("underlines each step index past the schedule", () => {
    const r = validateMarked(stdit3("      spatial: { steps: [10, <|30|>, 12, <|45|>], blocks: [0, 1], reuse: 2 }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3205");
    expect(d!.message).toBe("`acceleration.pab.mlp.spatial.steps` lists step 30, but the rflow scheduler runs 30 steps (indices 0 to 29).");
    expect(d!.hint).toBe("Step indices count from 0 (the first step) to 29: `steps: [10, 12]`.");
  });

  it("accepts steps inside the schedule", () => {
    expect(withCode(validateMarked(stdit3("      temporal: { steps: [0, 27], blocks: [0], reuse: 2 }\n")), "OD3205")).toEqual([]);
  });
});

describe("MlpBroadcastBlockRule (OD3206)", () => {
  it("underlines each block index the model does not have", () => {
    const r = validateMarked(stdit3("      temporal: { steps: [10], blocks: [0, <|28|>], reuse: 2 }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3206");
    expect(d!.message).toBe("`acceleration.pab.mlp.temporal.blocks` lists block 28, but STDiT3-XL/2 has 28 temporal blocks (indices 0 to 27).");
    expect(d!.hint).toBe("Block indices count from 0 to 27: `blocks: [0]`.");
  });

  it("accepts the last block", () => {
    expect(withCode(validateMarked(stdit3("      spatial: { steps: [10], blocks: [27], reuse: 2 }\n")), "OD3206")).toEqual([]);
  });
});

describe("MlpBroadcastRangeRule (OD3207)", () => {
  it("underlines a kept step whose reuse runs past the last step", () => {
    const r = validateMarked(stdit3("      spatial: { steps: [10, <|28|>], blocks: [0], reuse: 2 }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3207");
    expect(d!.message).toBe(
      "`acceleration.pab.mlp.spatial` keeps the MLP output at step 28 and reuses it on steps 29 to 30 (`reuse: 2`), but the last step is 29.",
    );
    expect(d!.hint).toBe("Stay inside the schedule: `reuse: 1`, or keeping it at step 27 or earlier.");
  });

  it("leaves a step past the schedule to OD3205", () => {
    const r = validateMarked(stdit3("      spatial: { steps: [<|40|>], blocks: [0], reuse: 2 }\n"));
    expectCodeAtMarkers(r, "OD3205");
    expect(withCode(r, "OD3207")).toEqual([]);
  });

  it("accepts a reuse that ends on the last step", () => {
    expect(withCode(validateMarked(stdit3("      spatial: { steps: [27], blocks: [0], reuse: 2 }\n")), "OD3207")).toEqual([]);
  });
});
