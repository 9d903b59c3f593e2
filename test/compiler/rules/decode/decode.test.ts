/**
 * The VAE decode's rules: a VAE without a lowered decoder when pixels are asked for (OD3314), tile and overlap
 * sizes (OD3315), the patch split's divisibility and what it does not combine with (OD3316), and a decode
 * without weights (OD3506, a warning in validate and an error in run), each at its place in the file.
 */
import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, expectNoErrors, validateMarked, withCode } from "../../../helpers/validate.js";
import { dedent } from "../model/pipelines.js";

/** DiT-XL/2 at 256x256 (latent 32x32), written as png: it decodes with sd-vae-ft-mse. */
const dit = (rest: string, size = "{ height: 256, width: 256 }") =>
  dedent(`
    version: 1
    name: t
    model: { family: dit, variant: DiT-XL/2, checkpoint: random }
    conditioning: { labels: [207] }
    image: ${size}
    scheduler: { kind: iddpm, steps: 250 }
  `) + rest;

/** Open-Sora 1.2 (its VAE has no lowered decoder). */
const stdit3 = (rest: string) =>
  dedent(`
    version: 1
    name: t
    model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: random }
    conditioning: { prompts: [a cat] }
    video: { frames: 51, height: 240, width: 424 }
    scheduler: { kind: rflow, steps: 30 }
  `) + rest;

const PNG = "output: { dir: out, formats: [png] }\n";

describe("VaeDecoderRule (OD3314)", () => {
  it("refuses Open-Sora 1.2's VAE when the output asks for video, at the VAE, offering none", () => {
    const r = validateMarked(stdit3("vae: { kind: <|opensora-vae-v1.2|>, checkpoint: random }\noutput: { dir: out, formats: [mp4, latents] }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3314");
    expect(d!.severity).toBe("error");
    expect(d!.message).toBe(
      "`vae.kind` is `opensora-vae-v1.2`, which opendit does not decode yet (its temporal decoder is not lowered; the decode covers `sd-vae-ft-ema`, `sd-vae-ft-mse` or `sdxl-vae`): this pipeline can write latents only.",
    );
    expect(d!.hint).toBe("Write `formats: [latents]` and decode the latents with the reference implementation, or `vae: { kind: none }` to keep latents only.");
    expect(d!.suggestions).toEqual(["none"]);
  });

  it("points at the picture format when the VAE is the family default", () => {
    const r = validateMarked(stdit3("output: { dir: out, formats: [latents, <|mp4|>] }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3314");
    expect(d!.message).toMatch(/^Open-Sora 1\.2 STDiT3.* decodes with `opensora-vae-v1\.2`, which opendit does not decode yet/);
  });

  it("lets CausalVAE and Open-Sora 1.2's VAE name the latent space of a latents-only run", () => {
    expectCodeAtMarkers(validateMarked(stdit3("vae: { kind: opensora-vae-v1.2 }\noutput: { dir: out, formats: [latents] }\n")), "OD3314");
    expectCodeAtMarkers(validateMarked(stdit3("vae: { kind: opensora-vae-v1.2 }\n")), "OD3314");
  });

  it("accepts the SD-VAEs", () => {
    expectNoErrors(validateMarked(dit(`vae: { kind: sd-vae-ft-ema, checkpoint: random }\n${PNG}`)));
  });
});

describe("VaeTilingRule (OD3315)", () => {
  it("wants whole latent pixels: tile and overlap multiples of 8, with the nearest offered", () => {
    const r = validateMarked(dit(`vae: { kind: sd-vae-ft-mse, checkpoint: random, tiling: { tile: <|100|>, overlap: <|12|> } }\n${PNG}`));
    const [tile, overlap] = expectCodeAtMarkers(r, "OD3315");
    expect(tile!.message).toBe("`vae.tiling.tile` is 100 pixels, not a multiple of 8: tiles are cut in whole latent pixels (the VAE's 8 pixels each).");
    expect(tile!.suggestions).toEqual(["96", "104"]);
    expect(overlap!.hint).toBe("Use `overlap: 8` or `overlap: 16`.");
  });

  it("wants the overlap below the tile, the default overlap included", () => {
    const r = validateMarked(dit(`vae: { kind: sd-vae-ft-mse, checkpoint: random, tiling: { tile: 128, overlap: <|128|> } }\n${PNG}`));
    const [d] = expectCodeAtMarkers(r, "OD3315");
    expect(d!.message).toBe("`vae.tiling.overlap` is 128 pixels, not smaller than the 128-pixel tile: neighbouring tiles would not advance.");
    expect(d!.suggestions).toEqual(["32"]);
    const byDefault = validateMarked(dit(`vae: { kind: sd-vae-ft-mse, checkpoint: random, tiling: <|{ tile: 64 }|> }\n${PNG}`));
    expect(expectCodeAtMarkers(byDefault, "OD3315")[0]!.message).toContain("64 pixels (the default), not smaller than the 64-pixel tile");
  });

  it("refuses a tile larger than the image, which tiling could not split", () => {
    const r = validateMarked(dit(`vae: { kind: sd-vae-ft-mse, checkpoint: random, tiling: { tile: <|1024|> } }\n${PNG}`, "{ height: 256, width: 512 }"));
    const [d] = expectCodeAtMarkers(r, "OD3315");
    expect(d!.message).toBe("`vae.tiling.tile` is 1024 pixels, larger than the 256x512 image: one tile would hold it all, so tiling does nothing.");
    expect(d!.suggestions).toEqual(["512"]);
  });

  it("accepts `true`, the defaults and a tile that splits one side only", () => {
    for (const tiling of ["true", "{ tile: 512, overlap: 64 }", "{ tile: 384 }", "{ overlap: 0 }"]) {
      const r = validateMarked(dit(`vae: { kind: sd-vae-ft-mse, checkpoint: random, tiling: ${tiling} }\n${PNG}`, "{ height: 256, width: 1024 }"));
      expectCodeAtMarkers(r, "OD3315");
      expectNoErrors(r);
    }
  });
});

describe("VaePatchSplitRule (OD3316)", () => {
  it("refuses a patch split whose ranks do not divide the latent rows, offering none", () => {
    // 256x256: 32 latent rows over the 3 ranks of `ring 3` (padded tokens).
    const r = validateMarked(dit(`parallel: { world: 3, layout: "ring 3", pad: true }\nvae: { kind: sd-vae-ft-mse, checkpoint: random, parallel: <|patch|> }\n${PNG}`));
    const [d] = expectCodeAtMarkers(r, "OD3316");
    expect(d!.message).toBe("`vae.parallel: patch` splits each frame's 32 latent rows over the 3 ranks holding the same samples (`ring 3`), but 32 does not divide by 3.");
    expect(d!.hint).toBe("Write `parallel: none` (one rank decodes whole frames), `tiling: true` with `parallel: none` to bound its memory, or use a height of `240` or `288` pixels.");
    expect(d!.suggestions).toEqual(["none"]);
    // Left to its default, the decode falls back to whole frames on one rank.
    expectCodeAtMarkers(validateMarked(dit(`parallel: { world: 3, layout: "ring 3", pad: true }\nvae: { kind: sd-vae-ft-mse, checkpoint: random }\n${PNG}`)), "OD3316");
  });

  it("does not combine with tiling or PipeFusion", () => {
    const tiled = validateMarked(dit(`parallel: { world: 2, layout: "cfg 2" }\nvae: { kind: sd-vae-ft-mse, checkpoint: random, tiling: true, parallel: <|patch|> }\n${PNG}`));
    expect(expectCodeAtMarkers(tiled, "OD3316")[0]!.message).toContain("`vae.parallel: patch` and `vae.tiling` do not combine");
    const piped = validateMarked(
      dit(`parallel: { world: 2, layout: "pipefusion 2", pipefusion: { patches: 2, warmup: 1 } }\nvae: { kind: sd-vae-ft-mse, checkpoint: random, parallel: <|patch|> }\n${PNG}`),
    );
    expect(expectCodeAtMarkers(piped, "OD3316")[0]!.message).toContain("under PipeFusion only the last pipeline stage holds it");
  });

  it("accepts an even split", () => {
    const text = dit(`parallel: { world: 4, layout: "dp 2 x cfg 2" }\nvae: { kind: sd-vae-ft-mse, checkpoint: random, parallel: patch }\n${PNG}`);
    const r = validateMarked(text.replace("labels: [207]", "labels: [1, 2]"));
    expectNoErrors(r);
  });
});

describe("VaeCheckpointRule (OD3506)", () => {
  it("warns while validating that a decode without `vae.checkpoint` needs weights, at the vae key, offering random", () => {
    const r = validateMarked(dit(`<|vae|>: { kind: sd-vae-ft-ema }\n${PNG}`));
    const [d] = expectCodeAtMarkers(r, "OD3506");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toBe(
      "The output asks for pixels, so the sd-vae-ft-ema decoder runs after denoising, but `vae.checkpoint` names no weights; `opendit run` will need it.",
    );
    expect(d!.hint).toBe(
      "Add `checkpoint: random` for a smoke run with seeded random weights, or the path of the sd-vae-ft-ema weights (stabilityai/sd-vae-ft-ema, diffusers or original LDM names) relative to this file.",
    );
    expect(d!.suggestions).toEqual(["random"]);
  });

  it("is an error when about to run, and points at the picture format without a vae section", () => {
    const r = validateMarked(dit("output: { dir: out, formats: [<|png|>] }\n"), "test.yaml", { mode: "run" });
    const [d] = expectCodeAtMarkers(r, "OD3506");
    expect(d!.severity).toBe("error");
    expect(d!.message).toContain("the sd-vae-ft-mse decoder runs after denoising");
  });

  it("is quiet with weights named, or when nothing is decoded", () => {
    expectCodeAtMarkers(validateMarked(dit(`vae: { kind: sd-vae-ft-ema, checkpoint: random }\n${PNG}`)), "OD3506");
    expectCodeAtMarkers(validateMarked(dit("vae: { kind: sd-vae-ft-ema }\noutput: { dir: out, formats: [latents] }\n")), "OD3506");
    expect(withCode(validateMarked(dit("vae: { kind: none }\n")), "OD3506")).toEqual([]);
  });
});
