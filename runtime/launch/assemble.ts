/**
 * The outputs of a parallel run, put together from the ranks that hold them. A plan output is replicated inside
 * every group but dp: the ranks of one dp coordinate hold the same final latent for their samples (a PipeFusion
 * output only on the ranks of its stage). So for each dp coordinate d one representative sends it: the rank with
 * dp = d, pipefusion = the output's stage (the last stage), and every other coordinate 0. The run's output is the
 * representatives' tensors concatenated along the sample axis in dp order, which is sample order (dp coordinate
 * d holds samples [d·n, (d+1)·n), runtime/reference/inputs.ts). Also: the error of one run's latents against
 * another's (`--check-against 1`).
 */
import type { Plan } from "../../compiler/plan/types.js";
import type { NativeTensor } from "../native/addon.js";
import { RunError } from "../run/errors.js";
import { outputTensors, type OutputTensor } from "../run/outputs.js";

/** The pipeline stage the plan's outputs are on (the last stage; 0 without PipeFusion). */
export function outputStage(plan: Plan): number {
  const stages = plan.mesh.axes.find((a) => a.name === "pipefusion")?.degree ?? 1;
  return plan.outputs.find((o) => o.stage !== undefined)?.stage ?? stages - 1;
}

/** The representative rank of each dp coordinate, in dp order. */
export function representativeRanks(plan: Plan): number[] {
  const dp = plan.mesh.axes.find((a) => a.name === "dp")?.degree ?? 1;
  const stage = outputStage(plan);
  const reps: number[] = [];
  for (let d = 0; d < dp; d++) {
    const r = plan.mesh.ranks.find((m) => Object.entries(m.coords).every(([axis, c]) => (axis === "dp" ? c === d : axis === "pipefusion" ? c === stage : c === 0)));
    if (!r) throw new RunError(`the plan's mesh has no rank with dp ${d}, pipeline stage ${stage} and every other coordinate 0`);
    reps.push(r.rank);
  }
  return reps;
}

/** Whether `rank` sends its outputs. */
export function isRepresentative(plan: Plan, rank: number): boolean {
  return representativeRanks(plan).includes(rank);
}

/**
 * The run's output tensors from the representatives' outputs (`byRank` holds at least every representative's),
 * each checked against the plan's buffer like a one-rank run's, then concatenated over dp.
 */
export function assembleOutputs(plan: Plan, byRank: ReadonlyMap<number, readonly NativeTensor[]>): OutputTensor[] {
  const parts = representativeRanks(plan).map((rank) => {
    const outputs = byRank.get(rank);
    if (!outputs) throw new RunError(`rank ${rank} holds the outputs of its dp coordinate but reported none`);
    try {
      return outputTensors(plan, outputs);
    } catch (error) {
      throw new RunError(`rank ${rank}: ${(error as Error).message}`);
    }
  });
  const first = parts[0]!;
  if (parts.length === 1) return first;
  return first.map((t, i) => {
    const pieces = parts.map((p) => p[i]!);
    const total = pieces.reduce((n, p) => n + p.data.length, 0);
    const data = new Float32Array(total);
    let at = 0;
    for (const p of pieces) {
      data.set(p.data, at);
      at += p.data.length;
    }
    const rows = pieces.reduce((n, p) => n + (p.shape[0] ?? 1), 0);
    return { name: t.name, file: t.file, shape: [rows, ...t.shape.slice(1)], data };
  });
}

/** The error of one sample of one output against the reference run. */
export interface SampleError {
  readonly output: string;
  readonly sample: number;
  readonly maxAbs: number;
  /** maxAbs over the largest magnitude of the reference sample. */
  readonly relative: number;
}

/** Per output and sample: max |a − b| and that over max |b|. Throws when the shapes differ. */
export function compareOutputs(actual: readonly OutputTensor[], reference: readonly OutputTensor[]): SampleError[] {
  const errors: SampleError[] = [];
  for (const a of actual) {
    const b = reference.find((t) => t.name === a.name);
    if (!b) throw new RunError(`the one-rank run has no output \`${a.name}\``);
    if (a.shape.join(",") !== b.shape.join(",")) throw new RunError(`output \`${a.name}\` is [${a.shape.join(", ")}] on the parallel run but [${b.shape.join(", ")}] on one rank`);
    const samples = a.shape[0] ?? 1;
    const per = a.data.length / samples;
    for (let s = 0; s < samples; s++) {
      let maxAbs = 0;
      let scale = 0;
      for (let i = s * per; i < (s + 1) * per; i++) {
        const d = Math.abs(a.data[i]! - b.data[i]!);
        maxAbs = Number.isNaN(d) ? Infinity : Math.max(maxAbs, d);
        scale = Math.max(scale, Math.abs(b.data[i]!));
      }
      errors.push({ output: a.name, sample: s, maxAbs, relative: scale > 0 ? maxAbs / scale : maxAbs });
    }
  }
  return errors;
}
