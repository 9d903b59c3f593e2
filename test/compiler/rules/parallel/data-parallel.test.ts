import { describe, expect, it } from "vitest";
import { compile } from "../../../../compiler/compile.js";
import { marked } from "../../../helpers/markers.js";
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

  it("passes inputs that split evenly, and leaves prompts given with an embeddings file to OD3307", () => {
    expectCodeAtMarkers(checked(stdit(parallel(8, "dp 2 x dsp 4"), { conditioning: "{ prompts: [a, b, c, d] }" })), "OD3114");
    expectCodeAtMarkers(
      checked(stdit(parallel(8, "dp 2 x dsp 4"), { conditioning: "{ prompts: [a, b, c], embeddings: emb.safetensors }" })),
      "OD3114",
    );
  });

  it("says that an embeddings file holds one sample, which no dp degree splits, where lowering would fail", () => {
    const text = stdit(parallel(8, "<|dp 2|> x dsp 4"), { conditioning: "{ embeddings: emb.safetensors }" });
    const [d] = expectCodeAtMarkers(checked(text), "OD3114");
    expect(d!.severity).toBe("error");
    expect(d!.message).toContain("the `conditioning.embeddings` file holds the features of one sample, which does not split over 2 groups");
    expect(d!.hint).toBe("Remove `dp 2` and give its ranks to another axis; an embeddings file runs one sample.");
    // compile() reports it as the checker's error, never as a lowering failure (OD9001).
    const r = compile(marked(text).text, { fileExists: () => true });
    expect(r.diagnostics.filter((x) => x.severity === "error").map((x) => x.code)).toEqual(["OD3114"]);
    expect(r.plan).toBeUndefined();
    // One sample on one data-parallel group lowers.
    expect(compile(marked(stdit(parallel(4, "dsp 4"), { conditioning: "{ embeddings: emb.safetensors }" })).text, { fileExists: () => true }).plan?.geometry.samples).toBe(1);
  });

  it("counts a prompt in the singular", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(8, "<|dp 2|> x dsp 4"), { conditioning: "{ prompts: [a] }" })), "OD3114");
    expect(d!.message).toContain("the 1 prompt does not split evenly over 2 groups");
  });
});
