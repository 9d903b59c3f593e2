/**
 * `linear` (compiler/plan/ops.ts, LinearOp): y = act(x · Wᵀ + b) over `rows` rows, W stored [out, in] as every
 * checkpoint stores it, the activation (none, GELU-tanh or SiLU, models.md §0.1) applied as an epilogue.
 *
 * Column layouts: `inColumns` reads the inFeatures columns [offset, offset + inFeatures) of x rows `stride`
 * wide; `padColumns` spreads the outFeatures results as `chunks` equal runs, each at the start of `width`
 * columns whose rest (the zero heads) is written as zeros; `outColumns` writes the resulting columns at
 * [offset, ...) of out rows `stride` wide and leaves the other columns of out alone. Each row's result is
 * computed in full before it is stored, so x and out may even be one buffer.
 */
import type { LinearOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

const GELU_C = Math.sqrt(2 / Math.PI);

function activate(v: number, activation: LinearOp["activation"]): number {
  switch (activation) {
    case "none":
      return v;
    case "gelu_tanh":
      return 0.5 * v * (1 + Math.tanh(GELU_C * (v + 0.044715 * v * v * v)));
    case "silu":
      return v / (1 + Math.exp(-v));
  }
}

export const runLinear: OpRunner<LinearOp> = (op, mem) => {
  const where = `op ${op.id} (linear ${op.weight})`;
  const { rows, inFeatures: nIn, outFeatures: nOut } = op;
  if (!["none", "gelu_tanh", "silu"].includes(op.activation)) throw new Error(`${where}: unsupported activation ${String(op.activation)}`);
  const x = f64(mem, op.x);
  const w = f64(mem, op.weight);
  const b = op.bias === undefined ? undefined : f64(mem, op.bias);
  const out = f64(mem, op.out);

  const inStride = op.inColumns?.stride ?? nIn;
  const inOffset = op.inColumns?.offset ?? 0;
  if (inOffset < 0 || inOffset + nIn > inStride) throw new Error(`${where}: input columns ${inOffset}..${inOffset + nIn - 1} do not fit rows ${inStride} wide`);

  // Where result column j goes within the written run of columns, and how wide that run is.
  let written = nOut;
  let place = (j: number): number => j;
  if (op.padColumns) {
    const { chunks, width } = op.padColumns;
    const run = nOut / chunks;
    if (!Number.isInteger(run) || run > width) throw new Error(`${where}: ${nOut} features do not make ${chunks} runs of at most ${width} columns`);
    written = chunks * width;
    place = (j) => Math.floor(j / run) * width + (j % run);
  }
  const outStride = op.outColumns?.stride ?? written;
  const outOffset = op.outColumns?.offset ?? 0;
  if (outOffset < 0 || outOffset + written > outStride) throw new Error(`${where}: columns ${outOffset}..${outOffset + written - 1} do not fit rows ${outStride} wide`);

  if (x.length < rows * inStride) throw new Error(`${where}: x \`${op.x}\` holds ${x.length} values, fewer than ${rows}·${inStride}`);
  if (w.length !== nOut * nIn) throw new Error(`${where}: weight holds ${w.length} values, not ${nOut}·${nIn}`);
  if (b && b.length !== nOut) throw new Error(`${where}: bias \`${op.bias}\` holds ${b.length} values, not ${nOut}`);
  if (out.length < rows * outStride) throw new Error(`${where}: out \`${op.out}\` holds ${out.length} values, fewer than ${rows}·${outStride}`);

  const row = new Float64Array(written);
  for (let r = 0; r < rows; r++) {
    const xBase = r * inStride + inOffset;
    row.fill(0);
    for (let j = 0; j < nOut; j++) {
      const wBase = j * nIn;
      let acc = b ? b[j]! : 0;
      for (let k = 0; k < nIn; k++) acc += x[xBase + k]! * w[wBase + k]!;
      row[place(j)] = activate(acc, op.activation);
    }
    out.set(row, r * outStride + outOffset);
  }
};
