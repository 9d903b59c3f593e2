/**
 * `concat` (compiler/plan/ops.ts, ConcatOp): joins matrices along the feature axis, out[r] = [parts[0][r] |
 * parts[1][r] | ...] for `rows` rows, part i `widths[i]` wide (PixArt-MS's size embeddings). out must not be
 * one of the parts.
 */
import type { ConcatOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

export const runConcat: OpRunner<ConcatOp> = (op, mem) => {
  const where = `op ${op.id} (concat)`;
  if (op.parts.length !== op.widths.length) throw new Error(`${where}: ${op.parts.length} parts but ${op.widths.length} widths`);
  if (op.parts.includes(op.out)) throw new Error(`${where}: out \`${op.out}\` is also one of its parts`);
  const total = op.widths.reduce((a, w) => a + w, 0);
  const out = f64(mem, op.out);
  if (out.length < op.rows * total) throw new Error(`${where}: out \`${op.out}\` holds ${out.length} values, fewer than ${op.rows}·${total}`);
  let offset = 0;
  op.parts.forEach((name, i) => {
    const width = op.widths[i]!;
    const part = f64(mem, name);
    if (part.length < op.rows * width) throw new Error(`${where}: part ${i} \`${name}\` holds ${part.length} values, fewer than ${op.rows}·${width}`);
    for (let r = 0; r < op.rows; r++) out.set(part.subarray(r * width, (r + 1) * width), r * total + offset);
    offset += width;
  });
};
