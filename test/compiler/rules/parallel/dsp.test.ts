import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, validateMarked } from "../../../helpers/validate.js";
import { checked, dit, parallel, stdit } from "./pipelines.js";

describe("DspDivisibilityRule (OD3103)", () => {
  it("underlines a DSP term that does not divide the token frames, offering degrees and a frame count that do", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(16, "cfg 2 x <|dsp 8|>"), { frames: 12 })), "OD3103");
    expect(d!.message).toBe("`dsp 8` does not divide the 12 token frames (sharded for spatial attention).");
    expect(d!.hint).toBe("Use `dsp 4` or `dsp 2`; or set `frames: 16` under `video`; or set `pad: true` under `parallel` to pad them.");
    expect(d!.suggestions).toEqual(["dsp 4", "dsp 2"]);
  });

  it("offers a frame count when no degree divides both", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(8, "cfg 2 x <|dsp 4|>"), { frames: 15 })), "OD3103");
    expect(d!.hint).toBe("Set `frames: 16` under `video`; or set `pad: true` under `parallel` to pad them.");
    expect(d!.suggestions).toBeUndefined();
  });

  it("underlines a DSP term that does not divide the spatial tokens", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(3, "<|dsp 3|>"), { frames: 15 })), "OD3103");
    expect(d!.message).toBe("`dsp 3` does not divide the 1024 spatial tokens per frame (sharded for temporal attention).");
  });

  it("underlines the term inside an .odit layout", () => {
    const odit =
      'version 1\nname t\nmodel { family stdit  variant "STDiT-XL/2"  checkpoint random }\n' +
      'conditioning { prompts ["a cat"] }\nvideo { frames 15  height 512  width 512 }\n' +
      "scheduler { kind iddpm  steps 100  guidance 7.0 }\nparallel { world 8  layout cfg 2 x <|dsp 4|> }\n";
    const result = validateMarked(odit, "t.odit");
    expect(result.spec).toBeDefined();
    expectCodeAtMarkers(result, "OD3103");
  });

  it("reports the padding waste instead when `pad: true`", () => {
    const result = checked(stdit(parallel(8, "cfg 2 x <|dsp 4|>", "  pad: true\n"), { frames: 15 }));
    const [d] = expectCodeAtMarkers(result, "OD3113");
    expect(d!.message).toBe(
      "`dsp 4` pads 15 token frames to 16 (6.3% of the work is padding); the padded share is computed and thrown away.",
    );
    expect(result.diagnostics.filter((x) => x.code === "OD3103")).toEqual([]);
  });

  it("passes degrees that divide both", () => {
    expectCodeAtMarkers(checked(stdit(parallel(8, "dsp 8"))), "OD3103");
    expectCodeAtMarkers(checked(stdit(parallel(8, "cfg 2 x dsp 4"))), "OD3113");
  });
});

describe("DspFamilyRule (OD3108)", () => {
  it("underlines dsp on an image model", () => {
    const [d] = expectCodeAtMarkers(checked(dit(parallel(8, "cfg 2 x <|dsp 4|>"))), "OD3108");
    expect(d!.message).toContain("DiT-XL/2 is an image model without temporal attention");
    expect(d!.suggestions).toEqual(["ulysses 4", "ring 4"]);
    expect(d!.hint).toContain("`cfg 2 x ulysses 4`");
  });

  it("passes dsp on a video model", () => {
    expectCodeAtMarkers(checked(stdit(parallel(4, "dsp 4"))), "OD3108");
  });
});

describe("DspSequenceAxesRule (OD3115)", () => {
  it("underlines each Ulysses or Ring term next to a DSP term, offering the folded DSP axis", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(8, "<|ulysses 2|> x dsp 4"))), "OD3115");
    expect(d!.message).toContain("`ulysses 2` cannot combine with `dsp 4`");
    expect(d!.suggestions).toEqual(["dsp 8"]);
    expect(d!.hint).toContain("`dsp 8`");
    expectCodeAtMarkers(checked(stdit(parallel(16, "<|ring 2|> x <|ulysses 2|> x dsp 4"))), "OD3115");
  });

  it("passes DSP alone and Ulysses alone", () => {
    expectCodeAtMarkers(checked(stdit(parallel(8, "cfg 2 x dsp 4"))), "OD3115");
    expectCodeAtMarkers(checked(stdit(parallel(8, "cfg 2 x ulysses 4"))), "OD3115");
  });
});
