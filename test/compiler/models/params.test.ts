/**
 * Parameter counts of the official variants against models.md. The exact figures are derived by hand from the
 * state-dict tables (D = 1152, D² = 1,327,104); each is also checked against the rounded figure models.md prints.
 */
import { describe, expect, it } from "vitest";
import { paramCount } from "../../../compiler/models/common.js";
import { familyInfo } from "../../../compiler/models/registry.js";
import type { WeightInfo } from "../../../compiler/models/types.js";
import type { Family } from "../../../compiler/spec/schema.js";

function weightsOf(family: Family, variant: string): WeightInfo[] {
  const f = familyInfo(family)!;
  const input = f.variants[variant];
  if (!input) throw new Error(`no variant ${variant} in ${family}`);
  return f.weights(f.resolve(input));
}

/** Elements of one named tensor. */
function sizeOf(weights: readonly WeightInfo[], name: string): number {
  const t = weights.find((w) => w.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  return t.shape.reduce((a, b) => a * b, 1);
}

const millions = (n: number) => (n / 1e6).toFixed(1);

describe("parameter counts of the official variants", () => {
  it("DiT-XL/2: 674.8 M without pos_embed (§1.1)", () => {
    // 28 x (qkv+proj 5,313,024 + mlp 10,622,592 + adaLN 7,969,536) + x_embedder 19,584 + t_embedder 1,624,320
    // + y_embedder 1,153,152 + final adaLN 2,656,512 + final linear 36,896
    const n = paramCount(weightsOf("dit", "DiT-XL/2"));
    expect(n).toBe(674_834_720);
    expect(millions(n)).toBe("674.8");
  });

  it("PixArt-XL/2: 610.9 M parameters, plus the 120 x 4096 null-caption buffer (§2.1)", () => {
    // 28 x (table 6,912 + attn 5,313,024 + cross 5,313,024 + mlp 10,622,592) + x_embedder 19,584
    // + t_embedder 1,624,320 + t_block 7,969,536 + y_proj 6,048,000 + final table 2,304 + final linear 36,896
    const w = weightsOf("pixart", "PixArt-XL/2");
    const buffer = sizeOf(w, "y_embedder.y_embedding");
    expect(buffer).toBe(491_520);
    expect(paramCount(w) - buffer).toBe(610_856_096);
    expect(millions(paramCount(w) - buffer)).toBe("610.9");
  });

  it("PixArt-XL/2-1024-MS: 0.49 M more for the two size embedders (§2.1)", () => {
    const ms = paramCount(weightsOf("pixart", "PixArt-XL/2-1024-MS"));
    const plain = paramCount(weightsOf("pixart", "PixArt-XL/2"));
    // 2 x (256 x 384 + 384 + 384 x 384 + 384)
    expect(ms - plain).toBe(493_056);
    expect((ms - plain) / 1e6).toBeCloseTo(0.49, 2);
  });

  it("STDiT-XL/2: 759.6 M, PixArt plus 28 temporal attentions (§4.1)", () => {
    const w = weightsOf("stdit", "STDiT-XL/2");
    const n = paramCount(w) - sizeOf(w, "y_embedder.y_embedding");
    expect(n).toBe(610_856_096 + 28 * 5_313_024);
    expect(millions(n)).toBe("759.6");
  });

  it("STDiT3-XL/2: about 1.21 B including the 56 qk-norm pairs (§5.1)", () => {
    // 56 x (table 6,912 + attn 5,313,024 + qk-norm 144 + cross 5,313,024 + mlp 10,622,592) + x_embedder 19,584
    // + t_embedder and fps_embedder 2 x 1,624,320 + t_block 7,969,536 + y_proj 6,048,000 + y_embedding 1,228,800
    // + final table 2,304 + final linear 36,896
    const w = weightsOf("stdit3", "STDiT3-XL/2");
    const n = paramCount(w);
    expect(n).toBe(1_208_872_736);
    expect((n / 1e9).toFixed(2)).toBe("1.21");
    expect((n - sizeOf(w, "y_embedder.y_embedding")) / 1e9).toBeCloseTo(1.21, 2);
    const qkNorm = w.filter((t) => /\.attn\.[qk]_norm\.weight$/.test(t.name));
    expect(qkNorm).toHaveLength(112);
  });

  it("Latte-1: about 1.06 B (§3.2)", () => {
    // 28 x spatial (table 6,912 + 2 attentions 10,626,048 + ff 10,622,592) + 28 x temporal (6,912 + 5,313,024
    // + 10,622,592) + patch 19,584 + timestep 1,624,320 + adaln 7,969,536 + caption 6,048,000 + 2,304 + 36,896
    const n = paramCount(weightsOf("latte-t2v", "Latte-1"));
    expect(n).toBe(1_057_246_880);
    expect((n / 1e9).toFixed(2)).toBe("1.06");
  });

  it("Open-Sora-Plan LatteT2V-XL/122: the Latte-1 architecture, so the same count (§6)", () => {
    expect(paramCount(weightsOf("opensora-plan", "LatteT2V-XL/122"))).toBe(1_057_246_880);
  });

  it("Latte-XL/2: DiT-XL/2's 28 blocks with a 102-row UCF101 label table (§3.1)", () => {
    // DiT-XL/2's count less its 1001-row table (1,153,152) plus the 102-row one (117,504).
    const n = paramCount(weightsOf("latte", "Latte-XL/2"));
    expect(n).toBe(674_834_720 - 1_153_152 + 117_504);
    expect(paramCount(weightsOf("latte", "Latte-XL/2-uncond"))).toBe(n - 117_504);
  });
});
