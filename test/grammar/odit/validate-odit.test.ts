/**
 * A .odit file through the whole front of the compiler: expression mistakes inside it are reported by the
 * checker at the exact characters of the .odit text, because expressions keep their source text and offset.
 */
import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, validateMarked } from "../../helpers/validate.js";

function pipeline(layout: string, spatial: string): string {
  return `version 1
name odit-check
model { family stdit  variant "STDiT-XL/2"  checkpoint random  dtype bf16 }
conditioning { prompts ["a red panda"]  text_encoder t5-v1_1-xxl }
video { frames 16  height 512  width 512  fps 8 }
scheduler { kind iddpm  steps 100  guidance 7.0 }
parallel { world 8  layout ${layout} }
acceleration { pab { spatial ${spatial} } }
vae { kind none }
output { dir out  formats [latents] }
`;
}

describe("expressions in .odit files, checked by validate", () => {
  it("underlines an unknown axis inside a raw layout", () => {
    const result = validateMarked(pipeline("cfg 2 x <|ulyses|> 4", "every 2 in [450, 930]"), "p.odit");
    const [d] = expectCodeAtMarkers(result, "OD1202");
    expect(d!.suggestions).toEqual(["ulysses"]);
  });

  it("underlines a bad degree and reversed window bounds", () => {
    const degree = validateMarked(pipeline("cfg 2 x dsp <|0|>", "every 2 in [450, 930]"), "p.odit");
    expectCodeAtMarkers(degree, "OD1204");
    const bounds = validateMarked(pipeline("cfg 2 x dsp 4", "every 2 in [<|930, 450|>]"), "p.odit");
    expectCodeAtMarkers(bounds, "OD1212");
  });

  it("maps positions inside a quoted expression without escapes", () => {
    const result = validateMarked(pipeline('"cfg 2 x <|tp|> 4"', "every 2 in [450, 930]"), "p.odit");
    expectCodeAtMarkers(result, "OD1202");
  });

  it("stops at syntax errors before the schema and the rules", () => {
    const result = validateMarked(pipeline("cfg 2 x dsp 4", "every 2 in [450, 930]") + "<|}|>\n", "p.odit");
    expectCodeAtMarkers(result, "OD1102");
    expect(result.spec).toBeUndefined();
  });
});
