/** The registry against the schema, and the invariants every family record must keep. */
import { describe, expect, it } from "vitest";
import { paramCount } from "../../../compiler/models/common.js";
import { familyInfo, knownFamilies } from "../../../compiler/models/registry.js";
import { FAMILIES, type Family } from "../../../compiler/spec/schema.js";

const EPS_SAMPLERS = ["iddpm", "ddim", "dpm-solver"];
const FLOW_SAMPLERS = ["rflow", "euler"];

describe("model registry", () => {
  it("has exactly the schema's families, each under its own name", () => {
    expect(knownFamilies().map((f) => f.family).sort()).toEqual([...FAMILIES].sort());
    for (const name of FAMILIES) expect(familyInfo(name)?.family).toBe(name);
  });

  it("knows no family outside the schema, not even an inherited key", () => {
    expect(familyInfo("sd3" as Family)).toBeUndefined();
    expect(familyInfo("constructor" as Family)).toBeUndefined();
  });

  for (const f of knownFamilies()) {
    describe(f.family, () => {
      it("has defaults its own samplers and VAEs allow", () => {
        expect(f.samplers).toContain(f.defaults.scheduler);
        expect(f.vaes).toContain(f.defaults.vae);
        expect(f.defaults.steps).toBeGreaterThan(0);
        expect(f.defaults.guidance).toBeGreaterThan(1);
      });

      it("offers exactly the samplers of its training objective", () => {
        expect([...f.samplers].sort()).toEqual([...(f.prediction === "flow" ? FLOW_SAMPLERS : EPS_SAMPLERS)].sort());
      });

      it("names PAB only for attention kinds it has, and MLP broadcast only for block kinds it has", () => {
        expect(f.attention).toContain("spatial");
        if (f.blocks === "single") expect(f.mlpBlockKinds).toEqual(["spatial"]);
        if (f.blocks === "interleaved") expect([...f.mlpBlockKinds].sort()).toEqual(["spatial", "temporal"]);
        expect(f.attention.includes("temporal")).toBe(f.kind === "video");
      });

      it("resolves every variant to consistent sizes with a positive, duplicate-free tensor list", () => {
        for (const [name, input] of Object.entries(f.variants)) {
          const h = f.resolve(input);
          expect(h.headDim * h.heads, name).toBe(h.hidden);
          expect(h.outChannels, name).toBe(2 * h.inChannels); // learn_sigma everywhere here
          const w = f.weights(h);
          expect(new Set(w.map((t) => t.name)).size, name).toBe(w.length);
          for (const t of w) for (const d of t.shape) expect(Number.isInteger(d) && d > 0, `${name} ${t.name}`).toBe(true);
          expect(paramCount(w)).toBeGreaterThan(0);
        }
      });

      it("never lists a skipped tensor among those the loader reads", () => {
        const names = new Set(f.weights(f.resolve(Object.values(f.variants)[0]!)).map((t) => t.name));
        for (const s of f.skippedTensors ?? []) expect(names.has(s), s).toBe(false);
      });
    });
  }

  it("gives each of the families beyond DiT a CPU-sized `<family>-tiny` variant (hidden 64, depth 2, heads 4)", () => {
    for (const name of FAMILIES.filter((n) => n !== "dit")) {
      const tiny = familyInfo(name)!.variants[`${name}-tiny`];
      expect(tiny, name).toMatchObject({ hidden: 64, depth: 2, heads: 4 });
    }
  });

  it("puts the official variant first, as the default", () => {
    const first = Object.fromEntries(knownFamilies().map((f) => [f.family, Object.keys(f.variants)[0]]));
    expect(first).toEqual({
      dit: "DiT-XL/2",
      pixart: "PixArt-XL/2",
      latte: "Latte-XL/2",
      "latte-t2v": "Latte-1",
      stdit: "STDiT-XL/2",
      stdit3: "STDiT3-XL/2",
      "opensora-plan": "LatteT2V-XL/122",
    });
  });

  it("records the conditioning, guidance input and channel rule of each reference (models.md §9.5)", () => {
    const table = Object.fromEntries(knownFamilies().map((f) => [f.family, [f.conditioning, f.uncond, f.prediction, f.cfgChannels, f.blocks]]));
    expect(table).toEqual({
      dit: ["class", "null-class", "eps", 3, "single"],
      pixart: ["text", "null-caption", "eps", 3, "single"],
      latte: ["class-or-none", "null-class", "eps", "all", "interleaved"],
      "latte-t2v": ["text", "negative-prompt", "eps", "all", "interleaved"],
      stdit: ["text", "null-caption", "eps", 3, "joint"],
      stdit3: ["text", "null-caption", "flow", "all", "interleaved"],
      "opensora-plan": ["text", "negative-prompt", "eps", "all", "interleaved"],
    });
  });

  it("records each reference script's default sampler, steps, guidance and VAE", () => {
    const table = Object.fromEntries(knownFamilies().map((f) => [f.family, f.defaults]));
    expect(table.pixart).toEqual({ scheduler: "dpm-solver", steps: 20, guidance: 4.5, vae: "sd-vae-ft-ema" });
    expect(table.latte).toEqual({ scheduler: "iddpm", steps: 250, guidance: 7.0, vae: "sd-vae-ft-ema" });
    expect(table["latte-t2v"]).toEqual({ scheduler: "ddim", steps: 50, guidance: 7.5, vae: "sd-vae-ft-ema" });
    expect(table.stdit).toEqual({ scheduler: "iddpm", steps: 100, guidance: 7.0, vae: "sd-vae-ft-ema" });
    expect(table.stdit3).toEqual({ scheduler: "rflow", steps: 30, guidance: 7.0, vae: "opensora-vae-v1.2" });
    expect(table["opensora-plan"]).toEqual({ scheduler: "ddim", steps: 50, guidance: 7.5, vae: "causalvae-4x8x8" });
  });

  it("resolves text tokens and classes per family", () => {
    const first = (n: Family) => {
      const f = familyInfo(n)!;
      return f.resolve(Object.values(f.variants)[0]!);
    };
    expect([first("pixart").textTokens, first("stdit").textTokens, first("latte-t2v").textTokens]).toEqual([120, 120, 120]);
    expect([first("stdit3").textTokens, first("opensora-plan").textTokens]).toEqual([300, 300]);
    expect(first("pixart").captionChannels).toBe(4096);
    expect(first("latte").numClasses).toBe(101);
    expect(first("latte").captionChannels).toBe(0);
    expect(familyInfo("latte")!.resolve(familyInfo("latte")!.variants["Latte-XL/2-uncond"]!).numClasses).toBe(0);
    expect(first("stdit").numClasses).toBe(0);
  });

  it("lets explicit hyperparameters override a family default", () => {
    const h = familyInfo("stdit3")!.resolve({ hidden: 96, depth: 3, heads: 6, text_tokens: 77, learn_sigma: false });
    expect(h).toMatchObject({ headDim: 16, textTokens: 77, outChannels: 4, captionChannels: 4096, mlpHidden: 384, sizeEmbedders: false });
  });

  it("lists the trained sizes a warning compares against, and none for multi-resolution STDiT3", () => {
    expect(familyInfo("pixart")!.trainedSizes).toEqual([
      { height: 256, width: 256 },
      { height: 512, width: 512 },
      { height: 1024, width: 1024 },
    ]);
    expect(familyInfo("stdit")!.trainedSizes?.map((s) => `${s.frames}x${s.height}x${s.width}`)).toEqual(["16x256x256", "16x512x512", "64x512x512"]);
    expect(familyInfo("latte")!.trainedSizes).toEqual([{ frames: 16, height: 256, width: 256 }]);
    expect(familyInfo("latte-t2v")!.trainedSizes).toEqual([{ frames: 16, height: 512, width: 512 }]);
    expect(familyInfo("opensora-plan")!.trainedSizes?.map((s) => `${s.frames}x${s.height}x${s.width}`).sort()).toEqual(
      ["17x256x256", "221x512x512", "65x256x256", "65x512x512"].sort(),
    );
    expect(familyInfo("stdit3")!.trainedSizes).toBeUndefined();
  });
});

describe("family extras", () => {
  it("names RoPE only where the reference has it: STDiT3's temporal attention", () => {
    const withRope = knownFamilies().filter((f) => (f.rope ?? []).length > 0);
    expect(withRope.map((f) => [f.family, f.rope])).toEqual([["stdit3", ["temporal"]]]);
  });

  it("points every official variant at where its weights are published, and no tiny one", () => {
    for (const f of knownFamilies().filter((f) => f.family !== "dit")) {
      const official = Object.keys(f.variants).filter((v) => !v.endsWith("-tiny"));
      expect(Object.keys(f.officialWeights ?? {}).sort(), f.family).toEqual(official.sort());
    }
    expect(familyInfo("stdit3")!.officialWeights).toEqual({ "STDiT3-XL/2": "hpcai-tech/OpenSora-STDiT-v3" });
  });
});
