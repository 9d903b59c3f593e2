/**
 * The random stream: the 32-bit-halves arithmetic against BigInt, and the first keys, draws, normals and
 * values pinned. The pinned numbers were also reproduced by an independent implementation written from
 * checkpoint/README.md alone, so a change to any of them is a change to the specification: it must come
 * with a new generator name (random.ts GENERATOR) and the native side's matching change.
 */
import { describe, expect, it } from "vitest";
import { f32Bits } from "../../checkpoint/dtype.js";
import { add64, boxMuller, draw, fillNormals, fnv1a64, logUnit, mix64, mul64, seedWord, tensorKey, uniform, type U64 } from "../../checkpoint/generator.js";
import { initFor } from "../../checkpoint/init.js";
import { GENERATOR, randomTensor } from "../../checkpoint/random.js";

const MASK = (1n << 64n) - 1n;
const big = (x: U64): bigint => (BigInt(x.hi) << 32n) | BigInt(x.lo);
const word = (x: bigint): U64 => ({ hi: Number((x >> 32n) & 0xffffffffn), lo: Number(x & 0xffffffffn) });
const hex = (x: U64): string => `0x${big(x).toString(16).padStart(16, "0")}`;

/** SplitMix64's output function on BigInt, straight from the README's formula. */
function mixBig(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

/** 64-bit words that cover carries, all-ones halves and zero. */
function sampleWords(): bigint[] {
  const words = [0n, 1n, MASK, 0xffffffffn, 0x100000000n, 0x8000000080000000n, 0x9e3779b97f4a7c15n];
  let x = 0x0123456789abcdefn;
  for (let i = 0; i < 200; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & MASK;
    words.push(x);
  }
  return words;
}

describe("64-bit arithmetic on two 32-bit halves", () => {
  const words = sampleWords();

  it("add64 and mul64 wrap around exactly as 64-bit integers", () => {
    for (const a of words) {
      for (const b of words.slice(0, 40)) {
        expect(big(add64(word(a), word(b)))).toBe((a + b) & MASK);
        expect(big(mul64(word(a), word(b)))).toBe((a * b) & MASK);
      }
    }
  });

  it("mix64 is SplitMix64's finaliser", () => {
    for (const z of words) expect(big(mix64(word(z)))).toBe(mixBig(z));
  });

  it("fnv1a64 hashes the UTF-8 bytes (the published test vectors)", () => {
    expect(hex(fnv1a64(""))).toBe("0xcbf29ce484222325");
    expect(hex(fnv1a64("a"))).toBe("0xaf63dc4c8601ec8c");
    expect(hex(fnv1a64("foobar"))).toBe("0x85944171f73967e8");
    // A name outside ASCII is hashed as its UTF-8 bytes (é is 0xC3 0xA9), not as UTF-16 code units.
    let h = 0xcbf29ce484222325n;
    for (const byte of [0xc3, 0xa9]) h = ((h ^ BigInt(byte)) * 0x100000001b3n) & MASK;
    expect(big(fnv1a64("é"))).toBe(h);
  });

  it("the counter form is SplitMix64 run from the key", () => {
    const key = tensorKey(5, "w");
    let state = big(key);
    for (let n = 0; n < 20; n++) {
      state = (state + 0x9e3779b97f4a7c15n) & MASK;
      expect(big(draw(key, n))).toBe(mixBig(state));
    }
  });

  it("seeds are the pipeline's weights_seed range", () => {
    expect(big(seedWord(2 ** 53 - 1))).toBe(2n ** 53n - 1n);
    expect(() => seedWord(-1)).toThrow(RangeError);
    expect(() => seedWord(1.5)).toThrow(RangeError);
    expect(() => seedWord(2 ** 53)).toThrow(RangeError);
  });
});

describe("the pinned stream (opendit-random-v1)", () => {
  const key = tensorKey(0, "x_embedder.proj.weight");

  it("keys and draws", () => {
    expect(GENERATOR).toBe("opendit-random-v1");
    expect(hex(fnv1a64("x_embedder.proj.weight"))).toBe("0xe1a93c6446efb981");
    expect(hex(mix64(add64(seedWord(0), { hi: 0x9e3779b9, lo: 0x7f4a7c15 })))).toBe("0xe220a8397b1dcdaf");
    expect(hex(key)).toBe("0x9e1e53c449e8118a");
    expect([0, 1, 2].map((n) => hex(draw(key, n)))).toEqual(["0xe8015c4e9c0e5c3f", "0x3d011223ce73cc2f", "0xb8e9e49321f98030"]);
  });

  it("uniforms, the logarithm and the first normals", () => {
    const u1 = uniform(draw(key, 0));
    const u2 = uniform(draw(key, 1));
    expect([u1, u2]).toEqual([0.9062707607191042, 0.23829759000950823]);
    expect(boxMuller(u1, u2)).toEqual([0.03259223923176568, 0.44246138287284237]);
    expect(logUnit(0.5)).toBe(-0.6931471805599453);
    expect(logUnit(1e-300)).toBe(-690.7755278982137);
    expect(logUnit(0.123)).toBe(-2.0955709236097193);
  });

  it("the first fp32 values of tensors of each init rule", () => {
    const bits = (seed: number, name: string, shape: number[]) => Array.from(randomTensor(seed, name, shape), f32Bits).slice(0, 8).map((b) => b.toString(16));
    expect(bits(0, "x_embedder.proj.weight", [3, 5])).toEqual(["3a2ae090", "3c10fc5a", "bc7f120c", "3b8a7b06", "bcd799df", "3c8ee81c", "bd102455", "3af49b03"]);
    expect(bits(7, "blocks.0.attn.q_norm.weight", [17])).toEqual(["3f7e0b7c", "3f8082e6", "3f7db376", "3f7bd695", "3f83a18c", "3f85aac9", "3f7dc4ed", "3f8139c9"]);
    expect(bits(123456789012345, "blocks.3.scale_shift_table", [6, 64])).toEqual(["bd2f1147", "3ac85ec9", "bdbb2921", "bcfa7b91", "3def7c27", "3d2c8269", "bd5f716d", "3da92e04"]);
    expect(bits(0, "é.bias", [9])).toEqual(["3b5c6075", "bd04151d", "bd047ef7", "3c32f6af", "bc69176e", "3b4f04b1", "bce54703", "bbc66075"]);
    // The end of a long odd-length tensor: the last element is the cos half of its pair.
    expect(Array.from(randomTensor(42, "big.weight", [200001]).subarray(-3), f32Bits).map((b) => b.toString(16))).toEqual(["bc904019", "3d27210e", "3bc71794"]);
  });
});

describe("properties of the stream", () => {
  it("a tensor's values depend on its seed and name only, not on its shape's split or on other tensors", () => {
    const flat = randomTensor(3, "blocks.0.mlp.fc1.weight", [24]);
    expect(randomTensor(3, "blocks.0.mlp.fc1.weight", [4, 6])).toEqual(flat);
    expect(randomTensor(3, "blocks.0.mlp.fc1.weight", [25]).subarray(0, 24)).toEqual(flat);
    expect(randomTensor(4, "blocks.0.mlp.fc1.weight", [24])).not.toEqual(flat);
    expect(randomTensor(3, "blocks.1.mlp.fc1.weight", [24])).not.toEqual(flat);
  });

  it("normals have mean 0 and standard deviation 1", () => {
    const z = new Float32Array(200_000);
    fillNormals(tensorKey(11, "z"), z, (v) => v);
    const mean = z.reduce((a, b) => a + b, 0) / z.length;
    const sd = Math.sqrt(z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length);
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(sd - 1)).toBeLessThan(0.01);
  });

  it("the series agree with Math.log, Math.cos and Math.sin to a few units in the last place", () => {
    for (let i = 1; i < 1000; i++) {
      const u = i / 1000;
      expect(Math.abs(logUnit(u) - Math.log(u))).toBeLessThanOrEqual(4e-16 * Math.max(1, Math.abs(Math.log(u))));
      const [c, s] = boxMuller(Math.exp(-0.5), u);
      expect(Math.abs(c - Math.cos(2 * Math.PI * u))).toBeLessThan(1e-15);
      expect(Math.abs(s - Math.sin(2 * Math.PI * u))).toBeLessThan(1e-15);
    }
  });
});

describe("initialisation by tensor kind", () => {
  it.each([
    ["spatial_blocks.0.attn.q_norm.weight", [16], "norm-weight", 0.02, 1],
    ["blocks.0.attn.qkv.bias", [192], "bias", 0.02, 0],
    ["blocks.2.scale_shift_table", [6, 64], "table", 0.125, 0],
    ["y_embedder.y_embedding", [120, 4096], "table", 1 / 64, 0],
    ["x_embedder.proj.weight", [64, 4, 2, 2], "weight", 0.02, 0],
    ["y_embedder.embedding_table.weight", [11, 64], "weight", 0.02, 0],
    ["transformer_blocks.0.ff.net.0.proj.weight", [256, 64], "weight", 0.02, 0],
  ] as const)("%s: %s", (name, shape, rule, scale, offset) => {
    expect(initFor(name, shape)).toEqual({ rule, scale, offset });
  });
});
