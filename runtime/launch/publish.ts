/**
 * Writing a parallel run's outputs: the representatives' tensors assembled (assemble.ts) and written all or
 * nothing with runtime/run/outputs.ts, with the pictures the formats ask for (runtime/media/run-media.ts: the
 * reports carry latents only, so the linear latent preview), and run.json with rank 0's timings in the one-rank
 * fields plus `parallel`: the layout, the nodes, the representatives and every rank's seconds and ms per step.
 */
import { performance } from "node:perf_hooks";
import { runMediaWriter, type RunMedia } from "../media/run-media.js";
import { pipelinePath } from "../run/inputs.js";
import { writeRunOutputs, type OutputTensor, type WrittenOutput } from "../run/outputs.js";
import { recordText, runRecord, type RunRecord } from "../run/record.js";
import { runWeights } from "../run/weights.js";
import { assembleOutputs, representativeRanks } from "./assemble.js";
import type { RankJob } from "./job.js";
import { decodeTensor, type RankReport } from "./store.js";

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
  const stageMedia = runMediaWriter(spec, tensors, env);
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
