/**
 * Writing a parallel run's outputs: the representatives' tensors assembled (assemble.ts) and written all or
 * nothing with runtime/run/outputs.ts, with the pictures the formats ask for (runtime/media/run-media.ts): where
 * the plan decodes (plan.decode), the VAE's decode, each dp coordinate's samples from the rank that returned
 * them as 8-bit RGB, put together in dp order (assemble.ts assembleVideo) and written as `sample.*` exactly as a
 * one-rank run writes its own; else the linear latent preview of the assembled latents. And run.json with rank
 * 0's timings in the one-rank fields plus `parallel`: the layout, the nodes, the representatives and every
 * rank's seconds and ms per step.
 */
import { performance } from "node:perf_hooks";
import type { RgbVideo } from "../media/frames.js";
import { runMediaWriter, type RunMedia } from "../media/run-media.js";
import { RunError } from "../run/errors.js";
import { pipelinePath } from "../run/inputs.js";
import { writeRunOutputs, type OutputTensor, type WrittenOutput } from "../run/outputs.js";
import { recordText, runRecord, type RunRecord } from "../run/record.js";
import { runWeights } from "../run/weights.js";
import { assembleOutputs, assembleVideo, representativeRanks, type RankVideo } from "./assemble.js";
import type { RankJob } from "./job.js";
import { decodeTensor, decodeVideo, type RankReport } from "./store.js";

export interface PublishedRun {
  readonly outDir: string;
  readonly outputs: readonly WrittenOutput[];
  readonly record: RunRecord;
  /** The pictures written, where the formats ask for them (also in the record). */
  readonly media?: RunMedia;
  /** The assembled tensors (for `--check-against`). */
  readonly tensors: readonly OutputTensor[];
}

/** The run's tensors from every rank's report. */
export function reportTensors(job: RankJob, reports: readonly RankReport[]): OutputTensor[] {
  const byRank = new Map(reports.filter((r) => r.outputs).map((r) => [r.rank, r.outputs!.map(decodeTensor)] as const));
  return assembleOutputs(job.plan, byRank);
}

/**
 * The run's decoded samples in sample order (assemble.ts assembleVideo), or undefined where it decoded nothing:
 * the plan has no decode, or no decoding rank reported a video nor spent time decoding (an addon that does not
 * decode). A run that decoded but lacks a dp coordinate's video is a RunError naming its decoding ranks.
 */
export function reportVideo(job: RankJob, reports: readonly RankReport[]): RgbVideo[] | undefined {
  const decode = job.plan.decode;
  if (!decode) return undefined;
  const sent = reports.filter((r) => r.video);
  const decoded = sent.length > 0 || reports.some((r) => decode.ranks.includes(r.rank) && (r.timings.decode ?? 0) > 0);
  if (!decoded) return undefined;
  const videos: RankVideo[] = sent.map((r) => {
    const v = r.video!;
    try {
      return { rank: r.rank, dp: v.dp, firstSample: v.firstSample, samples: decodeVideo(v) };
    } catch (error) {
      throw new RunError(`rank ${r.rank}'s decoded video: ${(error as Error).message}`);
    }
  });
  return assembleVideo(job.plan, videos);
}

/**
 * Writes the outputs, the pictures and run.json into `outDir`; `started` is performance.now() at the launch, `env`
 * where ffmpeg is looked up for an mp4.
 */
export async function publishRun(
  job: RankJob,
  reports: readonly RankReport[],
  outDir: string,
  version: string,
  started: number,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<PublishedRun> {
  const { plan, spec } = job;
  const tensors = reportTensors(job, reports);
  const rank0 = reports[0]!;
  const facts = {
    version,
    pipeline: plan.name,
    file: job.file,
    planHash: plan.hash,
    backend: job.backend,
    rank: 0,
    world: plan.mesh.world,
    planSteps: plan.steps.length,
    weights: runWeights(plan, job.baseDir),
    noise: spec.noise !== undefined ? { file: pipelinePath(job.baseDir, spec.noise) } : { seed: spec.seed ?? 0 },
    result: { outputs: [], captures: [], timings: rank0.timings, arenaBytes: rank0.arenaBytes, weightBytes: rank0.weightBytes, threads: rank0.threads, backend: job.backend, deviceBytes: 0 },
  };
  const parallel = {
    layout: spec.parallel?.layout ?? plan.mesh.axes.filter((a) => a.degree > 1).map((a) => `${a.name} ${a.degree}`).reverse().join(" x "),
    nodes: plan.mesh.nodes,
    representatives: representativeRanks(plan),
    ranks: reports.map((r) => {
      const steps = r.timings.perStep;
      return {
        rank: r.rank,
        node: plan.mesh.ranks[r.rank]?.node ?? 0,
        hostname: r.hostname,
        seconds: Number(r.seconds.toFixed(6)),
        stepSeconds: Number(r.timings.steps.toFixed(6)),
        msPerStep: Number((steps.length > 0 ? (steps.reduce((a, b) => a + b, 0) * 1000) / steps.length : 0).toFixed(6)),
      };
    }),
  };
  let record: RunRecord | undefined;
  let media: RunMedia | undefined;
  const stageMedia = runMediaWriter(spec, tensors, env, reportVideo(job, reports));
  const outputs = await writeRunOutputs(
    outDir,
    tensors,
    { planHash: plan.hash, pipeline: plan.name, version },
    (written, writeSeconds) => {
      record = { ...runRecord(facts, written, writeSeconds, (performance.now() - started) / 1000), ...(media ? { media } : {}), parallel };
      return recordText(record);
    },
    stageMedia
      ? async (dir) => {
          const stage = await stageMedia(dir);
          media = stage.media;
          return stage.staged;
        }
      : undefined,
  );
  return { outDir, outputs, record: record!, ...(media ? { media } : {}), tensors };
}
