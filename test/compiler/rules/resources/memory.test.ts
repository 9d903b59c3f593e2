import { describe, expect, it } from "vitest";
import { expectCodeAtMarkers, validateMarked, withCode } from "../../../helpers/validate.js";

/** PAB on all three attention kinds of STDiT, with VideoSys's Open-Sora windows. */
const PAB_EVERYWHERE = `acceleration:
  pab:
    spatial: every 2 in [450, 930]
    temporal: every 4 in [450, 930]
    cross: every 6 in [450, 930]
`;

/** Open-Sora 1.0 STDiT-XL/2 at 64x512x512 (65,536 tokens), the largest size it was trained at, written as mp4 (so decoded). */
const stdit = (o: { prompts: string; guidance?: string; extra: string }) => `version: 1
name: t
model: { family: stdit, variant: STDiT-XL/2, checkpoint: random }
conditioning: { prompts: ${o.prompts} }
video: { frames: 64, height: 512, width: 512 }
scheduler: { kind: iddpm, steps: 100, guidance: ${o.guidance ?? "7.0"} }
output: { dir: out, formats: [mp4] }
${o.extra}`;

describe("MemoryFitsGpuRule (OD3502, OD3503)", () => {
  it("reports a pipeline that obviously exceeds an L40, on the named GPU, with a layout that fits", () => {
    const r = validateMarked(stdit({ prompts: '["a cat", "a dog"]', extra: `runtime: { gpu: <|l40|> }\n${PAB_EVERYWHERE}` }));
    const [d] = expectCodeAtMarkers(r, "OD3502");
    expect(d!.severity).toBe("error");
    expect(d!.message).toBe(
      "The estimated peak memory per rank is 64.80 GiB, 144.0% of the NVIDIA L40 48GB (PCIe)'s 44.99 GiB: DiT weights 1.42 GiB + " +
        "T5-XXL encoder 8.87 GiB + VAE weights 0.09 GiB + latents 0.05 GiB + runtime reserve 1.50 GiB + " +
        "the denoising loop's peak 52.88 GiB (activations 5.63 GiB, PAB caches 47.25 GiB).",
    );
    expect(d!.hint).toBe(
      '`parallel: { world: 2, layout: "cfg 2" }` would bring the estimate to 38.34 GiB per rank (85.2% of the NVIDIA L40 48GB (PCIe)).',
    );
    expect(d!.suggestions).toEqual(["cfg 2"]);
  });

  it("underlines the layout when one is written, and hints a larger DSP degree", () => {
    const prompts = '["a", "b", "c", "d", "e", "f", "g", "h"]';
    const r = validateMarked(stdit({ prompts, guidance: "1.0", extra: `parallel: { world: 2, layout: <|dsp 2|> }\nruntime: { gpu: l40 }\n${PAB_EVERYWHERE}` }));
    const [d] = expectCodeAtMarkers(r, "OD3502");
    expect(d!.hint).toBe('`parallel: { world: 4, layout: "dsp 4" }` would bring the estimate to 38.44 GiB per rank (85.4% of the NVIDIA L40 48GB (PCIe)).');
    expect(d!.suggestions).toEqual(["dsp 4"]);
  });

  it("warns above 90% and hints encoding the prompts ahead of time when that suffices", () => {
    const mlp = "    mlp:\n      spatial: { steps: [20, 40], blocks: [0, 1, 2, 3, 4, 5, 6, 7], reuse: 2 }\n";
    const r = validateMarked(stdit({ prompts: '["a cat"]', extra: `runtime: { gpu: <|l40|> }\n${PAB_EVERYWHERE}${mlp}` }));
    const [d] = expectCodeAtMarkers(r, "OD3503");
    expect(d!.severity).toBe("warning");
    expect(d!.message).toContain("40.59 GiB, 90.2% of the NVIDIA L40 48GB (PCIe)'s 44.99 GiB, leaving little room for fragmentation");
    expect(d!.message).toContain("MLP broadcast caches 2.25 GiB");
    expect(d!.hint).toBe(
      "`conditioning: { embeddings: prompts.safetensors }` (prompts encoded by T5-XXL ahead of time, so the encoder leaves the GPU) " +
        "would bring the estimate to 31.72 GiB per rank (70.5% of the NVIDIA L40 48GB (PCIe)).",
    );
    expect(withCode(r, "OD3502")).toEqual([]);
  });

  it("hints VAE tiling when the decode sets the peak, underlining the size section's key", () => {
    const r = validateMarked(`version: 1
name: t
model: { family: dit, variant: DiT-XL/2, checkpoint: random }
conditioning: { labels: [207, 360] }
<|image|>: { height: 8192, width: 8192 }
scheduler: { kind: iddpm, steps: 250, guidance: 4.0 }
output: { dir: out, formats: [png] }
`);
    const [d] = expectCodeAtMarkers(r, "OD3502");
    expect(d!.message).toContain("the VAE decode's peak 96.38 GiB");
    expect(d!.hint).toBe("`vae: { kind: sd-vae-ft-mse, tiling: true }` would bring the estimate to 25.54 GiB per rank (32.1% of the NVIDIA H100 SXM 80GB).");
  });

  it("says so when no sequence degree is enough", () => {
    const r = validateMarked(`version: 1
name: t
model: { family: stdit, variant: STDiT-XL/2, checkpoint: random }
conditioning: { prompts: ["a", "b", "c", "d"] }
<|video|>: { frames: 1024, height: 2048, width: 2048 }
scheduler: { kind: iddpm, steps: 100, guidance: 7.0 }
${PAB_EVERYWHERE}`);
    const [d] = expectCodeAtMarkers(r, "OD3502");
    expect(d!.hint).toBe(
      "No larger sequence degree (up to 16 times the current one) brings the estimate under 71.68 GiB; lower the size or the number of samples per rank.",
    );
    expect(d!.suggestions).toBeUndefined();
  });

  it("skips the CPU backend", () => {
    const r = validateMarked(stdit({ prompts: '["a cat", "a dog"]', extra: `runtime: { backend: cpu, gpu: l40 }\n${PAB_EVERYWHERE}` }));
    expect(withCode(r, "OD3502")).toEqual([]);
  });

  it("accepts a small pipeline", () => {
    const r = validateMarked(`version: 1
name: t
model: { family: dit, variant: DiT-XL/2, checkpoint: random }
conditioning: { labels: [207, 360] }
image: { height: 256, width: 256 }
scheduler: { kind: iddpm, steps: 250, guidance: 4.0 }
runtime: { gpu: l40 }
`);
    expect([...withCode(r, "OD3502"), ...withCode(r, "OD3503")]).toEqual([]);
  });
});
