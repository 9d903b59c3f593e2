/**
 * The dense and elementwise ops of the reference interpreter (runtime/reference/ops, group A), each against a
 * tiny case computed by hand, and the sin-cos and timestep embeddings against the formulas of models.md
 * §0.2-§0.3 written out here independently (width coordinate in the first half of a 2-D table).
 */
import { describe, expect, it } from "vitest";
import type { Plan } from "../../../compiler/plan/types.js";
import type { Memory, Values } from "../../../runtime/reference/memory.js";
import { runAdd } from "../../../runtime/reference/ops/add.js";
import { runAddRows } from "../../../runtime/reference/ops/add-rows.js";
import { runConcat } from "../../../runtime/reference/ops/concat.js";
import { runConstant } from "../../../runtime/reference/ops/constant.js";
import { runEmbedding } from "../../../runtime/reference/ops/embedding.js";
import { runGate } from "../../../runtime/reference/ops/gate.js";
import { runLayerNormModulate } from "../../../runtime/reference/ops/layernorm-modulate.js";
import { runLinear } from "../../../runtime/reference/ops/linear.js";
import { runModulation } from "../../../runtime/reference/ops/modulation.js";
import { runPermute } from "../../../runtime/reference/ops/permute.js";
import { runSilu } from "../../../runtime/reference/ops/silu.js";
import { runSinCos1d } from "../../../runtime/reference/ops/sincos-1d.js";
import { runSinCos2d } from "../../../runtime/reference/ops/sincos-2d.js";
import { runTimestepEmbed } from "../../../runtime/reference/ops/timestep-embed.js";

type Init = Record<string, Values | number[]>;

/** A rank's memory holding exactly the given buffers (number arrays become float64) and weights. */
function memory(buffers: Init, weights: Record<string, number[]> = {}, coords: Record<string, number> = {}, degrees: Record<string, number> = {}): Memory {
  // Innermost first, as compiler/lower/mesh.ts orders the axes.
  const names = ["dsp", "ulysses", "ring", "pipefusion", "cfg", "dp"];
  let stride = 1;
  const axes = names.map((name) => {
    const axis = { name, degree: degrees[name] ?? 1, stride };
    stride *= axis.degree;
    return axis;
  });
  const plan = { mesh: { axes } } as unknown as Plan;
  const all = Object.fromEntries(names.map((n) => [n, coords[n] ?? 0]));
  return {
    plan,
    rank: { coords: all },
    buffers: new Map(Object.entries(buffers).map(([k, v]) => [k, Array.isArray(v) ? Float64Array.from(v) : v])),
    weights: new Map(Object.entries(weights).map(([k, v]) => [k, Float64Array.from(v)])),
    step: 0,
  };
}

function get(mem: Memory, name: string): number[] {
  return Array.from(mem.buffers.get(name)!);
}

function expectClose(actual: readonly number[], expected: readonly number[], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    if (Math.abs(a - expected[i]!) > tol * Math.max(1, Math.abs(expected[i]!))) {
      throw new Error(`value ${i}: ${a} where ${expected[i]} was expected`);
    }
  });
}

const base = { id: 7 } as const;
const zeros = (n: number): number[] => new Array<number>(n).fill(0);
const gelu = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const silu = (v: number): number => v / (1 + Math.exp(-v));

describe("linear", () => {
  // x [2, 3], W [2, 3]: y = x·Wᵀ + b.
  const x = [1, 2, 3, -1, 0, 2];
  const W = [1, 0, -1, 0.5, 1, 0];
  const b = [0.25, -1];
  const y = [1 - 3 + 0.25, 0.5 + 2 - 1, -1 - 2 + 0.25, -0.5 - 1];
  const op = { ...base, op: "linear", x: "x", weight: "w", bias: "b", out: "y", rows: 2, inFeatures: 3, outFeatures: 2, activation: "none" } as const;

  it("computes x·Wᵀ + b, and without a bias x·Wᵀ", () => {
    const mem = memory({ x, y: zeros(4) }, { w: W, b });
    runLinear(op, mem);
    expectClose(get(mem, "y"), y);
    const noBias = memory({ x, y: zeros(4) }, { w: W });
    runLinear({ ...op, bias: undefined }, noBias);
    expectClose(get(noBias, "y"), [-2, 2.5, -3, -0.5]);
  });

  it("applies the GELU-tanh and SiLU epilogues", () => {
    for (const [activation, f] of [["gelu_tanh", gelu], ["silu", silu]] as const) {
      const mem = memory({ x, y: zeros(4) }, { w: W, b });
      runLinear({ ...op, activation }, mem);
      expectClose(get(mem, "y"), y.map(f));
    }
  });

  it("writes its columns into wider rows with outColumns, leaving the others", () => {
    const mem = memory({ x, y: [9, 9, 9, 9, 9, 9, 9, 9, 9, 9] }, { w: W, b });
    runLinear({ ...op, outColumns: { offset: 2, stride: 5 } }, mem);
    expectClose(get(mem, "y"), [9, 9, y[0]!, y[1]!, 9, 9, 9, y[2]!, y[3]!, 9]);
  });

  it("pads each run of real heads with zero columns (padColumns), also inside outColumns", () => {
    // outFeatures 4 as 2 runs of 2 (q, k of one head each), each at the start of 3 columns.
    const W4 = [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1];
    const pad = { ...op, rows: 1, outFeatures: 4, bias: undefined, padColumns: { chunks: 2, width: 3 } } as const;
    const mem = memory({ x: [1, 2, 3], y: [9, 9, 9, 9, 9, 9] }, { w: W4 });
    runLinear(pad, mem);
    expectClose(get(mem, "y"), [1, 2, 0, 3, 6, 0]);
    const wide = memory({ x: [1, 2, 3], y: zeros(8).fill(9) }, { w: W4 });
    runLinear({ ...pad, outColumns: { offset: 1, stride: 8 } }, wide);
    expectClose(get(wide, "y"), [9, 1, 2, 0, 3, 6, 0, 9]);
  });

  it("reads only its input columns with inColumns", () => {
    // Rows 5 wide; the real features are columns 1..3.
    const mem = memory({ x: [7, 1, 2, 3, 7, 7, -1, 0, 2, 7], y: zeros(4) }, { w: W, b });
    runLinear({ ...op, inColumns: { offset: 1, stride: 5 } }, mem);
    expectClose(get(mem, "y"), y);
  });

  it("names the op when the columns do not fit", () => {
    const mem = memory({ x, y: zeros(4) }, { w: W, b });
    expect(() => runLinear({ ...op, outColumns: { offset: 1, stride: 2 } }, mem)).toThrow(/op 7 \(linear w\)/);
  });
});

describe("elementwise", () => {
  it("silu", () => {
    const mem = memory({ x: [-2, 0, 3], y: zeros(3) });
    runSilu({ ...base, op: "silu", x: "x", out: "y", count: 3 }, mem);
    expectClose(get(mem, "y"), [-2 / (1 + Math.exp(2)), 0, 3 / (1 + Math.exp(-3))]);
  });

  it("add, in place", () => {
    const mem = memory({ a: [1, 2, 3], b: [0.5, -2, 10] });
    runAdd({ ...base, op: "add", a: "a", b: "b", out: "a", count: 3 }, mem);
    expect(get(mem, "a")).toEqual([1.5, 0, 13]);
  });

  it("embedding picks table rows by id and rejects an id outside the table", () => {
    const mem = memory({ ids: Int32Array.from([2, 0]), y: zeros(4) }, { t: [1, 2, 3, 4, 5, 6] });
    const op = { ...base, op: "embedding", table: "t", ids: "ids", out: "y", count: 2, width: 2 } as const;
    runEmbedding(op, mem);
    expect(get(mem, "y")).toEqual([5, 6, 1, 2]);
    (mem.buffers.get("ids") as Int32Array)[1] = 3;
    expect(() => runEmbedding(op, mem)).toThrow(/op 7 .*id 3/);
  });

  it("constant repeats its values, into float and integer buffers", () => {
    const mem = memory({ f: zeros(5), i: new Int32Array(3) });
    runConstant({ ...base, op: "constant", out: "f", values: [1.5, 2], count: 5 }, mem);
    expect(get(mem, "f")).toEqual([1.5, 2, 1.5, 2, 1.5]);
    runConstant({ ...base, op: "constant", out: "i", values: [4], count: 3 }, mem);
    expect(get(mem, "i")).toEqual([4, 4, 4]);
    expect(() => runConstant({ ...base, op: "constant", out: "i", values: [0.5], count: 3 }, mem)).toThrow(/op 7/);
  });

  it("concat joins rows along the features", () => {
    const mem = memory({ a: [1, 2, 3, 4], b: [5, 6], y: zeros(6) });
    runConcat({ ...base, op: "concat", parts: ["a", "b"], widths: [2, 1], out: "y", rows: 2 }, mem);
    expect(get(mem, "y")).toEqual([1, 2, 5, 3, 4, 6]);
  });

  it("add_rows broadcasts table rows with period and repeat", () => {
    // 6 rows of width 1: table row floor(r / 2) mod 2 -> 0, 0, 1, 1, 0, 0.
    const mem = memory({ x: [0, 1, 2, 3, 4, 5], t: [10, 20] });
    runAddRows({ ...base, op: "add_rows", x: "x", table: "t", out: "x", rows: 6, width: 1, period: 2, repeat: 2 }, mem);
    expect(get(mem, "x")).toEqual([10, 11, 22, 23, 14, 15]);
    const wide = memory({ x: [1, 1, 2, 2, 3, 3], t: [10, 20], y: zeros(6) });
    runAddRows({ ...base, op: "add_rows", x: "x", table: "t", out: "y", rows: 3, width: 2, period: 1, repeat: 1 }, wide);
    expect(get(wide, "y")).toEqual([11, 21, 12, 22, 13, 23]);
  });

  it("permute swaps (T, S) of a [B, T, S, D] view", () => {
    // [1, 2, 3, 2]: x[t, s, d] = 100·t + 10·s + d.
    const x: number[] = [];
    for (let t = 0; t < 2; t++) for (let s = 0; s < 3; s++) for (let d = 0; d < 2; d++) x.push(100 * t + 10 * s + d);
    const mem = memory({ x, y: zeros(12) });
    runPermute({ ...base, op: "permute", x: "x", out: "y", dims: [1, 2, 3, 2], perm: [0, 2, 1, 3] }, mem);
    const want: number[] = [];
    for (let s = 0; s < 3; s++) for (let t = 0; t < 2; t++) for (let d = 0; d < 2; d++) want.push(100 * t + 10 * s + d);
    expect(get(mem, "y")).toEqual(want);
  });

  it("permute reverses all four axes", () => {
    const x = Array.from({ length: 24 }, (_, i) => i);
    const mem = memory({ x, y: zeros(24) });
    runPermute({ ...base, op: "permute", x: "x", out: "y", dims: [2, 3, 2, 2], perm: [3, 2, 1, 0] }, mem);
    // out[a, b, c, d] (dims [2, 2, 3, 2]) = x[d, c, b, a] = 12d + 4c + 2b + a.
    const want: number[] = [];
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) for (let d = 0; d < 2; d++) want.push(12 * d + 4 * c + 2 * b + a);
    expect(get(mem, "y")).toEqual(want);
  });
});

describe("adaLN", () => {
  it("modulation adds the table to each chunk of the source", () => {
    // 2 samples, 3 chunks, width 1.
    const mem = memory({ src: [1, 2, 3, 4, 5, 6], y: zeros(6) }, { t: [10, 20, 30] });
    runModulation({ ...base, op: "modulation", table: "t", source: "src", out: "y", samples: 2, chunks: 3, sourceChunks: 3, width: 1 }, mem);
    expect(get(mem, "y")).toEqual([11, 22, 33, 14, 25, 36]);
  });

  it("modulation with sourceChunks 1 adds one source row to every chunk; without a table it copies", () => {
    const mem = memory({ src: [1, 2, 3, 4], y: zeros(8) }, { t: [10, 20, 30, 40] });
    runModulation({ ...base, op: "modulation", table: "t", source: "src", out: "y", samples: 2, chunks: 2, sourceChunks: 1, width: 2 }, mem);
    expect(get(mem, "y")).toEqual([11, 22, 31, 42, 13, 24, 33, 44]);
    const copy = memory({ src: [1, 2, 3, 4], y: zeros(4) });
    runModulation({ ...base, op: "modulation", source: "src", out: "y", samples: 2, chunks: 2, sourceChunks: 2, width: 1 }, copy);
    expect(get(copy, "y")).toEqual([1, 2, 3, 4]);
  });

  it("layernorm_modulate normalises each row and modulates it per sample", () => {
    // Rows [1, 2, 3, 4] and [2, 2, 2, 6]: means 2.5 and 3, biased variances 1.25 and 3. Two samples of one row.
    const eps = 1e-6;
    const n1 = [-1.5, -0.5, 0.5, 1.5].map((v) => v / Math.sqrt(1.25 + eps));
    const n2 = [-1, -1, -1, 3].map((v) => v / Math.sqrt(3 + eps));
    // mod [2 samples, 2 chunks (shift, scale), 4].
    const shift = [[0, 1, 0, 1], [2, 2, 2, 2]];
    const scale = [[0, 0, 1, -1], [0.5, 0.5, 0.5, 0.5]];
    const m = [...shift[0]!, ...scale[0]!, ...shift[1]!, ...scale[1]!];
    const op = { ...base, op: "layernorm_modulate", x: "x", out: "x", rows: 2, width: 4, eps, rowsPerSample: 1, shift: { buffer: "m", chunk: 0 }, scale: { buffer: "m", chunk: 1 } } as const;
    const mem = memory({ x: [1, 2, 3, 4, 2, 2, 2, 6], m });
    runLayerNormModulate(op, mem);
    const want = [
      ...n1.map((v, j) => v * (1 + scale[0]![j]!) + shift[0]![j]!),
      ...n2.map((v, j) => v * (1 + scale[1]![j]!) + shift[1]![j]!),
    ];
    expectClose(get(mem, "x"), want);
    // Plain LayerNorm without shift and scale; both rows one sample.
    const plain = memory({ x: [1, 2, 3, 4, 2, 2, 2, 6], y: zeros(8) });
    runLayerNormModulate({ ...base, op: "layernorm_modulate", x: "x", out: "y", rows: 2, width: 4, eps, rowsPerSample: 2 }, plain);
    expectClose(get(plain, "y"), [...n1, ...n2]);
  });

  it("gate multiplies each sample's rows by its gate row", () => {
    // 2 samples of 2 rows, width 2; gate is chunk 1 of [2, 2, 2].
    const mem = memory({ x: [1, 2, 3, 4, 5, 6, 7, 8], m: [0, 0, 2, -1, 0, 0, 0.5, 3], y: zeros(8) });
    runGate({ ...base, op: "gate", x: "x", gate: { buffer: "m", chunk: 1 }, out: "y", rows: 4, width: 2, rowsPerSample: 2 }, mem);
    expect(get(mem, "y")).toEqual([2, -2, 6, -4, 2.5, 18, 3.5, 24]);
    expect(() => runGate({ ...base, op: "gate", x: "x", gate: { buffer: "m", chunk: 2 }, out: "y", rows: 4, width: 2, rowsPerSample: 2 }, mem)).toThrow(/op 7 \(gate\)/);
  });
});

// models.md §0.2 and §0.3, written out again.
function timestepReference(t: number, dim: number, maxPeriod: number): number[] {
  const half = dim / 2;
  const a = Array.from({ length: half }, (_, i) => t * Math.exp((-Math.log(maxPeriod) * i) / half));
  return [...a.map(Math.cos), ...a.map(Math.sin)];
}

function emb1d(dp: number, pos: number): number[] {
  const omega = Array.from({ length: dp / 2 }, (_, i) => 1 / 10000 ** (i / (dp / 2)));
  return [...omega.map((w) => Math.sin(pos * w)), ...omega.map((w) => Math.cos(pos * w))];
}

/** emb2d rows n = r·cols + c: [emb1d(D/2, wcoord) | emb1d(D/2, hcoord)], the width coordinate first. */
function emb2d(d: number, rows: number, cols: number, rowScale: number, colScale: number): number[][] {
  const table: number[][] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) table.push([...emb1d(d / 2, c * colScale), ...emb1d(d / 2, r * rowScale)]);
  return table;
}

describe("embeddings", () => {
  it("timestep_embed is [cos | sin] of t·exp(−ln(maxPeriod)·i/half)", () => {
    const mem = memory({ t: [0, 999, 37.5], y: zeros(3 * 16) });
    runTimestepEmbed({ ...base, op: "timestep_embed", t: "t", out: "y", samples: 3, dim: 16, maxPeriod: 10000 }, mem);
    expectClose(get(mem, "y"), [0, 999, 37.5].flatMap((t) => timestepReference(t, 16, 10000)));
    // t = 0: cos 1, sin 0.
    expect(get(mem, "y").slice(0, 16)).toEqual([...new Array<number>(8).fill(1), ...new Array<number>(8).fill(0)]);
  });

  it("sincos_1d is [sin | cos] of (first + index)·scale, and a shard takes the rank's run", () => {
    const mem = memory({ y: zeros(4 * 8) });
    runSinCos1d({ ...base, op: "sincos_1d", out: "y", count: 4, first: 1, scale: 0.5, width: 8 }, mem);
    expectClose(get(mem, "y"), [1, 2, 3, 4].flatMap((p) => emb1d(8, p * 0.5)));
    const part = memory({ y: zeros(2 * 8) }, {}, { dsp: 1 }, { dsp: 2 });
    runSinCos1d({ ...base, op: "sincos_1d", out: "y", count: 4, first: 0, scale: 1, width: 8, shard: { axis: "dsp", parts: 2 } }, part);
    expectClose(get(part, "y"), [2, 3].flatMap((p) => emb1d(8, p)));
  });

  it("sincos_2d puts the column coordinate in the first half", () => {
    const [rows, cols, d] = [2, 3, 16];
    const mem = memory({ y: zeros(rows * cols * d) });
    runSinCos2d({ ...base, op: "sincos_2d", out: "y", rows, cols, rowScale: 0.5, colScale: 0.25, width: d }, mem);
    expectClose(get(mem, "y"), emb2d(d, rows, cols, 0.5, 0.25).flat());
    // Position 1 is column 1 of row 0: its first quarter is sin(0.25·ω), its third (row half, sines) sin(0) = 0.
    const y = get(mem, "y");
    expect(y[d + 0]).toBeCloseTo(Math.sin(0.25), 14);
    expect(y.slice(d + d / 2, d + (3 * d) / 4)).toEqual(new Array<number>(d / 4).fill(0));
  });

  it("sincos_2d takes a token shard (over the USP block), a row band, and padded positions", () => {
    const [rows, cols, d] = [4, 2, 8];
    const full = emb2d(d, rows, cols, 1, 1);
    // USP ulysses 2 x ring 2: the rank at ulysses 1, ring 1 is part 1 + 2·1 = 3 of 4.
    const usp = memory({ y: zeros(2 * d) }, {}, { ulysses: 1, ring: 1 }, { ulysses: 2, ring: 2 });
    runSinCos2d({ ...base, op: "sincos_2d", out: "y", rows, cols, rowScale: 1, colScale: 1, width: d, shard: { axis: "sequence", parts: 4 } }, usp);
    expectClose(get(usp, "y"), full.slice(6, 8).flat());
    // Band 1 of 2 (token rows 2 and 3: positions 4..7), then ulysses part 0 of 2 of it.
    const band = memory({ y: zeros(2 * d) }, {}, { ulysses: 0 }, { ulysses: 2 });
    runSinCos2d({ ...base, op: "sincos_2d", out: "y", rows, cols, rowScale: 1, colScale: 1, width: d, band: { index: 1, count: 2 }, shard: { axis: "ulysses", parts: 2 } }, band);
    expectClose(get(band, "y"), full.slice(4, 6).flat());
    // 8 positions padded to 12 over ring 3: the last rank holds positions 8..11, all padding.
    const padded = memory({ y: zeros(4 * d).fill(5) }, {}, { ring: 2 }, { ring: 3 });
    runSinCos2d({ ...base, op: "sincos_2d", out: "y", rows, cols, rowScale: 1, colScale: 1, width: d, padded: 12, shard: { axis: "ring", parts: 3 } }, padded);
    expect(get(padded, "y")).toEqual(zeros(4 * d));
    // Padded to 12 over ring 2: the second rank holds positions 6..11, two real rows then four zero rows.
    const mixed = memory({ y: zeros(6 * d).fill(5) }, {}, { ring: 1 }, { ring: 2 });
    runSinCos2d({ ...base, op: "sincos_2d", out: "y", rows, cols, rowScale: 1, colScale: 1, width: d, padded: 12, shard: { axis: "ring", parts: 2 } }, mixed);
    expectClose(get(mixed, "y"), [...full.slice(6, 8).flat(), ...zeros(4 * d)]);
  });

  it("names the op for a width that does not split in quarters", () => {
    const mem = memory({ y: zeros(6) });
    expect(() => runSinCos2d({ ...base, op: "sincos_2d", out: "y", rows: 1, cols: 1, rowScale: 1, colScale: 1, width: 6 }, mem)).toThrow(/op 7 \(sincos_2d\)/);
  });
});

