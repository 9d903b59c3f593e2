import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers } from "../../../helpers/validate.js";
import { checked, dit, parallel, stdit } from "./pipelines.js";

describe("DataParallelInputsRule (OD3114)", () => {
  it("refuses a dp degree that does not divide the prompts", () => {
    const result = checked(stdit(parallel(8, "<|dp 2|> x dsp 4"), { conditioning: "{ prompts: [a, b, c] }" }));
    const [d] = expectCodeAtMarkers(result, "OD3114");
    expect(d!.severity).toBe("error");
    expect(d!.message).toContain("the 3 prompts do not split evenly over 2 groups");
    expect(d!.hint).toBe("Give 4 prompts under `conditioning` (a multiple of 2).");
  });

  it("offers smaller dp degrees that divide the labels", () => {
    const [d] = expectCodeAtMarkers(
      checked(dit(parallel(4, "<|dp 4|>"), { conditioning: "{ labels: [1, 2, 3, 4, 5, 6] }" })),
      "OD3114",
    );
    expect(d!.message).toContain("the 6 labels");
    expect(d!.suggestions).toEqual(["dp 2", "dp 3"]);
  });

  it("passes inputs that split evenly, and inputs from an embeddings file", () => {
    expectCodeAtMarkers(checked(stdit(parallel(8, "dp 2 x dsp 4"), { conditioning: "{ prompts: [a, b, c, d] }" })), "OD3114");
    expectCodeAtMarkers(
      checked(stdit(parallel(8, "dp 2 x dsp 4"), { conditioning: "{ prompts: [a, b, c], embeddings: emb.safetensors }" })),
      "OD3114",
    );
  });
});
