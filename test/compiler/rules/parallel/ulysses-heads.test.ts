import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers } from "../../../helpers/validate.js";
import { checked, parallel, stdit } from "./pipelines.js";

describe("UlyssesHeadsRule (OD3102)", () => {
  it("underlines a Ulysses term that does not divide the heads", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(6, "cfg 2 x <|ulysses 3|>"))), "OD3102");
    expect(d!.message).toBe("`ulysses 3` does not divide the 16 attention heads of STDiT-XL/2.");
    expect(d!.suggestions).toEqual(["ulysses 2", "ulysses 4"]);
    expect(d!.hint).toContain("`pad_heads: true`");
  });

  it("reports the padding waste instead when heads are padded", () => {
    const result = checked(stdit(parallel(6, "cfg 2 x <|ulysses 3|>", "  pad_heads: true\n")));
    const [d] = expectCodeAtMarkers(result, "OD3113");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toContain("pads the 16 attention heads of STDiT-XL/2 to 18");
    expect(d!.message).toContain("2 of 18 heads (11.1% of attention)");
    expect(result.diagnostics.filter((x) => x.code === "OD3102")).toEqual([]);
  });

  it("passes degrees that divide the heads", () => {
    expectCodeAtMarkers(checked(stdit(parallel(8, "cfg 2 x ulysses 4"))), "OD3102");
    expectCodeAtMarkers(checked(stdit(parallel(16, "ulysses 16"))), "OD3102");
  });
});
