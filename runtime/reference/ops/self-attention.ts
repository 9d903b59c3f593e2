/**
 * self_attention (compiler/plan/ops.ts SelfAttentionOp; models.md §0.6, §5.3) on one rank, in float64.
 *
 * For each of `batch` sequences of `seq` tokens and each head h, q, k and v of token i are read from the packed
 * row i of `qkv` at feature s·D' + h·headDim + d (s = 0, 1, 2 for q, k, v; D' = heads·headDim). Then, in this
 * order: per-head RMSNorm of q and of k over headDim (weight ⊙ x / √(mean(x²) + eps)), where qNorm / kNorm are
 * given; rotary embedding of q and k over interleaved pairs (2j, 2j + 1) at positions 0..seq−1 with angle
 * p·theta^(−2j/headDim); then o_i = Σ_j softmax_j(scale·q_i·k_j)·v_j over the keys j < validKeys (every key
 * when absent; none valid gives zeros). The result goes to out [batch·seq, D'] at feature h·headDim + d.
 *
 * PipeFusion's K/V buffer (`kvCache` {buffer, keys, offset}, ops.ts KvCacheRef): the op's `seq` tokens of
 * sequence b are tokens offset..offset+seq−1 of a sequence of `keys`, so rotary positions are offset + i; after
 * the norms and rotary embedding their k and v are written into rows b·keys + offset + i of the buffer
 * ([batch·keys, 2·D'], per row the key at feature h·headDim + d, then the value at D' + h·headDim + d), and the
 * queries attend to all `keys` rows of sequence b as the buffer then holds them (validKeys counted over those
 * rows): rows the op did not write keep what an earlier op left, PipeFusion's stale K/V.
 *
 * Ring attention (`ring`) needs the other ranks' keys: the single-rank reference refuses it, naming the op
 * (collectives/ring-attention.ts runs it over a ring group).
 */
import type { SelfAttentionOp } from "../../../compiler/plan/ops.js";
import { f64, type Memory } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

function where(op: SelfAttentionOp): string {
  return `op ${op.id} (self_attention${op.block !== undefined ? `, block ${op.block}` : ""})`;
}

function need(op: SelfAttentionOp, what: string, values: Float64Array, count: number): void {
  if (values.length < count) throw new Error(`${where(op)}: ${what} holds ${values.length} values, fewer than the ${count} it needs`);
}

/** RMSNorm of x[0..n) in place: weight[d]·x[d] / √(mean(x²) + eps). */
function rmsNorm(x: Float64Array, weight: Float64Array, eps: number): void {
  let sum = 0;
  for (let d = 0; d < x.length; d++) sum += x[d]! * x[d]!;
  const inv = 1 / Math.sqrt(sum / x.length + eps);
  for (let d = 0; d < x.length; d++) x[d] = weight[d]! * (x[d]! * inv);
}

/** Rotates the interleaved pairs of x in place with the angles of position p (cos/sin tables [seq, hd/2]). */
function rotate(x: Float64Array, cos: Float64Array, sin: Float64Array, p: number): void {
  const half = x.length / 2;
  for (let j = 0; j < half; j++) {
    const c = cos[p * half + j]!;
    const s = sin[p * half + j]!;
    const a = x[2 * j]!;
    const b = x[2 * j + 1]!;
    x[2 * j] = a * c - b * s;
    x[2 * j + 1] = b * c + a * s;
  }
}

/** acc = Σ_j softmax_j(scale·qi·k_j)·v_j over keys j < valid (rows of hd values); zeros when valid is 0. */
function attend(qi: Float64Array, k: Float64Array, v: Float64Array, valid: number, scale: number, scores: Float64Array, acc: Float64Array): void {
  const hd = qi.length;
  acc.fill(0);
  if (valid === 0) return;
  let max = -Infinity;
  for (let j = 0; j < valid; j++) {
    let dot = 0;
    for (let d = 0; d < hd; d++) dot += qi[d]! * k[j * hd + d]!;
    const score = dot * scale;
    scores[j] = score;
    if (score > max) max = score;
  }
  let total = 0;
  for (let j = 0; j < valid; j++) {
    const e = Math.exp(scores[j]! - max);
    scores[j] = e;
    total += e;
  }
  for (let j = 0; j < valid; j++) {
    const w = scores[j]! / total;
    for (let d = 0; d < hd; d++) acc[d] = acc[d]! + w * v[j * hd + d]!;
  }
}

export const runSelfAttention: OpRunner<SelfAttentionOp> = (op: SelfAttentionOp, mem: Memory): void => {
  if (op.ring) throw new Error(`${where(op)}: ring attention over ${op.ring} needs the K/V of the other ranks of its ring group; the reference interpreter runs one rank`);
  const { batch, seq, heads, headDim: hd, scale } = op;
  const width = heads * hd;
  const qkv = f64(mem, op.qkv);
  const out = f64(mem, op.out);
  need(op, `qkv \`${op.qkv}\``, qkv, batch * seq * 3 * width);
  need(op, `out \`${op.out}\``, out, batch * seq * width);
  const qWeight = op.qNorm ? f64(mem, op.qNorm.weight) : undefined;
  const kWeight = op.kNorm ? f64(mem, op.kNorm.weight) : undefined;
  if (qWeight) need(op, `qNorm weight \`${op.qNorm!.weight}\``, qWeight, hd);
  if (kWeight) need(op, `kNorm weight \`${op.kNorm!.weight}\``, kWeight, hd);
  // Keys: the op's own tokens, or the K/V buffer's `keys` rows of which the op's tokens start at `offset`.
  const keys = op.kvCache?.keys ?? seq;
  const offset = op.kvCache?.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset + seq > keys) throw new Error(`${where(op)}: K/V rows [${offset}, ${offset + seq}) leave the ${keys} keys of a sequence`);
  const cache = op.kvCache ? f64(mem, op.kvCache.buffer) : undefined;
  if (cache) need(op, `K/V buffer \`${op.kvCache!.buffer}\``, cache, batch * keys * 2 * width);
  const valid = op.validKeys ?? keys;
  if (!Number.isInteger(valid) || valid < 0 || valid > keys) throw new Error(`${where(op)}: validKeys ${valid} is not a key count from 0 to ${keys}`);

  // RoPE tables: angle[p, j] = p · theta^(−2j/hd), for positions 0..offset+seq−1.
  let cos: Float64Array | undefined;
  let sin: Float64Array | undefined;
  if (op.rope) {
    if (hd % 2 !== 0) throw new Error(`${where(op)}: rotary embedding over interleaved pairs needs an even headDim, not ${hd}`);
    const half = hd / 2;
    const positions = offset + seq;
    cos = new Float64Array(positions * half);
    sin = new Float64Array(positions * half);
    for (let j = 0; j < half; j++) {
      const freq = Math.pow(op.rope.theta, -(2 * j) / hd);
      for (let p = 0; p < positions; p++) {
        cos[p * half + j] = Math.cos(p * freq);
        sin[p * half + j] = Math.sin(p * freq);
      }
    }
  }

  // k and v hold the `keys` key rows of one (sequence, head): the op's own tokens at rows offset..offset+seq−1.
  const q = new Float64Array(seq * hd);
  const k = new Float64Array(keys * hd);
  const v = new Float64Array(keys * hd);
  const scores = new Float64Array(keys);
  const acc = new Float64Array(hd);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < seq; i++) {
        const row = (b * seq + i) * 3 * width + h * hd;
        const p = offset + i;
        const qi = q.subarray(i * hd, (i + 1) * hd);
        const ki = k.subarray(p * hd, (p + 1) * hd);
        for (let d = 0; d < hd; d++) {
          qi[d] = qkv[row + d]!;
          ki[d] = qkv[row + width + d]!;
          v[p * hd + d] = qkv[row + 2 * width + d]!;
        }
        if (qWeight) rmsNorm(qi, qWeight, op.qNorm!.eps);
        if (kWeight) rmsNorm(ki, kWeight, op.kNorm!.eps);
        if (cos && sin) {
          rotate(qi, cos, sin, p);
          rotate(ki, cos, sin, p);
        }
      }
      if (cache) {
        // Write the fresh rows into the buffer, then read every row of the sequence back (stale ones included).
        for (let i = offset; i < offset + seq; i++) {
          const at = (b * keys + i) * 2 * width + h * hd;
          cache.set(k.subarray(i * hd, (i + 1) * hd), at);
          cache.set(v.subarray(i * hd, (i + 1) * hd), at + width);
        }
        for (let j = 0; j < keys; j++) {
          const at = (b * keys + j) * 2 * width + h * hd;
          k.set(cache.subarray(at, at + hd), j * hd);
          v.set(cache.subarray(at + width, at + width + hd), j * hd);
        }
      }
      for (let i = 0; i < seq; i++) {
        attend(q.subarray(i * hd, (i + 1) * hd), k, v, valid, scale, scores, acc);
        const o = (b * seq + i) * width + h * hd;
        for (let d = 0; d < hd; d++) out[o + d] = acc[d]!;
      }
    }
  }
};
