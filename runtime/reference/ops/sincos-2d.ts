/**
 * `sincos_2d` (compiler/plan/ops.ts, SinCos2dOp): the MAE 2-D table (models.md §0.3) of a rows × cols token grid,
 * position n = r·cols + c row-major, [positions, width]: the first half is emb1d(width/2) of the column (width)
 * coordinate c·colScale, the second emb1d(width/2) of the row coordinate r·rowScale, each [sin | cos] of
 * width/4 values (ω[i] = 10000^(−i / (width/4))).
 *
 * Which positions the rank writes: all rows·cols, or `padded` of them where positions rows·cols and on are zero
 * rows; `band` keeps band `index` of `count` equal bands of whole token rows; `shard` then keeps the rank's run
 * of parts equal runs of what is left. A band of a padded layout is not defined and is reported.
 */
import type { SinCos2dOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";
import { shardIndex, writeSinCos } from "./sincos-1d.js";

export const runSinCos2d: OpRunner<SinCos2dOp> = (op, mem) => {
  const where = `op ${op.id} (sincos_2d)`;
  const { rows, cols, width } = op;
  if (width < 4 || width % 4 !== 0) throw new Error(`${where}: width ${width} does not make two [sin | cos] halves`);
  const grid = rows * cols;
  const positions = op.padded ?? grid;
  if (positions < grid) throw new Error(`${where}: ${positions} padded positions do not hold the ${grid} of the grid`);
  if (op.band && op.padded !== undefined) throw new Error(`${where}: a row band of a padded layout is not defined`);

  // The run [first, first + local) of the (padded) positions this rank writes.
  let first = 0;
  let local = positions;
  if (op.band) {
    const { index, count } = op.band;
    if (rows % count !== 0 || index < 0 || index >= count) throw new Error(`${where}: band ${index} of ${count} is not a band of ${rows} token rows`);
    local = (rows / count) * cols;
    first = index * local;
  }
  if (op.shard) {
    if (local % op.shard.parts !== 0) throw new Error(`${where}: ${local} positions do not split in ${op.shard.parts}`);
    local /= op.shard.parts;
    first += shardIndex(mem, op.shard, where) * local;
  }
  const out = f64(mem, op.out);
  if (out.length < local * width) throw new Error(`${where}: out \`${op.out}\` holds ${out.length} values, fewer than ${local}·${width}`);

  const half = width / 2;
  for (let m = 0; m < local; m++) {
    const n = first + m;
    const base = m * width;
    if (n >= grid) {
      out.fill(0, base, base + width);
      continue;
    }
    const r = Math.floor(n / cols);
    const c = n % cols;
    writeSinCos(out, base, c * op.colScale, half / 2);
    writeSinCos(out, base + half, r * op.rowScale, half / 2);
  }
};
