/**
 * cross_attention (compiler/plan/ops.ts CrossAttentionOp; models.md §0.7) on one rank, in float64.
 *
 * Sample s's query rows q[s·queries + i] (feature h·headDim + d) attend to its own key rows kv[s·keys + j],
 * whose first D = heads·headDim features are the key and the next D the value (feature s·D + h·headDim + d,
 * s = 0 for k, 1 for v). Only keys with mask[s, j] ≠ 0 take part: o_i = Σ_j softmax_j(scale·q_i·k_j)·v_j over
 * them, which is the reference's packing of each sample's valid tokens; a sample with no valid key gets zeros.
 * Without a mask every key takes part.
 */
import type { CrossAttentionOp } from "../../../compiler/plan/ops.js";
import { f64, i32, type Memory } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

function where(op: CrossAttentionOp): string {
  return `op ${op.id} (cross_attention${op.block !== undefined ? `, block ${op.block}` : ""})`;
}

function need(op: CrossAttentionOp, what: string, values: { readonly length: number }, count: number): void {
  if (values.length < count) throw new Error(`${where(op)}: ${what} holds ${values.length} values, fewer than the ${count} it needs`);
}

export const runCrossAttention: OpRunner<CrossAttentionOp> = (op: CrossAttentionOp, mem: Memory): void => {
  const { samples, queries, keys, heads, headDim: hd, scale } = op;
  const width = heads * hd;
  const q = f64(mem, op.q);
  const kv = f64(mem, op.kv);
  const mask = op.mask === undefined ? undefined : i32(mem, op.mask);
  const out = f64(mem, op.out);
  need(op, `q \`${op.q}\``, q, samples * queries * width);
  need(op, `kv \`${op.kv}\``, kv, samples * keys * 2 * width);
  if (mask) need(op, `mask \`${op.mask}\``, mask, samples * keys);
  need(op, `out \`${op.out}\``, out, samples * queries * width);

  const valid: number[] = [];
  const scores = new Float64Array(keys);
  const acc = new Float64Array(hd);
  for (let s = 0; s < samples; s++) {
    valid.length = 0;
    for (let j = 0; j < keys; j++) if (!mask || mask[s * keys + j] !== 0) valid.push(j);
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < queries; i++) {
        const qRow = (s * queries + i) * width + h * hd;
        acc.fill(0);
        if (valid.length > 0) {
          let max = -Infinity;
          for (let n = 0; n < valid.length; n++) {
            const kRow = (s * keys + valid[n]!) * 2 * width + h * hd;
            let dot = 0;
            for (let d = 0; d < hd; d++) dot += q[qRow + d]! * kv[kRow + d]!;
            const score = dot * scale;
            scores[n] = score;
            if (score > max) max = score;
          }
          let total = 0;
          for (let n = 0; n < valid.length; n++) {
            const e = Math.exp(scores[n]! - max);
            scores[n] = e;
            total += e;
          }
          for (let n = 0; n < valid.length; n++) {
            const vRow = (s * keys + valid[n]!) * 2 * width + width + h * hd;
            const w = scores[n]! / total;
            for (let d = 0; d < hd; d++) acc[d] = acc[d]! + w * kv[vRow + d]!;
          }
        }
        for (let d = 0; d < hd; d++) out[qRow + d] = acc[d]!;
      }
    }
  }
};
