/**
 * guidance (compiler/plan/ops.ts GuidanceOp; models.md §9.5) on one rank, in float64.
 *
 * x [2n, channels, plane] holds the conditional outputs in samples 0..n−1 and the unconditional ones in
 * samples n..2n−1 (n = `samples`); sample j pairs c = x[j] with u = x[n + j]. out [n, kept, plane], each sample
 * `kept` channels apart (predictionChannels P, or 2P with variance "cond"):
 *   channel k < mixed:        u + scale·(c − u)
 *   mixed ≤ k < P:            c                 (DiT's first-3-channels rule leaves the rest conditional)
 *   P ≤ k < 2P ("cond" only): c                 (the learned variance half, from the conditional branch)
 * With variance "drop" the channels from P on are not written.
 */
import type { GuidanceOp } from "../../../compiler/plan/ops.js";
import { f64, type Memory } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

function where(op: GuidanceOp): string {
  return `op ${op.id} (guidance)`;
}

export const runGuidance: OpRunner<GuidanceOp> = (op: GuidanceOp, mem: Memory): void => {
  const { samples: n, plane, channels, predictionChannels: P, mixed, scale } = op;
  const kept = op.variance === "cond" ? 2 * P : P;
  if (mixed < 0 || mixed > P || kept > channels) {
    throw new Error(`${where(op)}: mixes ${mixed} and keeps ${kept} of ${P} prediction channels out of ${channels}`);
  }
  const x = f64(mem, op.x);
  const out = f64(mem, op.out);
  if (x.length < 2 * n * channels * plane) throw new Error(`${where(op)}: x \`${op.x}\` holds ${x.length} values, fewer than 2·samples·channels·plane = ${2 * n * channels * plane}`);
  if (out.length < n * kept * plane) throw new Error(`${where(op)}: out \`${op.out}\` holds ${out.length} values, fewer than samples·kept channels·plane = ${n * kept * plane}`);

  for (let j = 0; j < n; j++) {
    for (let k = 0; k < kept; k++) {
      const cond = (j * channels + k) * plane;
      const uncond = ((n + j) * channels + k) * plane;
      const o = (j * kept + k) * plane;
      if (k < mixed) {
        for (let e = 0; e < plane; e++) {
          const u = x[uncond + e]!;
          out[o + e] = u + scale * (x[cond + e]! - u);
        }
      } else {
        for (let e = 0; e < plane; e++) out[o + e] = x[cond + e]!;
      }
    }
  }
};
