/** Random checkpoints of every family's tiny variant: exactly the registry's names and shapes, reproducible values. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkCheckpoint } from "../../checkpoint/check.js";
import { bf16ToF32, f32ToBf16 } from "../../checkpoint/dtype.js";
import { GENERATOR, randomTensor, writeRandomCheckpoint } from "../../checkpoint/random.js";
import { openSafetensors } from "../../checkpoint/safetensors.js";
import { knownFamilies } from "../../compiler/models/registry.js";
import type { ModelFamily } from "../../compiler/models/types.js";

const dir = mkdtempSync(join(tmpdir(), "opendit-random-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tiny(family: ModelFamily) {
  const variant = `${family.family}-tiny`;
  const input = family.variants[variant];
  if (!input) throw new Error(`${family.family} has no ${variant}`);
  return { variant, hyper: family.resolve(input) };
}

describe.each(knownFamilies().map((f) => [f.family, f] as const))("%s's tiny variant", (_name, family) => {
  const { variant, hyper } = tiny(family);
  const expected = family.weights(hyper);

  it("holds exactly the registry's tensors, names and shapes, with the generator's values", async () => {
    const path = join(dir, `${family.family}.safetensors`);
    const written = await writeRandomCheckpoint(path, { family, hyper, seed: 1, dtype: "fp32", size: { variant } });
    expect(written.tensors).toEqual(expected);
    const reader = await openSafetensors(path);
    try {
      const { header } = reader;
      expect(header.fileBytes).toBe(written.bytes);
      const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
      expect(header.tensors.map((t) => ({ name: t.name, shape: t.shape }))).toEqual(expected.map((w) => ({ name: w.name, shape: w.shape })).sort(byName));
      expect(new Set(header.tensors.map((t) => t.dtype))).toEqual(new Set(["F32"]));
      expect(checkCheckpoint(header.tensors, expected, family.skippedTensors)).toEqual({ problems: [], skipped: [] });
      expect(header.metadata).toEqual({
        format: "pt",
        "opendit.generator": GENERATOR,
        "opendit.family": family.family,
        "opendit.variant": variant,
        "opendit.seed": "1",
      });
      for (const w of expected.slice(0, 6)) expect(await reader.readF32(w.name)).toEqual(randomTensor(1, w.name, w.shape));
    } finally {
      await reader.close();
    }
  });
});

describe("random checkpoint files", () => {
  const family = knownFamilies().find((f) => f.family === "stdit3")!;
  const { variant, hyper } = tiny(family);
  const write = (name: string, seed: number, dtype: "fp32" | "bf16") =>
    writeRandomCheckpoint(join(dir, name), { family, hyper, seed, dtype, size: { variant } }).then(() => readFileSync(join(dir, name)));

  it("are byte-identical for the same seed and differ for another", async () => {
    const a = await write("a.safetensors", 9, "fp32");
    const b = await write("b.safetensors", 9, "fp32");
    const c = await write("c.safetensors", 10, "fp32");
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });

  it("in bf16 hold the fp32 values rounded to nearest even", async () => {
    await write("bf16.safetensors", 9, "bf16");
    const reader = await openSafetensors(join(dir, "bf16.safetensors"));
    try {
      const name = "spatial_blocks.0.attn.q_norm.weight";
      const shape = family.weights(hyper).find((w) => w.name === name)!.shape;
      const rounded = Float32Array.from(randomTensor(9, name, shape), (v) => bf16ToF32(f32ToBf16(v)));
      expect(reader.header.tensors.find((t) => t.name === name)!.dtype).toBe("BF16");
      expect(await reader.readF32(name)).toEqual(rounded);
    } finally {
      await reader.close();
    }
  });

  it("record explicit hyperparameters when no variant names the size", async () => {
    const path = join(dir, "hyper.safetensors");
    const input = { hidden: 32, depth: 1, heads: 2 };
    await writeRandomCheckpoint(path, { family, hyper: family.resolve(input), seed: 0, dtype: "fp32", size: { hyper: JSON.stringify(input) } });
    const reader = await openSafetensors(path);
    await reader.close();
    expect(reader.header.metadata["opendit.hyper"]).toBe('{"hidden":32,"depth":1,"heads":2}');
    expect(reader.header.metadata["opendit.variant"]).toBeUndefined();
  });
});
