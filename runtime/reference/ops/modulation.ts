/**
 * `modulation` (compiler/plan/ops.ts, ModulationOp): the adaLN rows out [samples, chunks, width].
 * With sourceChunks = chunks (adaLN-single): out[s, k] = table[k] + source[s, k], source the shared t_block
 * output viewed [samples, chunks, width]. With sourceChunks = 1 (PixArt's final layer): out[s, k] = table[k] +
 * source[s], the same source row added to every chunk. Without a table: the source rows alone.
 * out must not be the source.
 */
import type { ModulationOp } from "../../../compiler/plan/ops.js";
import { f64 } from "../memory.js";
import type { OpRunner } from "../op-runner.js";

export const runModulation: OpRunner<ModulationOp> = (op, mem) => {
  const where = `op ${op.id} (modulation)`;
  const { samples, chunks, sourceChunks, width } = op;
  if (sourceChunks !== 1 && sourceChunks !== chunks) throw new Error(`${where}: sourceChunks ${sourceChunks} is neither 1 nor chunks ${chunks}`);
  if (op.source === op.out) throw new Error(`${where}: out \`${op.out}\` is also its source`);
  const source = f64(mem, op.source);
  const table = op.table === undefined ? undefined : f64(mem, op.table);
  const out = f64(mem, op.out);
  if (source.length < samples * sourceChunks * width) {
    throw new Error(`${where}: source \`${op.source}\` holds ${source.length} values, fewer than ${samples}·${sourceChunks}·${width}`);
  }
  if (table && table.length !== chunks * width) throw new Error(`${where}: table \`${op.table}\` holds ${table.length} values, not ${chunks}·${width}`);
  if (out.length < samples * chunks * width) throw new Error(`${where}: out \`${op.out}\` holds ${out.length} values, fewer than ${samples}·${chunks}·${width}`);
  for (let s = 0; s < samples; s++) {
    for (let k = 0; k < chunks; k++) {
      const o = (s * chunks + k) * width;
      const src = (s * sourceChunks + (sourceChunks === 1 ? 0 : k)) * width;
      const t = k * width;
      for (let j = 0; j < width; j++) out[o + j] = (table ? table[t + j]! : 0) + source[src + j]!;
    }
  }
};
