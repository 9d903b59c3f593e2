/**
 * `gate` (compiler/plan/ops.ts, GateOp): out[r] = gate[s] ⊙ x[r] for `rows` rows of `width`, s = floor(r /
 * rowsPerSample): the adaLN gate of a branch, one row of a [samples, chunks, width] modulation buffer per
 * sample. Elementwise, so out may be x.
 */
import type { GateOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";
import { modulationRows } from "./layernorm-modulate.js";

export const runGate: OpRunner<GateOp> = (op, mem) => {
  const where = `op ${op.id} (gate${op.block !== undefined ? `, block ${op.block}` : ""})`;
  const { rows, width, rowsPerSample } = op;
  if (rowsPerSample < 1 || rows % rowsPerSample !== 0) throw new Error(`${where}: ${rows} rows are not whole samples of ${rowsPerSample}`);
  const x = f64(mem, op.x);
  const out = f64(mem, op.out);
  if (x.length < rows * width || out.length < rows * width) {
    throw new Error(`${where}: ${rows}·${width} values do not fit x \`${op.x}\` (${x.length}) and out \`${op.out}\` (${out.length})`);
  }
  const gate = modulationRows(mem, op.gate, rows / rowsPerSample, width, `${where} gate`);
  for (let r = 0; r < rows; r++) {
    const g = gate.rowOf(Math.floor(r / rowsPerSample));
    const base = r * width;
    for (let j = 0; j < width; j++) out[base + j] = gate.values[g + j]! * x[base + j]!;
  }
};
