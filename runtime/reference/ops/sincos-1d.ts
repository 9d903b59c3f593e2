/**
 * `sincos_1d` (compiler/plan/ops.ts, SinCos1dOp): the MAE 1-D table (models.md §0.3) [count, width] with
 * [sin | cos] halves, sin first: with half = width / 2 and ω[i] = 10000^(−i / half), row m at position
 * p = (first + m) · scale is [sin(p·ω[0..half−1]) | cos(p·ω[0..half−1])]. With `shard`, out holds only the
 * rank's run of count / parts rows: positions (first + r·count/parts + m) · scale, r its index along the axis.
 */
import type { SinCos1dOp } from "../../../compiler/plan/ops.js";
import type { Shard } from "../../../compiler/plan/types.js";
import { SEQUENCE_AXES } from "../../../compiler/lower/mesh.js";
import { f64, type Memory } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

/**
 * The rank's index among the `parts` of a shard: its coordinate on the shard's mesh axis, or for `sequence`
 * its combined coordinate over the sequence axes (dsp, ulysses, ring), innermost fastest as the mesh orders
 * groups. Shared by the sin-cos table ops.
 */
export function shardIndex(mem: Memory, shard: Shard, where: string): number {
  let index: number;
  if (shard.axis === "sequence") {
    index = 0;
    let stride = 1;
    for (const a of mem.plan.mesh.axes) {
      if (!SEQUENCE_AXES.includes(a.name)) continue;
      index += (mem.rank.coords[a.name] ?? 0) * stride;
      stride *= a.degree;
    }
  } else {
    const c = mem.rank.coords[shard.axis];
    if (c === undefined) throw new Error(`${where}: the rank has no coordinate on ${shard.axis}`);
    index = c;
  }
  if (!Number.isInteger(index) || index < 0 || index >= shard.parts) {
    throw new Error(`${where}: the rank's index ${index} on ${shard.axis} is not one of its ${shard.parts} parts`);
  }
  return index;
}

/** [sin | cos] of position·ω into out at `base`, `half` values each (emb1d of models.md §0.3). */
export function writeSinCos(out: Float64Array, base: number, position: number, half: number): void {
  for (let i = 0; i < half; i++) {
    const o = position / Math.pow(10000, i / half);
    out[base + i] = Math.sin(o);
    out[base + half + i] = Math.cos(o);
  }
}

export const runSinCos1d: OpRunner<SinCos1dOp> = (op, mem) => {
  const where = `op ${op.id} (sincos_1d)`;
  const { count, width, first, scale } = op;
  if (width < 2 || width % 2 !== 0) throw new Error(`${where}: width ${width} does not make [sin | cos] halves`);
  const parts = op.shard?.parts ?? 1;
  if (count % parts !== 0) throw new Error(`${where}: ${count} positions do not split in ${parts}`);
  const local = count / parts;
  const start = first + (op.shard ? shardIndex(mem, op.shard, where) : 0) * local;
  const out = f64(mem, op.out);
  if (out.length < local * width) throw new Error(`${where}: out \`${op.out}\` holds ${out.length} values, fewer than ${local}·${width}`);
  for (let m = 0; m < local; m++) writeSinCos(out, m * width, (start + m) * scale, width / 2);
};
