/**
 * The random stream of opendit's seeded weights, defined so the native runtime's `checkpoint: random` can
 * reproduce it bit for bit (checkpoint/README.md, "The generator", is the specification; this is its
 * reference implementation):
 *
 * - Each tensor has its own stream, keyed by (seed, tensor name), so a tensor's values do not depend on which
 *   other tensors exist or their order, and a sharded loader can fill just its own tensors.
 * - The stream is SplitMix64 in counter form: draw n is mix64(key + (n + 1)·γ), so any part of a tensor can be
 *   filled independently (in parallel on a GPU) and still give the same values.
 * - Normals come from Box–Muller, with the logarithm, sine and cosine written out here as fixed series of
 *   IEEE-754 double operations that are each correctly rounded (+, −, ×, ÷, √). Math.log and C's log may differ
 *   in the last bit; these series cannot, so every machine and language gets the same doubles.
 *
 * JavaScript numbers hold 53 bits, so 64-bit words are kept as two unsigned 32-bit halves (BigInt would be
 * exact too, but some fifty times slower for the billions of draws of a real-size checkpoint).
 */

/** A 64-bit unsigned integer as its high and low 32-bit halves. */
export interface U64 {
  readonly hi: number;
  readonly lo: number;
}

/** SplitMix64's increment, the golden ratio: 0x9E3779B97F4A7C15. */
export const GAMMA: U64 = { hi: 0x9e3779b9, lo: 0x7f4a7c15 };
const MIX1: U64 = { hi: 0xbf58476d, lo: 0x1ce4e5b9 };
const MIX2: U64 = { hi: 0x94d049bb, lo: 0x133111eb };
const FNV_OFFSET: U64 = { hi: 0xcbf29ce4, lo: 0x84222325 };
const FNV_PRIME: U64 = { hi: 0x00000100, lo: 0x000001b3 };

export function add64(a: U64, b: U64): U64 {
  const lo = a.lo + b.lo;
  const carry = lo > 0xffffffff ? 1 : 0;
  return { hi: (a.hi + b.hi + carry) >>> 0, lo: lo >>> 0 };
}

/** The low 64 bits of a × b. */
export function mul64(a: U64, b: U64): U64 {
  // a.lo × b.lo needs all 64 bits of its product: multiply 16-bit pieces, each partial product exact in a double.
  const a0 = a.lo & 0xffff;
  const a1 = a.lo >>> 16;
  const b0 = b.lo & 0xffff;
  const b1 = b.lo >>> 16;
  const middle = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (middle % 0x10000) * 0x10000;
  const carry = Math.floor(low / 0x100000000);
  // The cross terms a.hi × b.lo and a.lo × b.hi only reach the high half, so their low 32 bits (imul) suffice.
  const hi = a1 * b1 + Math.floor(middle / 0x10000) + carry + Math.imul(a.hi, b.lo) + Math.imul(a.lo, b.hi);
  return { hi: hi >>> 0, lo: low >>> 0 };
}

function xor64(a: U64, b: U64): U64 {
  return { hi: (a.hi ^ b.hi) >>> 0, lo: (a.lo ^ b.lo) >>> 0 };
}

/** a >> s for 0 < s < 32. */
function shr64(a: U64, s: number): U64 {
  return { hi: a.hi >>> s, lo: ((a.lo >>> s) | (a.hi << (32 - s))) >>> 0 };
}

/** SplitMix64's output function (Steele, Lea, Flood 2014; the constants of Vigna's splitmix64.c). */
export function mix64(z: U64): U64 {
  let x = mul64(xor64(z, shr64(z, 30)), MIX1);
  x = mul64(xor64(x, shr64(x, 27)), MIX2);
  return xor64(x, shr64(x, 31));
}

/** A safe integer (0 ≤ seed < 2^53, the pipeline's `weights_seed`) as a 64-bit word. */
export function seedWord(seed: number): U64 {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`the seed must be an integer from 0 to 2^53 - 1, not ${seed}`);
  return { hi: Math.floor(seed / 0x100000000), lo: seed >>> 0 };
}

/** 64-bit FNV-1a of the name's UTF-8 bytes. */
export function fnv1a64(name: string): U64 {
  let h = FNV_OFFSET;
  for (const byte of new TextEncoder().encode(name)) h = mul64({ hi: h.hi, lo: (h.lo ^ byte) >>> 0 }, FNV_PRIME);
  return h;
}

/** The stream key of one tensor: mix64(mix64(seed + γ) xor fnv1a64(name)). */
export function tensorKey(seed: number, name: string): U64 {
  return mix64(xor64(mix64(add64(seedWord(seed), GAMMA)), fnv1a64(name)));
}

/** Draw n of a stream: mix64(key + (n + 1)·γ). */
export function draw(key: U64, n: number): U64 {
  return mix64(add64(key, mul64(seedWord(n + 1), GAMMA)));
}

/** The top 52 bits of a draw as a double strictly inside (0, 1): (k + 0.5) / 2^52, exact. */
export function uniform(x: U64): number {
  return ((x.hi * 0x100000 + (x.lo >>> 12)) + 0.5) * 2 ** -52;
}

const LN2 = 0.6931471805599453;
const SQRT1_2 = 0.7071067811865476;
const HALF_PI = 1.5707963267948966;
/** 1 / (2j + 1) for j = 0..11, each a correctly rounded division. */
const ATANH_COEFFS = Array.from({ length: 12 }, (_, j) => 1 / (2 * j + 1));
const frexpView = new DataView(new ArrayBuffer(8));

/**
 * ln(u) for 0 < u < 1 from exact steps and a fixed series: u = m·2^e with m in [√½, √2), then
 * ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| < 0.172, by twelve odd terms (the first left out is below 2^-56).
 */
export function logUnit(u: number): number {
  // frexp: the double's exponent field says e; setting that field to 1022 leaves the mantissa m in [0.5, 1).
  frexpView.setFloat64(0, u);
  const high = frexpView.getUint32(0);
  let e = ((high >>> 20) & 0x7ff) - 1022;
  frexpView.setUint32(0, (high & 0x800fffff) | (1022 << 20));
  let m = frexpView.getFloat64(0);
  if (m < SQRT1_2) {
    m = m * 2;
    e = e - 1;
  }
  const s = (m - 1) / (m + 1);
  const z = s * s;
  let p = ATANH_COEFFS[11]!;
  for (let j = 10; j >= 0; j--) p = p * z + ATANH_COEFFS[j]!;
  return e * LN2 + (s + s) * p;
}

/** cos(a) and sin(a) for 0 ≤ a < π/2 by their Taylor series to a^22 and a^23, in nested (Horner) form. */
function cosSinQuarter(a: number): [number, number] {
  const a2 = a * a;
  let c = 1;
  let s = 1;
  for (let j = 11; j >= 1; j--) {
    c = 1 - (c * a2) / ((2 * j - 1) * (2 * j));
    s = 1 - (s * a2) / ((2 * j) * (2 * j + 1));
  }
  return [c, a * s];
}

/**
 * Two independent standard normals from two uniforms (Box–Muller): r = √(−2 ln u1), θ = 2π·u2; returns
 * [r·cos θ, r·sin θ]. θ is split exactly into a quarter turn q and a remainder, so the series only ever see
 * angles below π/2.
 */
export function boxMuller(u1: number, u2: number): [number, number] {
  const r = Math.sqrt(-2 * logUnit(u1));
  const v = 4 * u2;
  const q = Math.floor(v);
  const [c, s] = cosSinQuarter((v - q) * HALF_PI);
  switch (q) {
    case 0:
      return [r * c, r * s];
    case 1:
      return [-(r * s), r * c];
    case 2:
      return [-(r * c), -(r * s)];
    default:
      return [r * s, -(r * c)];
  }
}

/**
 * Fills `out` with the standard normals of a stream: elements 2j and 2j + 1 are the cos and sin halves of
 * Box–Muller on draws 2j and 2j + 1 (an odd last element takes the cos half). `map` turns each normal
 * (a double) into the stored value before it is rounded to fp32.
 */
export function fillNormals(key: U64, out: Float32Array, map: (z: number) => number): void {
  // Draw states advance by γ each time: the same key + (n + 1)·γ as draw(), without a multiply per draw.
  let state = key;
  for (let i = 0; i < out.length; i += 2) {
    state = add64(state, GAMMA);
    const u1 = uniform(mix64(state));
    state = add64(state, GAMMA);
    const u2 = uniform(mix64(state));
    const [z0, z1] = boxMuller(u1, u2);
    out[i] = map(z0);
    if (i + 1 < out.length) out[i + 1] = map(z1);
  }
}
