/**
 * `constant` (compiler/plan/ops.ts, ConstantOp): out[i] = values[i mod values.length] for `count` values, a
 * per-run scalar the Spec fixes (STDiT3's fps, PixArt-MS's size inputs), or zeros to clear a buffer. The values
 * are stored as given; an integer buffer takes only integers.
 */
import type { ConstantOp } from "../../../compiler/plan/ops.js";
import type { OpRunner } from "../op-runner.js";

export const runConstant: OpRunner<ConstantOp> = (op, mem) => {
  const where = `op ${op.id} (constant)`;
  const out = mem.buffers.get(op.out);
  if (!out) throw new Error(`${where}: no buffer named ${op.out}`);
  if (op.values.length === 0) throw new Error(`${where}: no values to store`);
  if (out.length < op.count) throw new Error(`${where}: out \`${op.out}\` holds ${out.length} values, fewer than ${op.count}`);
  if (out instanceof Int32Array) {
    const bad = op.values.find((v) => !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31);
    if (bad !== undefined) throw new Error(`${where}: ${bad} is not an int32 value for the integer buffer \`${op.out}\``);
  }
  const n = op.values.length;
  for (let i = 0; i < op.count; i++) out[i] = op.values[i % n]!;
};
