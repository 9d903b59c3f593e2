/**
 * `layernorm_modulate` (compiler/plan/ops.ts, LayerNormModulateOp): out = LN(x) · (1 + scale[s]) + shift[s] for
 * `rows` rows of `width`. LN is LayerNorm over each row without affine weights: (x − mean) / sqrt(var + eps),
 * var the biased variance (torch's layer_norm). Sample s = floor(row / rowsPerSample) reads its row of the
 * shift and scale chunks (ModRef into a [samples, chunks, width] modulation buffer); an absent shift adds
 * nothing, an absent scale multiplies by 1. Each row's statistics are taken before it is written, so out may be x.
 */
import type { LayerNormModulateOp, ModRef } from "../../../compiler/plan/ops.js";
import { f64, type Memory } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

/**
 * The values of a modulation chunk, with the offset of sample s's row: buffer [samples, chunks, width], chunks
 * following from its length. Shared by the ops that read adaLN rows (layernorm_modulate, gate).
 */
export function modulationRows(mem: Memory, ref: ModRef, samples: number, width: number, where: string): { values: Float64Array; rowOf: (s: number) => number } {
  const values = f64(mem, ref.buffer);
  const chunks = values.length / (samples * width);
  if (!Number.isInteger(chunks) || ref.chunk < 0 || ref.chunk >= chunks) {
    throw new Error(`${where}: chunk ${ref.chunk} of \`${ref.buffer}\` (${values.length} values) is not a chunk of [${samples}, chunks, ${width}]`);
  }
  return { values, rowOf: (s) => (s * chunks + ref.chunk) * width };
}

export const runLayerNormModulate: OpRunner<LayerNormModulateOp> = (op, mem) => {
  const where = `op ${op.id} (layernorm_modulate${op.block !== undefined ? `, block ${op.block}` : ""})`;
  const { rows, width, rowsPerSample, eps } = op;
  if (rowsPerSample < 1 || rows % rowsPerSample !== 0) throw new Error(`${where}: ${rows} rows are not whole samples of ${rowsPerSample}`);
  const samples = rows / rowsPerSample;
  const x = f64(mem, op.x);
  const out = f64(mem, op.out);
  if (x.length < rows * width || out.length < rows * width) {
    throw new Error(`${where}: ${rows}·${width} values do not fit x \`${op.x}\` (${x.length}) and out \`${op.out}\` (${out.length})`);
  }
  const shift = op.shift ? modulationRows(mem, op.shift, samples, width, `${where} shift`) : undefined;
  const scale = op.scale ? modulationRows(mem, op.scale, samples, width, `${where} scale`) : undefined;
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    let mean = 0;
    for (let j = 0; j < width; j++) mean += x[base + j]!;
    mean /= width;
    let variance = 0;
    for (let j = 0; j < width; j++) {
      const d = x[base + j]! - mean;
      variance += d * d;
    }
    variance /= width;
    const inv = 1 / Math.sqrt(variance + eps);
    const s = Math.floor(r / rowsPerSample);
    const sh = shift ? shift.rowOf(s) : 0;
    const sc = scale ? scale.rowOf(s) : 0;
    for (let j = 0; j < width; j++) {
      let v = (x[base + j]! - mean) * inv;
      if (scale) v *= 1 + scale.values[sc + j]!;
      if (shift) v += shift.values[sh + j]!;
      out[base + j] = v;
    }
  }
};
