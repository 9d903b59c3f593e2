/** Latent frames, pixel divisors and token grids against models.md §12's cheat-sheet and the VAE rules. */
import { describe, expect, it } from "vitest";
import { familyInfo } from "../../../compiler/models/registry.js";
import type { Family } from "../../../compiler/spec/schema.js";

function grid(family: Family, frames: number, height: number, width: number) {
  const f = familyInfo(family)!;
  const h = f.resolve(Object.values(f.variants)[0]!);
  const g = f.geometry(h, { frames, height, width });
  return {
    latent: [g.latentFrames, g.latentHeight, g.latentWidth],
    tokens: [g.tokenFrames, g.tokenRows, g.tokenCols],
    total: g.tokenFrames * g.tokenRows * g.tokenCols,
  };
}

describe("token geometry (§12 cheat-sheet rows)", () => {
  it.each([
    ["dit", 1, 256, 256, [1, 32, 32], [1, 16, 16], 256],
    ["dit", 1, 512, 512, [1, 64, 64], [1, 32, 32], 1024],
    ["pixart", 1, 512, 512, [1, 64, 64], [1, 32, 32], 1024],
    ["pixart", 1, 1024, 1024, [1, 128, 128], [1, 64, 64], 4096],
    ["latte", 16, 256, 256, [16, 32, 32], [16, 16, 16], 4096],
    ["latte-t2v", 16, 512, 512, [16, 64, 64], [16, 32, 32], 16384],
    ["stdit", 16, 256, 256, [16, 32, 32], [16, 16, 16], 4096],
    ["stdit", 16, 512, 512, [16, 64, 64], [16, 32, 32], 16384],
    ["stdit", 64, 512, 512, [64, 64, 64], [64, 32, 32], 65536],
    ["stdit3", 51, 240, 426, [15, 30, 53], [15, 15, 27], 6075],
    ["stdit3", 51, 720, 1280, [15, 90, 160], [15, 45, 80], 54000],
    ["stdit3", 102, 480, 854, [30, 60, 106], [30, 30, 53], 47700],
    ["opensora-plan", 65, 512, 512, [17, 64, 64], [17, 32, 32], 17408],
    ["opensora-plan", 221, 512, 512, [56, 64, 64], [56, 32, 32], 57344],
  ] as const)("%s %ix%ix%i", (family, frames, height, width, latent, tokens, total) => {
    expect(grid(family, frames, height, width)).toEqual({ latent, tokens, total });
  });

  it("STDiT3 pads an odd latent side up to the patch instead of dropping it", () => {
    // 240 x 426: latent width 53 is odd; the patch embedder pads it to 54, so 27 columns, not 26.
    expect(grid("stdit3", 1, 240, 426).tokens).toEqual([1, 15, 27]);
  });
});

describe("pixel divisors", () => {
  it("is 8 x patch for families that do not pad, and 8 for STDiT3", () => {
    const divisor = (family: Family, variant?: string) => {
      const f = familyInfo(family)!;
      return f.pixelDivisor(f.resolve(f.variants[variant ?? Object.keys(f.variants)[0]!]!));
    };
    expect(["dit", "pixart", "latte", "latte-t2v", "stdit", "opensora-plan"].map((n) => divisor(n as Family))).toEqual([16, 16, 16, 16, 16, 16]);
    expect(divisor("dit", "DiT-XL/8")).toBe(64);
    expect(divisor("stdit3")).toBe(8);
  });
});

describe("latent frames", () => {
  it("is 1 for images", () => {
    expect(familyInfo("pixart")!.latentFrames(1)).toBe(1);
    expect(familyInfo("dit")!.latentFrames(1)).toBe(1);
  });

  it("keeps every frame for the per-frame SD-VAE families", () => {
    for (const n of ["latte", "latte-t2v", "stdit"] as const) {
      expect(familyInfo(n)!.latentFrames(16)).toBe(16);
      expect(familyInfo(n)!.latentFrames(17)).toBe(17);
    }
  });

  it("follows the Open-Sora 1.2 VAE: 5 per whole 17-frame chunk, ceil(r / 4) for the rest (§5.6)", () => {
    const lt = familyInfo("stdit3")!.latentFrames;
    expect([1, 4, 5, 16, 17, 18, 34, 51, 68, 102].map(lt)).toEqual([1, 1, 2, 4, 5, 6, 10, 15, 20, 30]);
  });

  it("follows CausalVAE 4x8x8: 1 + (F - 1) / 4, and explains any other count (§6)", () => {
    const lt = familyInfo("opensora-plan")!.latentFrames;
    expect([1, 5, 17, 65, 221].map(lt)).toEqual([1, 2, 5, 17, 56]);
    for (const bad of [2, 16, 64, 66]) expect(typeof lt(bad), String(bad)).toBe("string");
    expect(lt(64)).toMatch(/1 \+ 4k frames.*64.*61/);
  });
});
