import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, expectNoErrors, validateMarked } from "../../../helpers/validate.js";
import { dedent } from "./pipelines.js";

describe("VariantKnownRule (OD3301)", () => {
  it("underlines an unknown variant and suggests the closest names", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: dit, variant: <|DiT-XL/3|>, checkpoint: random }
        conditioning: { labels: [207] }
        image: { height: 256, width: 256 }
        scheduler: { kind: iddpm, steps: 250 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3301");
    expect(d!.severity).toBe("error");
    expect(d!.message).toContain("`DiT-XL/3`");
    expect(d!.message).toContain("Did you mean");
    expect(d!.suggestions).toContain("DiT-XL/2");
    expect(d!.hint).toContain("`DiT-S/8`");
  });

  it("lists every variant of a video family when nothing is close", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: stdit
          variant: <|huge|>
          checkpoint: random
        conditioning: { prompts: [a cat] }
        video: { frames: 16, height: 512, width: 512 }
        scheduler: { kind: iddpm, steps: 100 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3301");
    expect(d!.hint).toBe("Use `variant: STDiT-XL/2`; the variants of `stdit` are `STDiT-XL/2` and `stdit-tiny`.");
    expect(d!.suggestions).toEqual(["STDiT-XL/2", "stdit-tiny"]);
  });

  it("accepts a known variant", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: dit, variant: DiT-B/4, checkpoint: random }
        conditioning: { labels: [207] }
        image: { height: 256, width: 256 }
        scheduler: { kind: iddpm, steps: 250 }
      `),
    );
    expectCodeAtMarkers(r, "OD3301");
    expectNoErrors(r);
  });
});

describe("VariantOrHyperRule (OD3302)", () => {
  it("underlines the hyper key when both are given", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          variant: DiT-XL/2
          <|hyper|>: { hidden: 1152, depth: 28, heads: 16 }
          checkpoint: random
        conditioning: { labels: [207] }
        image: { height: 256, width: 256 }
        scheduler: { kind: iddpm, steps: 250 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3302");
    expect(d!.hint).toContain("Remove the `hyper` section");
  });

  it("underlines the model key when neither is given, with the family's first variant as the hint", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        <|model|>: { family: dit, checkpoint: random }
        conditioning: { labels: [207] }
        image: { height: 256, width: 256 }
        scheduler: { kind: iddpm, steps: 250 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3302");
    expect(d!.hint).toContain("`variant: DiT-XL/2`");
    expect(d!.suggestions).toEqual(["variant: DiT-XL/2"]);
  });

  it("accepts explicit hyperparameters alone", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          hyper: { hidden: 64, depth: 2, heads: 4 }
          checkpoint: random
        conditioning: { labels: [1] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
    );
    expectCodeAtMarkers(r, "OD3302");
    expectNoErrors(r);
  });
});
