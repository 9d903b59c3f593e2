/**
 * `output.preview_every` (previews during the run): the schema wants a whole number of at least 1 (OD2005), and an
 * `output` section of it alone is valid (`dir` and `formats` have defaults); a value beyond the sampler's steps is
 * a warning (OD3317); latents with no linear preview are an error (OD3318), at `vae.kind` where the family has a
 * VAE that fits, else at the setting (`vae: none` keeps latents only: they are in the family's default VAE's space). `--preview-every` (compile's `previewEvery`) is checked the same
 * way, its diagnostics under the command line's text.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../../../compiler/compile.js";
import { PREVIEWED_VAES, hasLatentPreview } from "../../../../compiler/models/vae/latent-preview.js";
import { VAE_KINDS } from "../../../../compiler/spec/schema.js";
import { expectCodeAtMarkers, expectNoErrors, validateMarked, withCode } from "../../../helpers/validate.js";
import { dedent, ditPipeline, stdit3Pipeline } from "./pipelines.js";

const dit = (rest: string) => ditPipeline(rest, 10);
const stdit3 = stdit3Pipeline;

describe("output.preview_every in the schema", () => {
  it("is a whole number of at least 1, refused at its value otherwise", () => {
    const [d] = expectCodeAtMarkers(validateMarked(dit("output: { dir: out, formats: [latents], preview_every: <|0|> }\n")), "OD2005");
    expect(d!.message).toBe("`output.preview_every` must be >= 1, not 0.");
    expect(withCode(validateMarked(dit("output: { dir: out, formats: [latents], preview_every: <|2.5|> }\n")), "OD2003")).toHaveLength(1);
  });

  it("may stand alone in `output`: the directory and formats have defaults", () => {
    const r = validateMarked(dit("vae: { kind: sd-vae-ft-mse }\noutput: { preview_every: 5 }\n"));
    expectNoErrors(r);
    expect(r.spec!.output).toEqual({ preview_every: 5 });
  });
});

describe("PreviewEveryStepsRule (OD3317)", () => {
  it("warns when no step reaches N, offering about four previews or the last step", () => {
    const r = validateMarked(dit("output: { dir: out, formats: [latents], preview_every: <|20|> }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3317");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toBe(
      "`output.preview_every` is 20, but the iddpm scheduler runs 10 steps: no preview is written during the run (the final latents' pictures are written as `formats` asks).",
    );
    expect(d!.hint).toBe("Use `preview_every: 2` (5 previews) or `preview_every: 10` (after the last step only), or remove `preview_every`.");
    expect(d!.suggestions).toEqual(["2", "10"]);
    expectNoErrors(r);
  });

  it("is quiet up to the steps, the last step included", () => {
    for (const n of [1, 3, 10]) expectCodeAtMarkers(validateMarked(dit(`output: { dir: out, formats: [latents], preview_every: ${n} }\n`)), "OD3317");
  });
});

describe("PreviewVaeRule (OD3318)", () => {
  it("takes `vae: none` (latents only) as the family's latent space: DiT's SD-VAE latents have a preview", () => {
    const r = validateMarked(dit("vae: { kind: none }\noutput: { dir: out, formats: [latents], preview_every: 2 }\n"));
    expect(withCode(r, "OD3318")).toEqual([]);
  });

  it("refuses `vae: none` where the family's own latent space has no preview (Open-Sora 1.2)", () => {
    const [d] = expectCodeAtMarkers(validateMarked(stdit3("vae: { kind: none }\noutput: { preview_every: <|5|> }\n")), "OD3318");
    expect(d!.severity).toBe("error");
  });

  it("refuses Open-Sora 1.2's VAE at the setting, the family default or named, with nothing to offer", () => {
    const [byDefault] = expectCodeAtMarkers(validateMarked(stdit3("output: { dir: out, formats: [latents], preview_every: <|5|> }\n")), "OD3318");
    expect(byDefault!.message).toBe(
      "`output.preview_every` writes a linear latent preview during the run, but Open-Sora 1.2 STDiT3 (hpcaitech/Open-Sora v1.2.0) decodes with `opensora-vae-v1.2`, whose latents have no linear preview (its factors are known for `sd-vae-ft-ema`, `sd-vae-ft-mse` or `causalvae-4x8x8` latents only).",
    );
    expect(byDefault!.hint).toBe("Remove `preview_every`: the final latents are still written.");
    expect(byDefault!.suggestions).toBeUndefined();
    const [named] = expectCodeAtMarkers(validateMarked(stdit3("vae: { kind: opensora-vae-v1.2 }\noutput: { preview_every: <|5|> }\n")), "OD3318");
    expect(named!.message).toContain("but `vae.kind` is `opensora-vae-v1.2`, whose latents have no linear preview");
  });

  it("accepts the SD-VAEs and CausalVAE, and leaves a VAE of another latent space to OD3310", () => {
    expectNoErrors(validateMarked(dit("vae: { kind: sd-vae-ft-mse }\noutput: { dir: out, formats: [latents], preview_every: 2 }\n")));
    expectNoErrors(validateMarked(dit("output: { dir: out, formats: [latents], preview_every: 2 }\n")));
    const plan = dedent(`
      version: 1
      name: t
      model: { family: opensora-plan, variant: LatteT2V-XL/122, checkpoint: random }
      conditioning: { prompts: [a cat] }
      video: { frames: 17, height: 256, width: 256 }
      scheduler: { kind: ddim, steps: 50 }
      output: { dir: out, formats: [latents], preview_every: 10 }
    `);
    expect(withCode(validateMarked(plan), "OD3318")).toEqual([]);
    const other = validateMarked(dit("vae: { kind: sdxl-vae }\noutput: { preview_every: 2 }\n"));
    expect(withCode(other, "OD3310")).toHaveLength(1);
    expect(withCode(other, "OD3318")).toEqual([]);
  });

  it("lists the VAEs of runtime/media/preview.ts's map (test/runtime/media/step-previews.test.ts checks the map itself)", () => {
    expect(VAE_KINDS.filter(hasLatentPreview)).toEqual([...PREVIEWED_VAES]);
  });
});

describe("--preview-every", () => {
  const text = dit("vae: { kind: sd-vae-ft-ema }\noutput: { dir: out, formats: [latents] }\n");
  const compileWith = (previewEvery: number, source = text) => compile({ path: "p.yaml", text: source }, { baseDir: "/nonexistent", overridesPath: "<command line>", previewEvery });

  it("sets output.preview_every in the checked Spec, an output section created where the file has none", () => {
    const r = compileWith(2);
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.spec!.output).toEqual({ dir: "out", formats: ["latents"], preview_every: 2 });
    const bare = compileWith(5, dit("vae: { kind: sd-vae-ft-ema }\n"));
    expect(bare.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(bare.spec!.output).toEqual({ preview_every: 5 });
  });

  it("is checked like the file's value, reported under the command line", () => {
    const [steps] = compileWith(20).diagnostics.filter((d) => d.code === "OD3317");
    expect(steps).toMatchObject({ file: "<command line>", start: { line: 1, column: 17 }, end: { line: 1, column: 19 } });
    const [range] = compileWith(0).diagnostics.filter((d) => d.code === "OD2005");
    expect(range).toMatchObject({ file: "<command line>", start: { line: 1, column: 17 }, message: "`output.preview_every` must be >= 1, not 0." });
    // `vae: none` keeps latents only; they are still in the family's SD-VAE space, which has a preview.
    expect(compileWith(2, dit("output: { dir: out, formats: [latents] }\nvae: { kind: none }\n")).diagnostics.filter((d) => d.code === "OD3318")).toEqual([]);
  });
});
