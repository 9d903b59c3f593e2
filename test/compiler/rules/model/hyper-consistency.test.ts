import { describe, expect, it } from "vitest";
import { HyperConsistencyRule } from "../../../../compiler/check/rules/model/HyperConsistencyRule.js";
import { expectCodeAtMarkers, expectNoErrors, validateMarked } from "../../../helpers/validate.js";
import { dedent, expectRuleAtMarkers } from "./pipelines.js";

describe("HyperConsistencyRule (OD3303)", () => {
  it("underlines heads that do not divide the hidden size and offers the nearest that do", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          hyper: { hidden: 1000, depth: 2, heads: <|16|> }
          checkpoint: random
        conditioning: { labels: [1] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3303");
    expect(d!.message).toContain("1000 / 16 = 62.5");
    expect(d!.hint).toBe("Use `heads: 10` or `heads: 20` (head size 100 or 50).");
    expect(d!.suggestions).toEqual(["10", "20"]);
  });

  it("stays quick on a huge prime hidden size", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          hyper: { hidden: 2147483647, depth: 1, heads: <|16|> }
          checkpoint: random
        conditioning: { labels: [1] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3303");
    expect(d!.hint).toBe("Use `heads: 1` (head size 2147483647).");
  });

  it("needs an even head size where the family applies RoPE (STDiT3's temporal attention)", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: stdit3
          hyper: { hidden: 96, depth: 2, heads: <|32|> }
          checkpoint: random
        conditioning: { prompts: [a cat] }
        video: { frames: 16, height: 64, width: 64 }
        scheduler: { kind: rflow, steps: 10 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3303");
    expect(d!.message).toContain("96 / 32 = 3 is odd");
    expect(d!.message).toContain("temporal attention");
    expect(d!.hint).toBe("Use `heads: 24` or `heads: 48` (head size 4 or 2).");
  });

  it("reads RoPE from the family record, not its name", () => {
    expectRuleAtMarkers(
      HyperConsistencyRule,
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          hyper: { hidden: 96, depth: 2, heads: <|32|> }
          checkpoint: random
        conditioning: { labels: [1] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
      (facts) => ({ ...facts, family: { ...facts.family!, rope: ["spatial"] } }),
      "OD3303",
    );
  });

  it("accepts an odd head size where the family has no RoPE", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          hyper: { hidden: 96, depth: 2, heads: 32 }
          checkpoint: random
        conditioning: { labels: [1] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
    );
    expectCodeAtMarkers(r, "OD3303");
  });

  it("underlines caption_channels that the prompts' encoder does not produce", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: pixart
          hyper: { hidden: 64, depth: 2, heads: 4, caption_channels: <|1024|> }
          checkpoint: random
        conditioning: { prompts: [a cat] }
        image: { height: 64, width: 64 }
        scheduler: { kind: dpm-solver, steps: 10 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3303");
    expect(d!.message).toContain("`t5-v1_1-xxl`, which produces 4096 channels");
    expect(d!.hint).toContain("`caption_channels: 4096`");
    expect(d!.suggestions).toEqual(["4096"]);
  });

  it("accepts other caption_channels when precomputed embeddings replace the encoder", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: pixart
          hyper: { hidden: 64, depth: 2, heads: 4, caption_channels: 1024 }
          checkpoint: random
        conditioning: { embeddings: y.safetensors }
        image: { height: 64, width: 64 }
        scheduler: { kind: dpm-solver, steps: 10 }
      `),
    );
    expectCodeAtMarkers(r, "OD3303");
  });

  it("underlines the keys of fields the family does not read", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          hyper: { hidden: 64, depth: 2, heads: 4, <|caption_channels|>: 4096, <|text_tokens|>: 120, <|patch_t|>: 1 }
          checkpoint: random
        conditioning: { labels: [1] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
    );
    const found = expectCodeAtMarkers(r, "OD3303");
    expect(found[0]!.message).toContain("has no text cross-attention");
    expect(found[2]!.message).toContain("no time axis");
    expect(found[0]!.hint).toBe("Remove `caption_channels: 4096` from `hyper`.");
  });

  it("underlines num_classes on a text family", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: pixart
          hyper: { hidden: 64, depth: 2, heads: 4, <|num_classes|>: 10 }
          checkpoint: random
        conditioning: { prompts: [a cat] }
        image: { height: 64, width: 64 }
        scheduler: { kind: dpm-solver, steps: 10 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3303");
    expect(d!.message).toContain("is conditioned on text");
  });

  it("underlines in_channels that the VAE does not decode", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          hyper: { hidden: 64, depth: 2, heads: 4, in_channels: <|8|> }
          checkpoint: random
        conditioning: { labels: [1] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3303");
    expect(d!.message).toContain("`sd-vae-ft-mse` decodes latents of 4 channels");
    expect(d!.hint).toContain("`in_channels: 4`");
  });

  it("accepts in_channels of any size when nothing is decoded", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model:
          family: dit
          hyper: { hidden: 64, depth: 2, heads: 4, in_channels: 8 }
          checkpoint: random
        conditioning: { labels: [1] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
        vae: { kind: none }
        output: { dir: out, formats: [latents] }
      `),
    );
    expectCodeAtMarkers(r, "OD3303");
    expectNoErrors(r);
  });
});
