import { describe, expect, it } from "vitest";
import { GiB, RUNTIME_RESERVE_BYTES, T5_XXL_ENCODER_PARAMS, estimateMemory, type MemoryEstimate } from "../../../compiler/cost/memory.js";
import { validateText } from "../../../compiler/validate.js";

/** The estimate of a pipeline written in YAML (files never exist; the estimate does not read them). */
function estimate(yaml: string): MemoryEstimate {
  const r = validateText("m.yaml", yaml, { fileExists: () => false, baseDir: "/nonexistent" });
  expect(r.spec, JSON.stringify(r.diagnostics.map((d) => [d.code, d.message]))).toBeDefined();
  const e = estimateMemory(r.spec!, r.facts!);
  expect(e).toBeDefined();
  return e!;
}

interface StditOptions {
  readonly size?: string;
  readonly prompts?: string;
  readonly parallel?: string;
  readonly pab?: string;
  readonly extra?: string;
  readonly dtype?: string;
}

/** Open-Sora 1.0 STDiT-XL/2 (D 1152, 28 joint blocks, MLP 4608); 16x256x256 is 16 x 16 x 16 = 4096 tokens. */
const stdit = (o: StditOptions = {}) => `version: 1
name: m
model: { family: stdit, variant: STDiT-XL/2, checkpoint: random${o.dtype ? `, dtype: ${o.dtype}` : ""} }
conditioning: ${o.prompts ?? '{ prompts: ["a cat"] }'}
video: ${o.size ?? "{ frames: 16, height: 256, width: 256 }"}
scheduler: { kind: iddpm, steps: 100, guidance: 7.0 }
${o.parallel ?? ""}${o.pab ? `acceleration:\n  pab:\n${o.pab}` : ""}${o.extra ?? ""}`;

const dit = (extra = "", size = "{ height: 256, width: 256 }") => `version: 1
name: m
model: { family: dit, variant: DiT-XL/2, checkpoint: random }
conditioning: { labels: [207, 360] }
image: ${size}
scheduler: { kind: iddpm, steps: 250, guidance: 4.0 }
${extra}`;

describe("estimateMemory: weights", () => {
  it("gives STDiT-XL/2 bf16 weights of about 1.52 GB (759.6 M parameters x 2 bytes)", () => {
    const e = estimate(stdit());
    // 759.6 M parameters (models.md §4.1) plus the 120 x 4096 null caption the loader also reads.
    expect(e.parts.weights).toBe((759_620_768 + 120 * 4096) * 2);
    expect(e.parts.weights / 1e9).toBeCloseTo(1.52, 2);
  });

  it("doubles the weights in fp32", () => {
    expect(estimate(stdit({ dtype: "fp32" })).parts.weights).toBe(2 * estimate(stdit()).parts.weights);
  });

  it("gives a PipeFusion stage its share of the blocks and a stale K/V buffer", () => {
    const one = estimate(dit());
    const two = estimate(dit('parallel: { world: 2, layout: "pipefusion 2", pipefusion: { patches: 2, warmup: 1 } }\n'));
    // DiT-XL/2: 28 blocks of 21.24 M parameters (qkv, proj, fc1, fc2 and adaLN); embedders and the final layer stay whole.
    const block = 3 * 1152 * 1152 + 3 * 1152 + 1152 * 1152 + 1152 + 2 * 1152 * 4608 + 4608 + 1152 + 6 * 1152 * 1152 + 6 * 1152;
    expect(one.parts.weights - two.parts.weights).toBe(14 * block * 2);
    expect(one.parts.pipefusionKv).toBe(0);
    // K and V of 256 tokens, 1152 wide, batch 4 (two labels x guidance), 14 blocks, bf16.
    expect(two.parts.pipefusionKv).toBe(2 * 256 * 1152 * 4 * 14 * 2);
    // Half the tokens are in flight.
    expect(two.parts.activations * 2).toBe(one.parts.activations);
  });
});

describe("estimateMemory: activations", () => {
  it("counts one block's peak for the local tokens and batch (x2 for guidance)", () => {
    const e = estimate(stdit());
    expect(e.localTokens).toBe(4096);
    expect(e.localBatch).toBe(2);
    // residual + modulated input + qkv + attention out = 6 D, plus the MLP hidden 4608, in bf16.
    expect(e.parts.activations).toBe(4096 * 2 * (6 * 1152 + 4608) * 2);
  });

  it("cuts activations and PAB caches 4x with DSP 4", () => {
    const pab = "    spatial: every 2 in [450, 930]\n    temporal: every 4 in [450, 930]\n";
    const one = estimate(stdit({ pab }));
    const four = estimate(stdit({ pab, parallel: 'parallel: { world: 4, layout: "dsp 4" }\n' }));
    expect(four.localTokens).toBe(1024);
    expect(one.parts.activations / four.parts.activations).toBe(4);
    expect(one.parts.pabCache / four.parts.pabCache).toBe(4);
    expect(four.parts.weights).toBe(one.parts.weights);
  });

  it("halves the batch with cfg parallel and splits samples over dp", () => {
    const two = estimate(stdit({ prompts: '{ prompts: ["a", "b"] }' }));
    const cfg = estimate(stdit({ prompts: '{ prompts: ["a", "b"] }', parallel: 'parallel: { world: 2, layout: "cfg 2" }\n' }));
    const dp = estimate(stdit({ prompts: '{ prompts: ["a", "b"] }', parallel: 'parallel: { world: 2, layout: "dp 2" }\n' }));
    expect([two.localBatch, cfg.localBatch, dp.localBatch]).toEqual([4, 2, 2]);
    expect(two.parts.activations).toBe(2 * cfg.parts.activations);
  });
});

describe("estimateMemory: caches", () => {
  const one = 28 * 4096 * 2 * 1152 * 2;

  it("keeps one D-wide tensor per block per windowed attention kind, so the PAB cache scales with the windows", () => {
    expect(estimate(stdit()).parts.pabCache).toBe(0);
    expect(estimate(stdit({ pab: "    spatial: every 2 in [450, 930]\n" })).parts.pabCache).toBe(one);
    expect(estimate(stdit({ pab: "    spatial: every 2 in [450, 930]\n    temporal: every 4 in [450, 930]\n" })).parts.pabCache).toBe(2 * one);
    const all = "    spatial: every 2 in [450, 930]\n    temporal: every 4 in [450, 930]\n    cross: every 6 in [450, 930]\n";
    expect(estimate(stdit({ pab: all })).parts.pabCache).toBe(3 * one);
    expect(estimate(stdit({ pab: "    spatial: every 2 in [450, 930]\n    temporal: off\n" })).parts.pabCache).toBe(one);
  });

  it("counts MLP broadcast outputs alive at once per block", () => {
    const cache = (steps: string) =>
      estimate(stdit({ pab: `    mlp:\n      spatial: { steps: ${steps}, blocks: [0, 1, 2], reuse: 2 }\n` })).parts.mlpCache;
    const perBlock = 4096 * 2 * 1152 * 2;
    expect(cache("[10, 20, 30]")).toBe(3 * perBlock);
    // Kept at 10 and 11, both alive on steps 11 and 12.
    expect(cache("[10, 11]")).toBe(3 * 2 * perBlock);
  });
});

describe("estimateMemory: encoders, VAE, latents and total", () => {
  it("lists the T5-XXL encoder when the rank encodes prompts, not with embeddings or class labels", () => {
    expect(estimate(stdit()).parts.textEncoder).toBe(T5_XXL_ENCODER_PARAMS * 2);
    expect(estimate(stdit({ prompts: "{ embeddings: e.safetensors }" })).parts.textEncoder).toBe(0);
    expect(estimate(dit()).parts.textEncoder).toBe(0);
  });

  it("bounds the VAE decode with tiling and drops it for latents-only output", () => {
    const big = "{ height: 2048, width: 2048 }";
    const png = "output: { dir: out, formats: [png] }\n";
    const whole = estimate(dit(`vae: { kind: sd-vae-ft-mse }\n${png}`, big));
    const tiled = estimate(dit(`vae: { kind: sd-vae-ft-mse, tiling: true }\n${png}`, big));
    const small = estimate(dit(`vae: { kind: sd-vae-ft-mse, tiling: { tile: 256, overlap: 32 } }\n${png}`, big));
    expect(whole.parts.vaeDecode).toBe(768 * 2048 * 2048 * 2 + 3 * 2048 * 2048 * 2);
    expect(tiled.parts.vaeDecode).toBe(768 * 512 * 512 * 2 + 3 * 2048 * 2048 * 2);
    expect(small.parts.vaeDecode).toBe(768 * 256 * 256 * 2 + 3 * 2048 * 2048 * 2);
    expect(whole.peakPhase).toBe("decode");
    // Latents only, asked for or by default (no output section): nothing is decoded, as the lowering decides.
    for (const latents of [estimate(dit("output: { dir: out, formats: [latents] }\n")), estimate(dit("vae: { kind: sd-vae-ft-mse }\n"))]) {
      expect([latents.parts.vaeDecode, latents.parts.vaeWeights]).toEqual([0, 0]);
    }
  });

  it("splits the decode's rows over the ranks holding the same samples (the patch default), in the decode's dtype", () => {
    const mp4 = "output: { dir: out, formats: [mp4] }\n";
    const one = estimate(stdit({ extra: mp4 }));
    const four = estimate(stdit({ parallel: 'parallel: { world: 4, layout: "dsp 4" }\n', extra: mp4 }));
    const none = estimate(stdit({ parallel: 'parallel: { world: 4, layout: "dsp 4" }\n', extra: `vae: { kind: sd-vae-ft-ema, parallel: none }\n${mp4}` }));
    const video = 16 * 3 * 256 * 256 * 2;
    expect(one.parts.vaeDecode).toBe(768 * 256 * 256 * 2 + video);
    expect(four.parts.vaeDecode).toBe(768 * 64 * 256 * 2 + video);
    expect(none.parts.vaeDecode).toBe(one.parts.vaeDecode);
    const fp32 = estimate(stdit({ dtype: "fp32", extra: mp4 }));
    expect(fp32.parts.vaeWeights).toBe(2 * one.parts.vaeWeights);
  });

  it("keeps latents in fp32 and sums the resident parts with the larger phase", () => {
    const e = estimate(dit());
    // Two samples: x and the next x (4 channels each) and the output of both guidance halves (8 channels each), 32 x 32.
    expect(e.parts.latents).toBe(2 * (2 * 4 + 2 * 8) * 32 * 32 * 4);
    expect(e.parts.reserve).toBe(RUNTIME_RESERVE_BYTES);
    const p = e.parts;
    const loop = p.activations + p.pipefusionKv + p.pabCache + p.mlpCache;
    expect(e.total).toBe(p.weights + p.textEncoder + p.vaeWeights + p.latents + p.reserve + Math.max(loop, p.vaeDecode));
    expect(e.total).toBeLessThan(4 * GiB);
  });

  it("is undefined when a fact it needs is missing", () => {
    const r = validateText("m.yaml", dit().replace("DiT-XL/2", "DiT-XXL/2"), { fileExists: () => false });
    expect(r.spec).toBeDefined();
    expect(estimateMemory(r.spec!, r.facts!)).toBeUndefined();
  });
});
