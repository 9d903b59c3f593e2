/**
 * Reference interpreter, ops group B: self- and cross-attention against direct tiny computations (masks,
 * validKeys, qk-norm and RoPE worked by hand on two tokens), patch_embed and unpatchify as exact inverses (and
 * their shards, bands, padding and CFG repetition), the guidance formula, and one step of every solver against
 * the step-table formula written out here, with the noise drawn from the documented stream.
 */
import { describe, expect, it } from "vitest";
import { fillNormals, tensorKey } from "../../../checkpoint/generator.js";
import type { CrossAttentionOp, GuidanceOp, PatchEmbedOp, SelfAttentionOp, SolverOp, UnpatchifyOp } from "../../../compiler/plan/ops.js";
import type { Plan } from "../../../compiler/plan/types.js";
import type { StepEntry } from "../../../compiler/schedule/step-table.js";
import type { Memory, Values } from "../../../runtime/reference/memory.js";
import { runCrossAttention } from "../../../runtime/reference/ops/cross-attention.js";
import { runGuidance } from "../../../runtime/reference/ops/guidance.js";
import { runPatchEmbed } from "../../../runtime/reference/ops/patch-embed.js";
import { runSelfAttention } from "../../../runtime/reference/ops/self-attention.js";
import { runSolverUpdate } from "../../../runtime/reference/ops/solver-update.js";
import { runUnpatchify } from "../../../runtime/reference/ops/unpatchify.js";

/** Deterministic values in (−1, 1) (a linear congruential sequence; any fixed numbers would do). */
function values(count: number, seed: number): Float64Array {
  const out = new Float64Array(count);
  let s = seed >>> 0;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

interface MemoryOptions {
  readonly weights?: Record<string, Float64Array>;
  readonly steps?: readonly StepEntry[];
  readonly step?: number;
  readonly coords?: Record<string, number>;
  readonly degrees?: Record<string, number>;
}

/** A one-rank memory over the given buffers; the plan carries only what these ops read (steps, mesh axes). */
function memory(buffers: Record<string, Values>, o: MemoryOptions = {}): Memory {
  const axes = Object.entries(o.degrees ?? {}).map(([name, degree]) => ({ name, degree, stride: 1 }));
  const plan = { steps: (o.steps ?? []).map((schedule) => ({ schedule, pattern: 0 })), mesh: { axes } } as unknown as Plan;
  return {
    plan,
    rank: { coords: o.coords ?? {} },
    buffers: new Map(Object.entries(buffers)),
    weights: new Map(Object.entries(o.weights ?? {})),
    step: o.step ?? 0,
  };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i]! - expected[i]!) > tolerance) throw new Error(`element ${i}: ${actual[i]} differs from ${expected[i]}`);
  }
}

/** softmax(scale·q·kᵀ)·v for one query over the given keys and values (plain arrays). */
function attendOne(q: number[], keys: number[][], vals: number[][], scale: number): number[] {
  if (keys.length === 0) return q.map(() => 0);
  const logits = keys.map((k) => scale * k.reduce((a, kd, d) => a + kd * q[d]!, 0));
  const weights = logits.map((l) => Math.exp(l));
  const total = weights.reduce((a, b) => a + b, 0);
  return q.map((_, d) => vals.reduce((a, v, j) => a + (weights[j]! / total) * v[d]!, 0));
}

describe("self_attention", () => {
  const base = { op: "self_attention", id: 7, qkv: "qkv", out: "out" } as const;

  it("matches softmax attention per sequence and head from the packed q, k, v", () => {
    const [batch, seq, heads, hd] = [2, 3, 2, 2];
    const D = heads * hd;
    const qkv = values(batch * seq * 3 * D, 1);
    const out = new Float64Array(batch * seq * D);
    const op: SelfAttentionOp = { ...base, batch, seq, heads, headDim: hd, scale: 0.7 };
    runSelfAttention(op, memory({ qkv, out }));
    const at = (b: number, i: number, s: number, h: number): number[] => [0, 1].map((d) => qkv[(b * seq + i) * 3 * D + s * D + h * hd + d]!);
    for (let b = 0; b < batch; b++) {
      for (let h = 0; h < heads; h++) {
        const keys = [0, 1, 2].map((j) => at(b, j, 1, h));
        const vals = [0, 1, 2].map((j) => at(b, j, 2, h));
        for (let i = 0; i < seq; i++) {
          const o = attendOne(at(b, i, 0, h), keys, vals, 0.7);
          expectClose([...out.subarray((b * seq + i) * D + h * hd, (b * seq + i) * D + h * hd + hd)], o);
        }
      }
    }
  });

  it("gives keys at or past validKeys no weight, and still computes every query", () => {
    const [seq, hd] = [4, 3];
    const qkv = values(seq * 3 * hd, 2);
    const out = new Float64Array(seq * hd);
    const op: SelfAttentionOp = { ...base, batch: 1, seq, heads: 1, headDim: hd, scale: 0.5, validKeys: 2 };
    runSelfAttention(op, memory({ qkv, out }));
    const row = (i: number, s: number): number[] => [...qkv.subarray(i * 3 * hd + s * hd, i * 3 * hd + s * hd + hd)];
    for (let i = 0; i < seq; i++) {
      const o = attendOne(row(i, 0), [row(0, 1), row(1, 1)], [row(0, 2), row(1, 2)], 0.5);
      expectClose([...out.subarray(i * hd, i * hd + hd)], o);
    }
    // Changing the padded keys and values changes nothing.
    const changed = qkv.slice();
    for (let d = 0; d < 2 * hd; d++) changed[3 * 3 * hd + hd + d] = 100 + d;
    const again = new Float64Array(seq * hd);
    runSelfAttention(op, memory({ qkv: changed, out: again }));
    expectClose(again, out);
  });

  it("applies per-head RMSNorm, then RoPE over interleaved pairs, on a 2-token case worked by hand", () => {
    // One head of 4 dimensions; q_0 = (1, 2, 3, 4), k_1 = (2, 0, 0, 1) and so on.
    const q = [[1, 2, 3, 4], [0, 1, -1, 2]];
    const k = [[1, 0, 1, 0], [2, 0, 0, 1]];
    const v = [[1, 2, 3, 4], [5, 6, 7, 8]];
    const qkv = new Float64Array(2 * 12);
    for (let i = 0; i < 2; i++) for (let d = 0; d < 4; d++) [qkv[i * 12 + d], qkv[i * 12 + 4 + d], qkv[i * 12 + 8 + d]] = [q[i]![d]!, k[i]![d]!, v[i]![d]!];
    const qw = new Float64Array([1, 2, 0.5, 1]);
    const kw = new Float64Array([1, 1, 2, 3]);
    const eps = 1e-6;
    const out = new Float64Array(8);
    const op: SelfAttentionOp = {
      ...base, batch: 1, seq: 2, heads: 1, headDim: 4, scale: 0.5,
      qNorm: { weight: "qn", eps }, kNorm: { weight: "kn", eps }, rope: { theta: 100 },
    };
    runSelfAttention(op, memory({ qkv, out }, { weights: { qn: qw, kn: kw } }));
    const norm = (x: number[], w: Float64Array): number[] => {
      const r = Math.sqrt(x.reduce((a, y) => a + y * y, 0) / 4 + eps);
      return x.map((y, d) => (w[d]! * y) / r);
    };
    // Position 0 does not rotate; position 1 rotates pair 0 by 1 rad and pair 1 by 100^(−2/4) = 0.1 rad.
    const rot = (x: number[], p: number): number[] => {
      const [a0, a1] = [p * 1, p * 0.1];
      return [
        x[0]! * Math.cos(a0) - x[1]! * Math.sin(a0), x[1]! * Math.cos(a0) + x[0]! * Math.sin(a0),
        x[2]! * Math.cos(a1) - x[3]! * Math.sin(a1), x[3]! * Math.cos(a1) + x[2]! * Math.sin(a1),
      ];
    };
    const qs = q.map((x, p) => rot(norm(x, qw), p));
    const ks = k.map((x, p) => rot(norm(x, kw), p));
    for (let i = 0; i < 2; i++) expectClose([...out.subarray(i * 4, i * 4 + 4)], attendOne(qs[i]!, ks, v, 0.5));
  });

  it("refuses ring attention and K/V rows outside the K/V buffer's sequence, naming the op", () => {
    const m = memory({ qkv: new Float64Array(6), out: new Float64Array(2) });
    const op: SelfAttentionOp = { ...base, batch: 1, seq: 1, heads: 1, headDim: 2, scale: 1 };
    expect(() => runSelfAttention({ ...op, ring: "ring" }, m)).toThrow(/op 7 \(self_attention\).*ring/);
    expect(() => runSelfAttention({ ...op, kvCache: { buffer: "kv", keys: 1, offset: 1 } }, m)).toThrow(/op 7 \(self_attention\): K\/V rows \[1, 2\) leave the 1 keys/);
  });
});

describe("cross_attention", () => {
  it("attends each sample's queries to its own unmasked keys; an all-masked sample gets zeros", () => {
    const [samples, queries, keys, heads, hd] = [3, 2, 3, 2, 2];
    const D = heads * hd;
    const q = values(samples * queries * D, 3);
    const kv = values(samples * keys * 2 * D, 4);
    const mask = new Int32Array([1, 0, 1, 0, 0, 0, 0, 1, 1]);
    const out = new Float64Array(samples * queries * D).fill(9);
    const op: CrossAttentionOp = { op: "cross_attention", id: 3, q: "q", kv: "kv", mask: "mask", out: "out", samples, queries, keys, heads, headDim: hd, scale: 0.6 };
    runCrossAttention(op, memory({ q, kv, mask, out }));
    const key = (s: number, j: number, which: number, h: number): number[] => [0, 1].map((d) => kv[(s * keys + j) * 2 * D + which * D + h * hd + d]!);
    for (let s = 0; s < samples; s++) {
      const real = [0, 1, 2].filter((j) => mask[s * keys + j] !== 0);
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < queries; i++) {
          const at = (s * queries + i) * D + h * hd;
          const expected = attendOne([q[at]!, q[at + 1]!], real.map((j) => key(s, j, 0, h)), real.map((j) => key(s, j, 1, h)), 0.6);
          expectClose([out[at]!, out[at + 1]!], expected);
        }
      }
    }
    expect([...out.subarray(queries * D, 2 * queries * D)].every((x) => x === 0)).toBe(true);
  });

  it("without a mask attends to every key, as an all-ones mask does (the VAE decoder's attention)", () => {
    const [samples, queries, keys, heads, hd] = [2, 3, 4, 1, 3];
    const D = heads * hd;
    const q = values(samples * queries * D, 5);
    const kv = values(samples * keys * 2 * D, 6);
    const base = { op: "cross_attention", id: 1, q: "q", kv: "kv", samples, queries, keys, heads, headDim: hd, scale: 0.5 } as const;
    const unmasked = new Float64Array(samples * queries * D);
    const ones = new Float64Array(samples * queries * D);
    runCrossAttention({ ...base, out: "out" }, memory({ q, kv, out: unmasked }));
    runCrossAttention({ ...base, out: "out", mask: "mask" }, memory({ q, kv, out: ones, mask: new Int32Array(samples * keys).fill(1) }));
    expect([...unmasked]).toEqual([...ones]);
    expect(unmasked.some((x) => x !== 0)).toBe(true);
  });
});

describe("patch_embed and unpatchify", () => {
  const C = 2;

  /** The weight [C·pt·ph·pw, C·pt·ph·pw] sending patch input (c, kt, kh, kw) to unpatchify's feature (kt, kh, kw, c). */
  function identityWeight(pt: number, ph: number, pw: number): Float64Array {
    const K = C * pt * ph * pw;
    const w = new Float64Array(K * K);
    for (let c = 0; c < C; c++)
      for (let kt = 0; kt < pt; kt++)
        for (let kh = 0; kh < ph; kh++)
          for (let kw = 0; kw < pw; kw++) w[(((kt * ph + kh) * pw + kw) * C + c) * K + ((c * pt + kt) * ph + kh) * pw + kw] = 1;
    return w;
  }

  function embedOp(latent: PatchEmbedOp["latent"], patch: PatchEmbedOp["patch"], grid: PatchEmbedOp["grid"], samples: number, inputSamples: number): PatchEmbedOp {
    const hidden = C * patch.t * patch.h * patch.w;
    return { op: "patch_embed", id: 0, x: "x", inputSamples, weight: "w", bias: "b", out: "tokens", samples, channels: C, latent, patch, grid, hidden };
  }

  function unpatchOp(e: PatchEmbedOp): UnpatchifyOp {
    return { op: "unpatchify", id: 1, x: "tokens", out: "y", samples: e.samples, channels: C, grid: e.grid, patch: e.patch, latent: e.latent };
  }

  it("are exact inverses with an identity-like weight, the grid padding the latent and cropped back", () => {
    for (const [latent, patch, grid] of [
      [{ frames: 3, height: 5, width: 6 }, { t: 1, h: 2, w: 2 }, { frames: 3, rows: 3, cols: 3 }],
      [{ frames: 3, height: 4, width: 3 }, { t: 2, h: 2, w: 1 }, { frames: 2, rows: 2, cols: 3 }],
    ] as const) {
      const e = embedOp(latent, patch, grid, 2, 2);
      const plane = latent.frames * latent.height * latent.width;
      const x = values(2 * C * plane, 5);
      const tokens = new Float64Array(2 * grid.frames * grid.rows * grid.cols * e.hidden);
      const y = new Float64Array(x.length);
      const m = memory({ x, tokens, y }, { weights: { w: identityWeight(patch.t, patch.h, patch.w), b: new Float64Array(e.hidden) } });
      runPatchEmbed(e, m);
      runUnpatchify(unpatchOp(e), m);
      expect([...y]).toEqual([...x]);
    }
  });

  it("computes bias + weight · patch, zero outside the latent, and repeats the input samples for the CFG halves", () => {
    const latent = { frames: 1, height: 3, width: 2 };
    const e = { ...embedOp(latent, { t: 1, h: 2, w: 2 }, { frames: 1, rows: 2, cols: 1 }, 4, 2), hidden: 3 };
    const x = values(2 * C * 6, 6);
    const w = values(3 * C * 4, 7);
    const b = values(3, 8);
    const tokens = new Float64Array(4 * 2 * 3);
    runPatchEmbed(e, memory({ x, tokens }, { weights: { w, b } }));
    for (let s = 0; s < 4; s++) {
      for (let h = 0; h < 2; h++) {
        for (let d = 0; d < 3; d++) {
          let sum = b[d]!;
          for (let c = 0; c < C; c++)
            for (let kh = 0; kh < 2; kh++)
              for (let kw = 0; kw < 2; kw++) {
                const row = 2 * h + kh;
                if (row < 3) sum += w[d * 8 + (c * 2 + kh) * 2 + kw]! * x[((s % 2) * C + c) * 6 + row * 2 + kw]!;
              }
          expect(tokens[(s * 2 + h) * 3 + d]).toBeCloseTo(sum, 12);
        }
      }
    }
  });

  it("takes the rank's shard of frames or positions, a row band, and writes padded positions as zero rows", () => {
    const latent = { frames: 4, height: 4, width: 4 };
    const patch = { t: 1, h: 1, w: 2 };
    const grid = { frames: 4, rows: 4, cols: 2 };
    const whole = embedOp(latent, patch, grid, 1, 1);
    const x = values(C * 64, 9);
    const weights = { w: values(whole.hidden * whole.hidden, 10), b: values(whole.hidden, 11) };
    const H = whole.hidden;
    const all = new Float64Array(4 * 8 * H);
    runPatchEmbed(whole, memory({ x, tokens: all }, { weights }));
    const row = (t: number, n: number): number[] => [...all.subarray((t * 8 + n) * H, (t * 8 + n + 1) * H)];
    const run = (op: PatchEmbedOp, count: number, o: MemoryOptions): Float64Array => {
      const tokens = new Float64Array(count * H);
      runPatchEmbed(op, memory({ x, tokens }, { ...o, weights }));
      return tokens;
    };
    const rows = (list: number[][]): number[] => list.flat();
    // DSP: frames 2..3 of 4 on dsp coordinate 1.
    expect([...run({ ...whole, shard: { axis: "dsp", parts: 2, dim: "frames" } }, 16, { coords: { dsp: 1 } })]).toEqual(rows([2, 3].flatMap((t) => [0, 1, 2, 3, 4, 5, 6, 7].map((n) => row(t, n)))));
    // USP: positions 6..7 of each frame on sequence index ulysses + 2·ring = 3.
    const usp = run({ ...whole, shard: { axis: "sequence", parts: 4, dim: "tokens" } }, 8, { coords: { ulysses: 1, ring: 1 }, degrees: { ulysses: 2, ring: 2 } });
    expect([...usp]).toEqual(rows([0, 1, 2, 3].flatMap((t) => [6, 7].map((n) => row(t, n)))));
    // PipeFusion: band 1 of 2 holds token rows 2..3 (positions 4..7); an ulysses shard takes its second half.
    expect([...run({ ...whole, band: { index: 1, count: 2 } }, 16, {})]).toEqual(rows([0, 1, 2, 3].flatMap((t) => [4, 5, 6, 7].map((n) => row(t, n)))));
    const banded = run({ ...whole, band: { index: 1, count: 2 }, shard: { axis: "ulysses", parts: 2, dim: "tokens" } }, 8, { coords: { ulysses: 1 } });
    expect([...banded]).toEqual(rows([0, 1, 2, 3].flatMap((t) => [6, 7].map((n) => row(t, n)))));
    // Padded to 6 frames of 9 positions, split over 3 ranks: rank 2 holds frames 4..5, all padding; rank 1 frames 2..3.
    const padded = { ...whole, padded: { frames: 6, tokens: 9 } };
    expect([...run({ ...padded, shard: { axis: "dsp", parts: 3, dim: "frames" } }, 18, { coords: { dsp: 2 } })].every((v) => v === 0)).toBe(true);
    const mid = run({ ...padded, shard: { axis: "dsp", parts: 3, dim: "frames" } }, 18, { coords: { dsp: 1 } });
    const zero = new Array<number>(H).fill(0);
    expect([...mid]).toEqual(rows([2, 3].flatMap((t) => [...[0, 1, 2, 3, 4, 5, 6, 7].map((n) => row(t, n)), zero])));
  });

  it("unpatchify reads a band's tokens into its latent rows and skips a padded layout's padding rows", () => {
    const latent = { frames: 2, height: 5, width: 4 };
    const patch = { t: 1, h: 2, w: 2 };
    const grid = { frames: 2, rows: 3, cols: 2 };
    const e = embedOp(latent, patch, grid, 1, 1);
    const x = values(C * 40, 12);
    const tokens = new Float64Array(2 * 6 * e.hidden);
    const m = memory({ x, tokens }, { weights: { w: identityWeight(1, 2, 2), b: new Float64Array(e.hidden) } });
    runPatchEmbed(e, m);
    const F = e.hidden;
    // Band 2 of 3: token row 2 of each frame, covering latent row 4 only (rows 4..5 cropped to 5).
    const bandTokens = new Float64Array(2 * 2 * F);
    for (let t = 0; t < 2; t++) bandTokens.set(tokens.subarray((t * 6 + 4) * F, (t * 6 + 6) * F), t * 2 * F);
    const band = new Float64Array(C * 2 * 1 * 4);
    runUnpatchify({ ...unpatchOp(e), x: "bt", out: "band", band: { index: 2, count: 3 } }, memory({ bt: bandTokens, band }));
    const expected: number[] = [];
    for (let c = 0; c < C; c++) for (let t = 0; t < 2; t++) for (let w = 0; w < 4; w++) expected.push(x[((c * 2 + t) * 5 + 4) * 4 + w]!);
    expect([...band]).toEqual(expected);
    // Padded layout: 3 frames of 8 positions, the padding filled with garbage that must not be read.
    const paddedTokens = values(3 * 8 * F, 13);
    for (let t = 0; t < 2; t++) paddedTokens.set(tokens.subarray(t * 6 * F, (t + 1) * 6 * F), t * 8 * F);
    const y = new Float64Array(x.length);
    runUnpatchify({ ...unpatchOp(e), x: "pt", padded: { frames: 3, tokens: 8 } }, memory({ pt: paddedTokens, y }));
    expect([...y]).toEqual([...x]);
  });
});

describe("guidance", () => {
  it("mixes the first `mixed` channels, keeps the other prediction channels and the variance half from the conditional half", () => {
    const [n, plane, channels] = [2, 3, 8];
    const x = values(2 * n * channels * plane, 14);
    const op: GuidanceOp = { op: "guidance", id: 5, x: "x", out: "out", samples: n, plane, channels, predictionChannels: 4, mixed: 3, variance: "cond", scale: 4 };
    const out = new Float64Array(n * 8 * plane);
    runGuidance(op, memory({ x, out }));
    const at = (s: number, c: number, e: number): number => x[(s * channels + c) * plane + e]!;
    for (let j = 0; j < n; j++)
      for (let c = 0; c < 8; c++)
        for (let e = 0; e < plane; e++) {
          const expected = c < 3 ? at(n + j, c, e) + 4 * (at(j, c, e) - at(n + j, c, e)) : at(j, c, e);
          expect(out[(j * 8 + c) * plane + e]).toBeCloseTo(expected, 12);
        }
    // variance "drop": only the 4 prediction channels per sample, all mixed here.
    const dropped = new Float64Array(n * 4 * plane);
    runGuidance({ ...op, out: "d", mixed: 4, variance: "drop", scale: 7.5 }, memory({ x, d: dropped }));
    for (let j = 0; j < n; j++)
      for (let c = 0; c < 4; c++)
        for (let e = 0; e < plane; e++) expect(dropped[(j * 4 + c) * plane + e]).toBeCloseTo(at(n + j, c, e) + 7.5 * (at(j, c, e) - at(n + j, c, e)), 12);
  });
});

describe("solver_update", () => {
  const [samples, C, plane] = [2, 2, 3];
  const solverOp = (solver: SolverOp["solver"], extra: Partial<SolverOp> = {}): SolverOp => ({
    op: "solver_update", id: 9, solver, latent: "latent", prediction: "pred", learnedVariance: false, samples, channels: C, stride: C, plane, noiseSeed: 42, ...extra,
  });

  /** The documented noise: normals of tensorKey(seed, "noise/<step>/<global sample>") over the whole sample. */
  function documentedNoise(seed: number, step: number, sample: number, count: number): Float32Array {
    const z = new Float32Array(count);
    fillNormals(tensorKey(seed, `noise/${step}/${sample}`), z, (v) => v);
    return z;
  }

  const ddpm = (add_noise: boolean): StepEntry => ({
    index: 1, timestep: 500, sqrt_recip_alphas_cumprod: 1.3, sqrt_recipm1_alphas_cumprod: 0.8, posterior_mean_coef1: 0.4,
    posterior_mean_coef2: 0.55, log_beta: -3.2, posterior_log_variance_clipped: -4.1, add_noise,
  });

  it("ddpm: learned-range variance and seeded noise on a noisy step; the mean on the last step", () => {
    const stride = 2 * C;
    const x = values(samples * C * plane, 15);
    const pred = values(samples * stride * plane, 16);
    const latent = x.slice();
    runSolverUpdate(solverOp("ddpm", { learnedVariance: true, stride }), memory({ latent, pred }, { steps: [ddpm(true), ddpm(true)], step: 1, coords: { dp: 1 } }));
    for (let s = 0; s < samples; s++) {
      // dp coordinate 1 with 2 samples a rank: global samples 2 and 3.
      const z = documentedNoise(42, 1, 2 + s, C * plane);
      for (let c = 0; c < C; c++)
        for (let e = 0; e < plane; e++) {
          const i = (s * C + c) * plane + e;
          const eps = pred[(s * stride + c) * plane + e]!;
          const v = pred[(s * stride + C + c) * plane + e]!;
          const x0 = 1.3 * x[i]! - 0.8 * eps;
          const mean = 0.4 * x0 + 0.55 * x[i]!;
          const frac = (v + 1) / 2;
          const logvar = frac * -3.2 + (1 - frac) * -4.1;
          expect(latent[i]).toBeCloseTo(mean + Math.exp(logvar / 2) * z[c * plane + e]!, 6);
        }
    }
    const last = x.slice();
    runSolverUpdate(solverOp("ddpm", { learnedVariance: true, stride }), memory({ latent: last, pred }, { steps: [ddpm(false)] }));
    for (let s = 0; s < samples; s++)
      for (let c = 0; c < C; c++)
        for (let e = 0; e < plane; e++) {
          const i = (s * C + c) * plane + e;
          expect(last[i]).toBeCloseTo(0.4 * (1.3 * x[i]! - 0.8 * pred[(s * stride + c) * plane + e]!) + 0.55 * x[i]!, 12);
        }
  });

  it("ddpm without a variance half samples with log_beta", () => {
    const x = values(samples * C * plane, 17);
    const pred = values(samples * C * plane, 18);
    const latent = x.slice();
    runSolverUpdate(solverOp("ddpm"), memory({ latent, pred }, { steps: [ddpm(true)] }));
    for (let s = 0; s < samples; s++) {
      const z = documentedNoise(42, 0, s, C * plane);
      for (let k = 0; k < C * plane; k++) {
        const i = s * C * plane + k;
        const mean = 0.4 * (1.3 * x[i]! - 0.8 * pred[i]!) + 0.55 * x[i]!;
        expect(latent[i]).toBeCloseTo(mean + Math.exp(-1.6) * z[k]!, 6);
      }
    }
  });

  it("ddim: x ← √ᾱ_prev·x0 + direction·ε (+ σ·z with eta > 0)", () => {
    const entry = (sigma: number): StepEntry => ({
      index: 0, timestep: 900, alpha_cumprod: 0.2, alpha_cumprod_prev: 0.5, sigma, sqrt_recip_alphas_cumprod: 1 / Math.sqrt(0.2),
      sqrt_recipm1_alphas_cumprod: Math.sqrt(1 / 0.2 - 1), sqrt_alpha_cumprod_prev: Math.sqrt(0.5), direction_coef: Math.sqrt(0.5 - sigma * sigma), add_noise: sigma > 0,
    });
    const x = values(samples * C * plane, 19);
    const pred = values(samples * C * plane, 20);
    for (const sigma of [0, 0.3]) {
      const latent = x.slice();
      runSolverUpdate(solverOp("ddim"), memory({ latent, pred }, { steps: [entry(sigma)] }));
      for (let s = 0; s < samples; s++) {
        const z = documentedNoise(42, 0, s, C * plane);
        for (let k = 0; k < C * plane; k++) {
          const i = s * C * plane + k;
          const x0 = (x[i]! - Math.sqrt(1 - 0.2) * pred[i]!) / Math.sqrt(0.2);
          const expected = Math.sqrt(0.5) * x0 + Math.sqrt(1 - 0.5 - sigma * sigma) * pred[i]! + sigma * z[k]!;
          expect(latent[i]).toBeCloseTo(expected, sigma > 0 ? 6 : 12);
        }
      }
    }
  });

  it("dpmpp2m: a first-order step, then a second-order one reading the kept data prediction", () => {
    const first: StepEntry = {
      index: 0, timestep: 999, t: 1, t_next: 0.5, order: 1, alpha: 0.1, sigma: 0.99, lambda: -2.3, alpha_next: 0.6, sigma_next: 0.8, lambda_next: -0.29,
      h: 2.01, h_prev: null, r0: null, phi_1: Math.expm1(-2.01), x_coef: 0.8 / 0.99, data_coef: -0.6 * Math.expm1(-2.01), d1_coef: 0,
    };
    const second: StepEntry = {
      index: 1, timestep: 499, t: 0.5, t_next: 0.001, order: 2, alpha: 0.6, sigma: 0.8, lambda: -0.29, alpha_next: 0.99, sigma_next: 0.14, lambda_next: 1.95,
      h: 2.24, h_prev: 2.01, r0: 2.01 / 2.24, phi_1: Math.expm1(-2.24), x_coef: 0.14 / 0.8, data_coef: -0.99 * Math.expm1(-2.24), d1_coef: -0.5 * 0.99 * Math.expm1(-2.24),
    };
    const x = values(samples * C * plane, 21);
    const eps1 = values(samples * C * plane, 22);
    const eps2 = values(samples * C * plane, 23);
    const latent = x.slice();
    const history = new Float64Array(x.length).fill(123);
    const pred = eps1.slice();
    const m = memory({ latent, pred, history }, { steps: [first, second] });
    const op = solverOp("dpmpp2m", { history: "history" });
    runSolverUpdate(op, m);
    const m1 = x.map((xi, i) => (xi - 0.99 * eps1[i]!) / 0.1);
    const x1 = x.map((xi, i) => (0.8 / 0.99) * xi - 0.6 * Math.expm1(-2.01) * m1[i]!);
    expectClose(history, m1, 1e-9);
    expectClose(latent, x1, 1e-9);
    pred.set(eps2);
    m.step = 1;
    runSolverUpdate(op, m);
    const m2 = x1.map((xi, i) => (xi - 0.8 * eps2[i]!) / 0.6);
    const phi = Math.expm1(-2.24);
    const x2 = x1.map((xi, i) => (0.14 / 0.8) * xi - 0.99 * phi * m2[i]! - 0.5 * 0.99 * phi * ((m2[i]! - m1[i]!) / (2.01 / 2.24)));
    expectClose(history, m2, 1e-9);
    expectClose(latent, x2, 1e-9);
  });

  it("flow-euler: x ← x + dt·v", () => {
    const x = values(samples * C * plane, 24);
    const v = values(samples * 4 * plane, 25);
    const latent = x.slice();
    runSolverUpdate(solverOp("flow-euler", { stride: 4 }), memory({ latent, pred: v }, { steps: [{ index: 0, timestep: 1000, sigma: 1, sigma_next: 0.95, dt: 0.05 }] }));
    for (let s = 0; s < samples; s++)
      for (let k = 0; k < C * plane; k++) expect(latent[s * C * plane + k]).toBeCloseTo(x[s * C * plane + k]! + 0.05 * v[s * 4 * plane + k]!, 12);
  });

  it("a PipeFusion band updates only its rows, with the noise the whole latent draws there", () => {
    // Latent planes of 2 frames × 4 rows × 3 columns; the band is rows 1..2.
    const whole = 2 * 4 * 3;
    const x = values(samples * C * whole, 26);
    const wholePred = values(samples * C * whole, 27);
    const full = x.slice();
    runSolverUpdate(solverOp("ddpm", { plane: whole }), memory({ latent: full, pred: wholePred }, { steps: [ddpm(true)] }));
    const bandPlane = 2 * 2 * 3;
    const bandPred = new Float64Array(samples * C * bandPlane);
    const inBand = (k: number): boolean => Math.floor((k % 12) / 3) >= 1 && Math.floor((k % 12) / 3) <= 2;
    let n = 0;
    for (let i = 0; i < wholePred.length; i++) if (inBand(i % whole)) bandPred[n++] = wholePred[i]!;
    const banded = x.slice();
    runSolverUpdate(solverOp("ddpm", { plane: bandPlane, band: { first: 1, count: 2, height: 4, width: 3 } }), memory({ latent: banded, pred: bandPred }, { steps: [ddpm(true)] }));
    for (let i = 0; i < x.length; i++) expect(banded[i]).toBe(inBand(i % whole) ? full[i] : x[i]);
  });
});
