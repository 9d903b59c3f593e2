/**
 * `add_rows` (compiler/plan/ops.ts, AddRowsOp): out[r] = x[r] + table[floor(r / repeat) mod period] for `rows`
 * rows of `width`: a table broadcast along the rows (a positional table per token with repeat 1 and period the
 * tokens of a sample; a temporal table per frame with repeat the tokens of a frame; one row for every sample
 * with period 1). Row by row and elementwise, so out may be x.
 */
import type { AddRowsOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

export const runAddRows: OpRunner<AddRowsOp> = (op, mem) => {
  const where = `op ${op.id} (add_rows ${op.table})`;
  const { rows, width, period, repeat } = op;
  if (!(period >= 1 && repeat >= 1)) throw new Error(`${where}: period ${period} and repeat ${repeat} must be at least 1`);
  const x = f64(mem, op.x);
  const table = f64(mem, op.table);
  const out = f64(mem, op.out);
  if (x.length < rows * width || out.length < rows * width) {
    throw new Error(`${where}: ${rows}·${width} values do not fit x \`${op.x}\` (${x.length}) and out \`${op.out}\` (${out.length})`);
  }
  if (table.length < period * width) throw new Error(`${where}: the table holds ${table.length} values, fewer than ${period}·${width}`);
  for (let r = 0; r < rows; r++) {
    const t = (Math.floor(r / repeat) % period) * width;
    const base = r * width;
    for (let j = 0; j < width; j++) out[base + j] = x[base + j]! + table[t + j]!;
  }
};
