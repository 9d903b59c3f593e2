import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, validateMarked, withCode } from "../../../helpers/validate.js";
import { dedent, ditPipeline, stdit3Pipeline } from "./pipelines.js";

const dit = (rest: string) => ditPipeline(rest);
const stdit3 = stdit3Pipeline;

describe("VaeFamilyRule (OD3310)", () => {
  it("underlines a VAE from another latent space and offers the family default", () => {
    const r = validateMarked(stdit3("vae: { kind: <|sd-vae-ft-ema|> }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3310");
    expect(d!.message).toContain("latent space of `opensora-vae-v1.2`");
    expect(d!.hint).toBe("Use `kind: opensora-vae-v1.2` (the family default), or `kind: none` to keep the latents.");
    expect(d!.suggestions).toEqual(["opensora-vae-v1.2"]);
  });

  it("accepts the family's VAEs and none", () => {
    for (const kind of ["sd-vae-ft-ema", "sd-vae-ft-mse", "none"]) {
      expectCodeAtMarkers(validateMarked(dit(`vae: { kind: ${kind} }\n`)), "OD3310");
    }
  });

  it("underlines the other SD-VAE lineage on DiT", () => {
    const [d] = expectCodeAtMarkers(validateMarked(dit("vae:\n  kind: <|sdxl-vae|>\n")), "OD3310");
    expect(d!.suggestions).toEqual(["sd-vae-ft-mse", "sd-vae-ft-ema"]);
  });
});

describe("OutputFormatsRule (OD3311)", () => {
  it("underlines video formats on an image family", () => {
    const r = validateMarked(dit("output: { dir: out, formats: [png, <|gif|>, <|mp4|>] }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3311");
    expect(d!.message).toContain("writes a video");
    expect(d!.hint).toBe("Remove `gif`; `png` already writes the images.");
  });

  it("offers png when it is not listed", () => {
    const [d] = expectCodeAtMarkers(validateMarked(dit("output: { dir: out, formats: [<|mp4|>] }\n")), "OD3311");
    expect(d!.suggestions).toEqual(["png"]);
  });

  it("underlines picture formats when the VAE is none", () => {
    const r = validateMarked(stdit3("vae: { kind: none }\noutput: { dir: out, formats: [latents, <|mp4|>, <|png|>] }\n"));
    const [d] = expectCodeAtMarkers(r, "OD3311");
    expect(d!.hint).toBe("Set `vae: { kind: opensora-vae-v1.2 }` to decode, or write `formats: [latents]`.");
  });

  it("warns that picture formats with `vae: none` write the linear preview where the family's latents have one", () => {
    const r = validateMarked(dit("vae: { kind: none }\noutput: { dir: out, formats: [latents, <|png|>] }\n"));
    expect(withCode(r, "OD3311")).toEqual([]);
    const [d] = expectCodeAtMarkers(r, "OD3319");
    expect(d!.severity).toBe("warning");
    expect(d!.hint).toBe("Set `vae: { kind: sd-vae-ft-mse }` for decoded pixels."); // DiT's default VAE
  });

  it("accepts video formats on a video family with its default VAE, and latents without a VAE", () => {
    expectCodeAtMarkers(validateMarked(stdit3("output: { dir: out, formats: [mp4, gif, png, latents] }\n")), "OD3311");
    expectCodeAtMarkers(validateMarked(dit("vae: { kind: none }\noutput: { dir: out, formats: [latents] }\n")), "OD3311");
  });
});

describe("DtypeBackendRule (OD3312)", () => {
  it("warns at a reduced dtype on the CPU backend", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: dit, variant: DiT-XL/2, checkpoint: random, dtype: <|bf16|> }
        conditioning: { labels: [207] }
        image: { height: 256, width: 256 }
        scheduler: { kind: iddpm, steps: 250 }
        runtime: { backend: cpu }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3312");
    expect(d!.severity).toBe("warning");
    expect(d!.hint).toContain("`dtype: fp32`");
  });

  it("is quiet for fp32 on CPU and for bf16 on CUDA", () => {
    const text = (dtype: string, backend: string) =>
      dedent(`
        version: 1
        name: t
        model: { family: dit, variant: DiT-XL/2, checkpoint: random, dtype: ${dtype} }
        conditioning: { labels: [207] }
        image: { height: 256, width: 256 }
        scheduler: { kind: iddpm, steps: 250 }
        runtime: { backend: ${backend} }
      `);
    expectCodeAtMarkers(validateMarked(text("fp32", "cpu")), "OD3312");
    expectCodeAtMarkers(validateMarked(text("bf16", "cuda")), "OD3312");
  });
});

describe("UntrainedResolutionRule (OD3313)", () => {
  const ditAt = (variant: string, checkpoint: string, image: string) =>
    dedent(`
      version: 1
      name: t
      model: { family: dit, variant: ${variant}, checkpoint: ${checkpoint} }
      conditioning: { labels: [207] }
      <|image|>: ${image}
      scheduler: { kind: iddpm, steps: 250 }
    `);

  it("warns at the size section when no trained size is close", () => {
    const r = validateMarked(ditAt("DiT-XL/2", "DiT-XL-2-256x256.safetensors", "{ height: 384, width: 384 }"));
    const [d] = expectCodeAtMarkers(r, "OD3313");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toContain("trained at `256x256` or `512x512`");
    expect(d!.hint).toBe("Use `image: { height: 256, width: 256 }`, or keep this size if you accept the risk.");
  });

  it("underlines the one field that differs from a trained size", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: dit, variant: DiT-XL/2, checkpoint: DiT-XL-2-256x256.safetensors }
        conditioning: { labels: [207] }
        image: { height: 256, width: <|320|> }
        scheduler: { kind: iddpm, steps: 250 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3313");
    expect(d!.suggestions).toEqual(["256"]);
  });

  it("underlines the frame count of a video trained at this size with other lengths", () => {
    const r = validateMarked(
      dedent(`
        version: 1
        name: t
        model: { family: opensora-plan, variant: LatteT2V-XL/122, checkpoint: ckpt.safetensors }
        conditioning: { prompts: [a cat] }
        video: { frames: <|17|>, height: 512, width: 512 }
        scheduler: { kind: ddim, steps: 50 }
      `),
    );
    const [d] = expectCodeAtMarkers(r, "OD3313");
    expect(d!.suggestions).toEqual(["65", "221"]);
  });

  it("is quiet at trained sizes, for random weights, tiny variants, explicit hyper and families trained at any size", () => {
    const none = (text: string) => expectCodeAtMarkers(validateMarked(text.replace("<|image|>", "image")), "OD3313");
    none(ditAt("DiT-XL/2", "ckpt.safetensors", "{ height: 512, width: 512 }"));
    none(ditAt("DiT-XL/2", "random", "{ height: 384, width: 384 }"));
    none(
      dedent(`
        version: 1
        name: t
        model: { family: latte, variant: latte-tiny, checkpoint: ckpt.safetensors }
        video: { frames: 8, height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
    );
    none(
      dedent(`
        version: 1
        name: t
        model: { family: dit, hyper: { hidden: 64, depth: 2, heads: 4 }, checkpoint: ckpt.safetensors }
        conditioning: { labels: [1] }
        image: { height: 64, width: 64 }
        scheduler: { kind: iddpm, steps: 10 }
      `),
    );
    none(
      dedent(`
        version: 1
        name: t
        model: { family: stdit3, variant: STDiT3-XL/2, checkpoint: ckpt.safetensors }
        conditioning: { prompts: [a cat] }
        video: { frames: 51, height: 240, width: 424 }
        scheduler: { kind: rflow, steps: 30 }
      `),
    );
  });
});
