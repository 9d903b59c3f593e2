import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, expectNoErrors, validateMarked } from "../../../helpers/validate.js";
import { dedent } from "./pipelines.js";

describe("SizeKindRule (OD3304)", () => {
  it("underlines an image section on a video family and offers the video section of the same size", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: stdit, variant: STDiT-XL/2, checkpoint: random }
        conditioning: { prompts: [a cat] }
        <|image|>: { height: 256, width: 384 }
        scheduler: { kind: iddpm, steps: 100 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3304");
    expect(d!.message).toContain("takes a `video` size, not `image`");
    expect(d!.hint).toBe("Write the size as `video: { frames: 16, height: 256, width: 384 }`.");
  });

  it("underlines a video section on an image family", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: dit, variant: DiT-XL/2, checkpoint: random }
        conditioning: { labels: [207] }
        <|video|>: { frames: 16, height: 256, width: 256 }
        scheduler: { kind: iddpm, steps: 250 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3304");
    expect(d!.hint).toBe("Write the size as `image: { height: 256, width: 256 }`.");
  });

  it("underlines the extra section when both are given", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: dit, variant: DiT-XL/2, checkpoint: random }
        conditioning: { labels: [207] }
        image: { height: 256, width: 256 }
        <|video|>: { frames: 16, height: 256, width: 256 }
        scheduler: { kind: iddpm, steps: 250 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3304");
    expect(d!.hint).toContain("Remove the `video` section");
  });

  it("underlines the family when no size is given, with a frame count the family's VAE accepts", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: <|opensora-plan|>, variant: LatteT2V-XL/122, checkpoint: random }
        conditioning: { prompts: [a cat] }
        scheduler: { kind: ddim, steps: 50 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3304");
    expect(d!.hint).toBe("Add `video: { frames: 65, height: 512, width: 512 }`.");
  });
});

describe("ResolutionDivisorRule (OD3305)", () => {
  it("DiT 250x256: underlines the height and offers 240 or 256", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: dit, variant: DiT-XL/2, checkpoint: random }
        conditioning: { labels: [207] }
        image: { height: <|250|>, width: 256 }
        scheduler: { kind: iddpm, steps: 250 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3305");
    expect(d!.message).toContain("not a multiple of 16");
    expect(d!.message).toContain("patch size 2");
    expect(d!.hint).toBe("Use `height: 240` or `height: 256`.");
    expect(d!.suggestions).toEqual(["240", "256"]);
  });

  it("uses the patch size of the variant (DiT-XL/8 needs multiples of 64) and checks both sides", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: dit, variant: DiT-XL/8, checkpoint: random }
        conditioning: { labels: [207] }
        image: { height: <|288|>, width: <|40|> }
        scheduler: { kind: iddpm, steps: 250 }
      `),
    );
    const [h, w] = expectCodeAtMarkers(r, "OD3305");
    expect(h!.suggestions).toEqual(["256", "320"]);
    expect(w!.hint).toBe("Use `width: 64`.");
  });

  it("STDiT3 720x1280 is fine (it pads to the patch, so only the VAE's 8 divides)", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: random }
        conditioning: { prompts: [a cat] }
        video: { frames: 51, height: 720, width: 1280 }
        scheduler: { kind: rflow, steps: 30 }
      `),
    );
    expectCodeAtMarkers(r, "OD3305");
    expectNoErrors(r);
  });

  it("STDiT3 still needs multiples of 8", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: random }
        conditioning: { prompts: [a cat] }
        video: { frames: 51, height: 720, width: <|1284|> }
        scheduler: { kind: rflow, steps: 30 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3305");
    expect(d!.suggestions).toEqual(["1280", "1288"]);
    expect(d!.message).not.toContain("patch size");
  });
});

describe("FrameCountRule (OD3306)", () => {
  it("Open-Sora-Plan 64 frames: underlines the count and offers 61 or 65", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: opensora-plan, variant: LatteT2V-XL/122, checkpoint: random }
        conditioning: { prompts: [a cat] }
        video: { frames: <|64|>, height: 512, width: 512 }
        scheduler: { kind: ddim, steps: 50 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3306");
    expect(d!.message).toContain("`video.frames` is 64");
    expect(d!.message).toContain("1 + 4k frames");
    expect(d!.hint).toBe("Use `frames: 61` or `frames: 65`.");
    expect(d!.suggestions).toEqual(["61", "65"]);
  });

  it("accepts 1 + 4k frames for Open-Sora-Plan and any count for STDiT", () => {
    for (const [family, variant, frames, kind] of [
      ["opensora-plan", "LatteT2V-XL/122", 65, "ddim"],
      ["stdit", "STDiT-XL/2", 7, "iddpm"],
    ] as const) {
      const r = validateMarked(
        dedent(`
          version: 1
          name: t
          model: { family: ${family}, variant: ${variant}, checkpoint: random }
          conditioning: { prompts: [a cat] }
          video: { frames: ${frames}, height: 512, width: 512 }
          scheduler: { kind: ${kind}, steps: 50 }
        `),
      );
      expectCodeAtMarkers(r, "OD3306");
    }
  });
});
