import { describe, expect, it } from "vitest";
import { CfgParallelFamilyRule } from "../../../../compiler/check/rules/parallel/CfgParallelFamilyRule.js";
import { expectCodeAtMarkers } from "../../../helpers/validate.js";
import { checked, dit, expectRuleAtMarkers, latte, parallel, stdit } from "./pipelines.js";

describe("CfgParallelGuidanceRule (OD3105)", () => {
  it("underlines a cfg term when guidance is 1", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(8, "<|cfg 2|> x dsp 4"), { guidance: 1 })), "OD3105");
    expect(d!.message).toContain("guidance is 1 (`scheduler.guidance`)");
    expect(d!.hint).toContain("drop `cfg 2` and use `dsp 8`");
    expect(d!.suggestions?.[0]).toBe("dsp 8");
  });

  it("passes guidance above 1", () => {
    expectCodeAtMarkers(checked(stdit(parallel(8, "cfg 2 x dsp 4"))), "OD3105");
    expectCodeAtMarkers(checked(dit(parallel(2, "cfg 2"), { guidance: 1.5 })), "OD3105");
  });
});

describe("CfgParallelFamilyRule (OD3106)", () => {
  it("underlines a cfg term for a class-or-none model run without labels", () => {
    const [d] = expectCodeAtMarkers(checked(latte(parallel(2, "<|cfg 2|>"))), "OD3106");
    expect(d!.message).toContain("Latte-XL/2 runs unconditionally without `conditioning.labels`");
    expect(d!.hint).toContain("give `labels` under `conditioning`");
  });

  it("underlines a cfg term for a model without a null input", () => {
    const [r] = expectRuleAtMarkers(
      CfgParallelFamilyRule,
      stdit(parallel(8, "<|cfg 2|> x dsp 4")),
      (f) => ({ ...f, family: { ...f.family!, uncond: "none" }, cfg: false }),
      "OD3106",
    );
    expect(r!.message).toContain("STDiT-XL/2 has no unconditional branch");
    expect(r!.suggestions?.[0]).toBe("dsp 8");
  });

  it("passes a class-or-none model given labels, and text models", () => {
    expectCodeAtMarkers(checked(latte(parallel(2, "cfg 2"), { conditioning: "{ labels: [1, 2] }" })), "OD3106");
    expectCodeAtMarkers(checked(stdit(parallel(2, "cfg 2"))), "OD3106");
  });
});

describe("CfgDegreeRule (OD3107)", () => {
  it("underlines a cfg degree other than 2", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(4, "cfg <|4|>"))), "OD3107");
    expect(d!.message).toContain("`cfg 4` has degree 4");
    expect(d!.suggestions).toEqual(["2"]);
    expect(d!.hint).toContain("`cfg 2 x dsp 2`");
    const [one] = expectCodeAtMarkers(checked(stdit(parallel(4, "cfg <|1|> x dsp 4"))), "OD3107");
    expect(one!.hint).toContain("Drop the `cfg 1` term, which splits nothing");
  });

  it("passes cfg 2", () => {
    expectCodeAtMarkers(checked(stdit(parallel(2, "cfg 2"))), "OD3107");
  });
});
