/**
 * run.json: what a run did, written beside its outputs so a result can always be traced to the plan, the
 * pipeline and the opendit that made it, and its speed compared across machines: the plan hash, backend, rank,
 * steps, threads, seconds per phase, milliseconds per step, memory (host and device), the files written with their shapes,
 * and the pictures (`media`: a VAE decode or the linear latent preview, its files and notes).
 */
import type { RunMedia } from "../media/run-media.js";
import type { NativePhaseSeconds, NativeRunResult, NativeWeights } from "../native/addon.js";
import type { WrittenOutput } from "./outputs.js";

export interface RunRecord {
  readonly opendit: string;
  /** When the run finished, ISO 8601 UTC. */
  readonly date: string;
  readonly pipeline: string;
  /** The pipeline file as it was named to the run. */
  readonly file: string;
  readonly planHash: string;
  readonly backend: "cpu" | "cuda";
  readonly rank: number;
  readonly world: number;
  /** Steps run, and the steps of the plan's schedule. */
  readonly steps: number;
  readonly planSteps: number;
  readonly threads: number;
  /** `checkpoint: random` with its seed, or the checkpoint file. */
  readonly weights: string;
  /** `seed N`, or the noise file. */
  readonly noise: string;
  /** Seconds per phase: the native run's, `write` the output files, `total` from the request to the outputs. */
  readonly seconds: NativePhaseSeconds & { readonly write: number; readonly total: number };
  readonly msPerStep: { readonly mean: number; readonly median: number; readonly min: number; readonly max: number };
  readonly arenaBytes: number;
  readonly weightBytes: number;
  /** Device memory the backend held (arena, weights, workspaces); 0 on the CPU. */
  readonly deviceBytes: number;
  readonly outputs: readonly WrittenOutput[];
  /** The pictures, where the pipeline's formats ask for png, gif or mp4: what they show, their files, the notes. */
  readonly media?: RunMedia;
  /** A parallel run (world > 1): its layout, nodes and every rank's timings (runtime/launch/publish.ts). */
  readonly parallel?: ParallelRecord;
}

/** What run.json says of a parallel run beyond the one-rank fields (which are then rank 0's). */
export interface ParallelRecord {
  readonly layout: string;
  readonly nodes: number;
  /** The ranks whose outputs were concatenated, in sample order. */
  readonly representatives: readonly number[];
  readonly ranks: readonly {
    readonly rank: number;
    readonly node: number;
    readonly hostname: string;
    /** Seconds from the rank's start to its report. */
    readonly seconds: number;
    readonly stepSeconds: number;
    readonly msPerStep: number;
  }[];
}

/** Mean, median, min and max of a list (all 0 for an empty one), in the list's unit. */
export function stepStatistics(values: readonly number[]): { mean: number; median: number; min: number; max: number } {
  if (values.length === 0) return { mean: 0, median: 0, min: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** Rounded for reading: seconds to the microsecond, milliseconds to the nanosecond. */
function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

/** What a record is made from: the facts it copies (pipeline, plan, rank) and those it states in its own words. */
export interface RecordFacts extends Pick<RunRecord, "pipeline" | "file" | "planHash" | "backend" | "rank" | "world" | "planSteps"> {
  readonly version: string;
  readonly weights: NativeWeights;
  readonly noise: { readonly seed: number } | { readonly file: string };
  readonly result: NativeRunResult;
}

/** The record of a run; `totalSeconds` from the native request to the output files written. */
export function runRecord(facts: RecordFacts, written: readonly WrittenOutput[], writeSeconds: number, totalSeconds: number): RunRecord {
  const t = facts.result.timings;
  const perStep = stepStatistics(t.perStep.map((s) => s * 1000));
  return {
    opendit: facts.version,
    date: new Date().toISOString(),
    pipeline: facts.pipeline,
    file: facts.file,
    planHash: facts.planHash,
    backend: facts.backend,
    rank: facts.rank,
    world: facts.world,
    steps: t.perStep.length,
    planSteps: facts.planSteps,
    threads: facts.result.threads,
    weights: facts.weights.kind === "random" ? `random (seed ${facts.weights.seed})` : facts.weights.path,
    noise: "seed" in facts.noise ? `seed ${facts.noise.seed}` : facts.noise.file,
    seconds: {
      load: round(t.load, 6),
      bind: round(t.bind, 6),
      inputs: round(t.inputs, 6),
      setup: round(t.setup, 6),
      steps: round(t.steps, 6),
      outputs: round(t.outputs, 6),
      write: round(writeSeconds, 6),
      total: round(totalSeconds, 6),
    },
    msPerStep: { mean: round(perStep.mean, 6), median: round(perStep.median, 6), min: round(perStep.min, 6), max: round(perStep.max, 6) },
    arenaBytes: facts.result.arenaBytes,
    weightBytes: facts.result.weightBytes,
    deviceBytes: facts.result.deviceBytes,
    outputs: written,
  };
}

/** run.json's text: the record as pretty JSON, in the order above. */
export function recordText(record: RunRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}
