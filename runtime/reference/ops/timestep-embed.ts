/**
 * `timestep_embed` (compiler/plan/ops.ts, TimestepEmbedOp): the sinusoidal embedding of one scalar per sample
 * (models.md §0.2), out [samples, dim]: with half = floor(dim / 2), f[i] = exp(−ln(maxPeriod) · i / half) and
 * a[i] = t[s] · f[i], out[s] = [cos(a) | sin(a)], cos first; an odd dim leaves a last column of zero (DiT's
 * `timestep_embedding`). Also the sinusoid of the size and fps embedders.
 */
import type { TimestepEmbedOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

export const runTimestepEmbed: OpRunner<TimestepEmbedOp> = (op, mem) => {
  const where = `op ${op.id} (timestep_embed)`;
  const { samples, dim, maxPeriod } = op;
  if (dim < 2 || !(maxPeriod > 0)) throw new Error(`${where}: dim ${dim} and maxPeriod ${maxPeriod} do not make a sinusoid`);
  const t = f64(mem, op.t);
  const out = f64(mem, op.out);
  if (t.length < samples) throw new Error(`${where}: t \`${op.t}\` holds ${t.length} values, fewer than ${samples}`);
  if (out.length < samples * dim) throw new Error(`${where}: out \`${op.out}\` holds ${out.length} values, fewer than ${samples}·${dim}`);
  const half = Math.floor(dim / 2);
  const freqs = new Float64Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(maxPeriod) * i) / half);
  for (let s = 0; s < samples; s++) {
    const base = s * dim;
    for (let i = 0; i < half; i++) {
      const a = t[s]! * freqs[i]!;
      out[base + i] = Math.cos(a);
      out[base + half + i] = Math.sin(a);
    }
    if (dim % 2 === 1) out[base + dim - 1] = 0;
  }
};
