/**
 * `add` (compiler/plan/ops.ts, AddOp): out[i] = a[i] + b[i] for `count` values; out may be a (the residual
 * update in place) or b.
 */
import type { AddOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

export const runAdd: OpRunner<AddOp> = (op, mem) => {
  const a = f64(mem, op.a);
  const b = f64(mem, op.b);
  const out = f64(mem, op.out);
  if (a.length < op.count || b.length < op.count || out.length < op.count) {
    throw new Error(`op ${op.id} (add): ${op.count} values do not fit a \`${op.a}\` (${a.length}), b \`${op.b}\` (${b.length}) and out \`${op.out}\` (${out.length})`);
  }
  for (let i = 0; i < op.count; i++) out[i] = a[i]! + b[i]!;
};
