/**
 * `silu` (compiler/plan/ops.ts, SiluOp): out[i] = x[i] · sigmoid(x[i]) for `count` values (adaLN applies it to
 * the condition before its Linear). Elementwise, so out may be x.
 */
import type { SiluOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

export const runSilu: OpRunner<SiluOp> = (op, mem) => {
  const x = f64(mem, op.x);
  const out = f64(mem, op.out);
  if (x.length < op.count || out.length < op.count) {
    throw new Error(`op ${op.id} (silu): ${op.count} values do not fit x \`${op.x}\` (${x.length}) and out \`${op.out}\` (${out.length})`);
  }
  for (let i = 0; i < op.count; i++) {
    const v = x[i]!;
    out[i] = v / (1 + Math.exp(-v));
  }
};
