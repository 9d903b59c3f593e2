import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers } from "../../../helpers/validate.js";
import { checked, dit, parallel, stdit } from "./pipelines.js";

describe("LayoutProductRule (OD3101)", () => {
  it("underlines a layout whose degrees do not multiply to the world, offering layouts for that world", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel(8, "<|cfg 2 x dsp 2|>"))), "OD3101");
    expect(d!.message).toBe("The layout `cfg 2 x dsp 2` uses 4 ranks (2 x 2), but `world` is 8.");
    expect(d!.suggestions?.slice(0, 2)).toEqual(["cfg 2 x dsp 4", "dsp 8"]);
    expect(d!.hint).toContain("`cfg 2 x dsp 4`, `dsp 8`, `cfg 2 x ulysses 4`");
    expect(d!.hint).toContain("set `world: 4`");
  });

  it("underlines the text inside quotes", () => {
    expectCodeAtMarkers(checked(stdit(parallel(2, '"<|dsp 4|>"'))), "OD3101");
  });

  it("reports a layout on one rank", () => {
    const [d] = expectCodeAtMarkers(checked(dit(parallel(1, "<|cfg 2|>"))), "OD3101");
    expect(d!.hint).toBe("Set `world: 2`, or remove the layout to run on one rank.");
  });

  it("reports a world of several ranks with no layout on `world`", () => {
    const [d] = expectCodeAtMarkers(checked(stdit(parallel("<|8|>"))), "OD3101");
    expect(d!.message).toContain("`world: 8`");
    expect(d!.hint).toContain("Add `layout: cfg 2 x dsp 4` under `parallel`");
  });

  it("passes layouts that multiply to the world, and one rank without a layout", () => {
    expectCodeAtMarkers(checked(stdit(parallel(8, "cfg 2 x dsp 4"))), "OD3101");
    expectCodeAtMarkers(checked(dit(parallel(4, "ulysses 2 x cfg 2"))), "OD3101");
    expectCodeAtMarkers(checked(dit(parallel(1))), "OD3101");
    expectCodeAtMarkers(checked(dit("")), "OD3101");
  });
});
