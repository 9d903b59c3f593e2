import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers } from "../../../helpers/validate.js";
import { checked, dit, latte, parallel } from "./pipelines.js";

// DiT-XL/2 at 256 x 256: 16 token rows, 28 blocks.
describe("PipeFusionSettingsRule (OD3109)", () => {
  it("underlines a pipefusion term without `parallel.pipefusion`", () => {
    const [d] = expectCodeAtMarkers(checked(dit(parallel(2, "<|pipefusion 2|>"))), "OD3109");
    expect(d!.message).toContain("`parallel` has no `pipefusion` settings");
    expect(d!.hint).toBe("Add `pipefusion: { patches: 2, warmup: 1 }` under `parallel`.");
  });

  it("underlines the key of settings whose layout has no pipefusion axis", () => {
    const [d] = expectCodeAtMarkers(checked(dit(parallel(2, "cfg 2", "  <|pipefusion|>: { patches: 2, warmup: 1 }\n"))), "OD3109");
    expect(d!.hint).toBe("Set `layout: pipefusion 2`; or remove the `pipefusion` settings to run without a patch pipeline.");
    expectCodeAtMarkers(checked(dit(parallel(1, undefined, "  <|pipefusion|>:\n    patches: 2\n    warmup: 1\n"))), "OD3109");
  });

  it("passes an axis with its settings", () => {
    expectCodeAtMarkers(checked(dit(parallel(2, "pipefusion 2", "  pipefusion: { patches: 2, warmup: 1 }\n"))), "OD3109");
  });
});

describe("PipeFusionWarmupRule (OD3110)", () => {
  it("underlines warm-up steps beyond the sampler's steps", () => {
    const [d] = expectCodeAtMarkers(
      checked(dit(parallel(2, "pipefusion 2", "  pipefusion: { patches: 2, warmup: <|300|> }\n"))),
      "OD3110",
    );
    expect(d!.message).toBe("`warmup: 300` asks for more synchronous warm-up steps than the sampler's 250 steps.");
    expect(d!.hint).toContain("at most 250");
    expect(d!.suggestions).toEqual(["1", "250"]);
  });

  it("passes warm-up within the steps", () => {
    expectCodeAtMarkers(checked(dit(parallel(2, "pipefusion 2", "  pipefusion: { patches: 2, warmup: 250 }\n"))), "OD3110");
  });
});

describe("PipeFusionPatchesRule (OD3111)", () => {
  it("underlines a patch count that does not split the token rows", () => {
    const [d] = expectCodeAtMarkers(checked(dit(parallel(2, "pipefusion 2", "  pipefusion: { patches: <|3|>, warmup: 1 }\n"))), "OD3111");
    expect(d!.message).toBe("`patches: 3` cannot split the 16 token rows of the latent evenly into 3 patches.");
    expect(d!.suggestions).toEqual(["2", "4", "1", "8", "16"]);
  });

  it("counts the sequence ranks into the bands", () => {
    const [d] = expectCodeAtMarkers(
      checked(dit(parallel(4, "pipefusion 2 x ulysses 2", "  pipefusion: { patches: <|16|>, warmup: 1 }\n"))),
      "OD3111",
    );
    expect(d!.message).toContain("16 patches x 2 sequence ranks (`ulysses 2`) = 32 bands");
    expect(d!.suggestions).toEqual(["8", "4", "2", "1"]);
  });

  it("passes patches that split the rows", () => {
    expectCodeAtMarkers(checked(dit(parallel(4, "pipefusion 2 x ulysses 2", "  pipefusion: { patches: 4, warmup: 1 }\n"))), "OD3111");
  });
});

describe("PipeFusionStagesRule (OD3112)", () => {
  it("underlines more stages than blocks", () => {
    const [d] = expectCodeAtMarkers(checked(dit(parallel(32, "<|pipefusion 32|>", "  pipefusion: { patches: 1, warmup: 1 }\n"))), "OD3112");
    expect(d!.message).toBe("`pipefusion 32` asks for 32 pipeline stages, but DiT-XL/2 has only 28 blocks to split among them.");
    expect(d!.suggestions).toEqual(["pipefusion 16", "pipefusion 8", "pipefusion 4", "pipefusion 2"]);
  });

  it("counts spatial and temporal blocks of interleaved families apart", () => {
    const [d] = expectCodeAtMarkers(checked(latte(parallel(32, "<|pipefusion 32|>", "  pipefusion: { patches: 1, warmup: 1 }\n"))), "OD3112");
    expect(d!.message).toContain("28 blocks (14 spatial and 14 temporal)");
  });

  it("passes stages within the blocks", () => {
    expectCodeAtMarkers(checked(latte(parallel(16, "pipefusion 16", "  pipefusion: { patches: 1, warmup: 1 }\n"))), "OD3112");
  });
});

describe("PipeFusionCombinationRule (OD3116)", () => {
  const settings = "  pipefusion: { patches: 2, warmup: 1 }\n";

  it("underlines a ring axis beside pipefusion and offers ulysses", () => {
    const [d] = expectCodeAtMarkers(checked(dit(parallel(4, "pipefusion 2 x <|ring 2|>", settings))), "OD3116");
    expect(d!.hint).toBe("Use `ulysses 2` for the sequence inside each stage, or drop `pipefusion 2`.");
  });

  it("underlines the pipefusion axis when PAB is on", () => {
    const source = dit(parallel(2, "<|pipefusion 2|>", settings)) + 'acceleration: { pab: { spatial: "every 2 in [100, 800]" } }\n';
    const [d] = expectCodeAtMarkers(checked(source), "OD3116");
    expect(d!.message).toContain("with PAB is not lowered");
  });

  it("passes pipefusion with cfg and ulysses", () => {
    expectCodeAtMarkers(checked(dit(parallel(8, "cfg 2 x pipefusion 2 x ulysses 2", settings))), "OD3116");
  });
});
