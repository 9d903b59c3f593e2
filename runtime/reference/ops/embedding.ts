/**
 * `embedding` (compiler/plan/ops.ts, EmbeddingOp): out[i] = table[ids[i]] for `count` integer ids, rows of
 * `width` values (DiT's class labels, the null class being the table's last row). An id outside the table is
 * an input defect and is reported, never clamped.
 */
import type { EmbeddingOp } from "../../../compiler/plan/ops.js";
import { f64, i32 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

export const runEmbedding: OpRunner<EmbeddingOp> = (op, mem) => {
  const where = `op ${op.id} (embedding ${op.table})`;
  const table = f64(mem, op.table);
  const ids = i32(mem, op.ids);
  const out = f64(mem, op.out);
  const { count, width } = op;
  if (width < 1 || table.length % width !== 0) throw new Error(`${where}: the table's ${table.length} values are not rows of ${width}`);
  if (ids.length < count) throw new Error(`${where}: ids \`${op.ids}\` hold ${ids.length} values, fewer than ${count}`);
  if (out.length < count * width) throw new Error(`${where}: out \`${op.out}\` holds ${out.length} values, fewer than ${count}·${width}`);
  const entries = table.length / width;
  for (let i = 0; i < count; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= entries) throw new Error(`${where}: id ${id} at ${i} is outside the table's ${entries} rows`);
    out.set(table.subarray(id * width, (id + 1) * width), i * width);
  }
};
