/**
 * The outputs of a parallel run, put together from the ranks that hold them. A plan output is replicated inside
 * every group but dp: the ranks of one dp coordinate hold the same final latent for their samples (a PipeFusion
 * output only on the ranks of its stage). So for each dp coordinate d one representative sends it: the rank with
 * dp = d, pipefusion = the output's stage (the last stage), and every other coordinate 0. The run's output is the
 * representatives' tensors concatenated along the sample axis in dp order, which is sample order (dp coordinate
 * d holds samples [d·n, (d+1)·n), runtime/reference/inputs.ts).
 *
 * The VAE decode (plan.decode) is the same over dp: dp coordinate d's decoding ranks decode its
 * plan.decode.samples samples, and one of them returns the video (whole and tiled: the representative; patch: the
 * decode group's first member; native/src/runtime/decode.h), which it reports as 8-bit RGB whatever its
 * coordinates (runtime/launch/rank.ts). assembleVideo puts the coordinates' samples together in dp order. Also:
 * the error of one run's latents against another's (`--check-against 1`).
 */
import type { Plan } from "../../compiler/plan/types.js";
import type { RgbVideo } from "../media/frames.js";
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

/** The dp coordinate of `rank` (0 without data parallelism). */
export function dpCoordinate(plan: Plan, rank: number): number {
  const at = plan.mesh.ranks[rank];
  if (!at) throw new RunError(`rank ${rank} is not in the plan's mesh of ${plan.mesh.world} ranks`);
  return at.coords.dp ?? 0;
}

/** The samples `rank` decodes: its dp coordinate's, from dp · plan.decode.samples (undefined without a decode). */
export function decodedSamples(plan: Plan, rank: number): { readonly dp: number; readonly first: number; readonly count: number } | undefined {
  if (!plan.decode) return undefined;
  const dp = dpCoordinate(plan, rank);
  return { dp, first: dp * plan.decode.samples, count: plan.decode.samples };
}

/** A decoding rank's video as its report carried it (store.ts WireVideo, decoded). */
export interface RankVideo {
  readonly rank: number;
  readonly dp: number;
  readonly firstSample: number;
  readonly samples: readonly RgbVideo[];
}

/** `rank 2`, `ranks 2, 3`. */
function ranksText(ranks: readonly number[]): string {
  return `${ranks.length === 1 ? "rank" : "ranks"} ${ranks.join(", ")}`;
}

/** `sample 2`, `samples 2 to 3`. */
function samplesText(first: number, count: number): string {
  return count === 1 ? `sample ${first}` : `samples ${first} to ${first + count - 1}`;
}

/**
 * The run's decoded samples in sample order, from the decoding ranks' videos: for each dp coordinate d in turn,
 * the plan.decode.samples samples from d · plan.decode.samples that one of its decoding ranks (plan.decode.ranks
 * with dp = d) reported. A RunError names the ranks when a coordinate's video is missing, comes twice, or is not
 * the samples the plan gives that coordinate. Call it only for a run that decoded (publish.ts).
 */
export function assembleVideo(plan: Plan, videos: readonly RankVideo[]): RgbVideo[] {
  const decode = plan.decode;
  if (!decode) throw new RunError("the plan has no VAE decode, but ranks reported a decoded video");
  const dp = plan.mesh.axes.find((a) => a.name === "dp")?.degree ?? 1;
  const samples: RgbVideo[] = [];
  for (let d = 0; d < dp; d++) {
    const decoders = decode.ranks.filter((r) => dpCoordinate(plan, r) === d);
    const sent = videos.filter((v) => v.dp === d);
    const first = d * decode.samples;
    if (sent.length === 0) {
      throw new RunError(
        `the VAE decode of dp coordinate ${d} (${samplesText(first, decode.samples)}) is missing: none of its decoding ${ranksText(decoders)} (plan.decode.ranks) reported a video`,
      );
    }
    if (sent.length > 1) throw new RunError(`the VAE decode of dp coordinate ${d} came from ${ranksText(sent.map((v) => v.rank))}; one rank returns it`);
    const v = sent[0]!;
    if (!decoders.includes(v.rank)) throw new RunError(`rank ${v.rank} reported the VAE decode of dp coordinate ${d}, but it is not one of its decoding ${ranksText(decoders)}`);
    if (v.firstSample !== first || v.samples.length !== decode.samples) {
      throw new RunError(
        `rank ${v.rank} reported the decoded ${samplesText(v.firstSample, v.samples.length)}, but dp coordinate ${d} decodes ${samplesText(first, decode.samples)}`,
      );
    }
    samples.push(...v.samples);
  }
  return samples;
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
