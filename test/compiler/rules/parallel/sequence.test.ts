import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers } from "../../../helpers/validate.js";
import { checked, dit, parallel, stdit } from "./pipelines.js";

// DiT-XL/2 at 240 x 240: 15 x 15 = 225 tokens. At 96 x 240: 6 x 15 = 90 tokens.
describe("SequenceDivisibilityRule (OD3104)", () => {
  it("underlines a Ulysses term that does not divide the token sequence", () => {
    const [d] = expectCodeAtMarkers(checked(dit(parallel(2, "<|ulysses 2|>"), { height: 240, width: 240 })), "OD3104");
    expect(d!.message).toBe("`ulysses 2` does not divide the 225 tokens of the image.");
    expect(d!.hint).toBe("Use a layout that fits 2 ranks, such as `cfg 2` or `dp 2`; or set `pad: true` under `parallel` to pad the sequence.");
  });

  it("underlines a Ring term that does not divide the tokens of each frame", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(3, "<|ring 3|>"))), "OD3104");
    expect(d!.message).toBe("`ring 3` does not divide the 1024 tokens of each frame.");
    // Temporal attention stays local (each rank holds every frame of its tokens), so 15 frames are fine.
    expectCodeAtMarkers(checked(stdit(parallel(4, "ulysses 2 x ring 2"), { frames: 15 })), "OD3104");
  });

  it("offers degrees for the faulty term that fit", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(8, "cfg 2 x <|ring 3|>"))), "OD3104");
    expect(d!.suggestions).toEqual(["ring 2", "ring 4", "ring 8"]);
  });

  it("underlines both terms when each divides alone but not their product", () => {
    const [d] = expectCodeAtMarkers(checked(dit(parallel(4, "<|ring 2 x ulysses 2|>"), { height: 96, width: 240 })), "OD3104");
    expect(d!.message).toBe("`ring 2 x ulysses 2` does not divide the 90 tokens of the image.");
  });

  it("reports the padding waste instead when `pad: true`", () => {
    const result = checked(dit(parallel(2, "<|ulysses 2|>", "  pad: true\n"), { height: 240, width: 240 }));
    const [d] = expectCodeAtMarkers(result, "OD3113");
    expect(d!.message).toBe("`ulysses 2` pads the 225 tokens of the image to 226 (0.4%); the padded share is computed and thrown away.");
    expect(result.diagnostics.filter((x) => x.code === "OD3104")).toEqual([]);
  });

  it("passes degrees that divide every sequence", () => {
    expectCodeAtMarkers(checked(dit(parallel(4, "ulysses 2 x ring 2"))), "OD3104");
    expectCodeAtMarkers(checked(stdit(parallel(8, "cfg 2 x ring 4"))), "OD3104");
  });
});
