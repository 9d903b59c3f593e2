/**
 * The job file (OPENDIT_JOB): what the launcher writes once for all its ranks, so each rank rebuilds exactly the
 * run the one-rank path would make: the checked Spec (the inputs and weights are read from it and the plan with
 * runtime/run/inputs.ts and weights.ts, relative to `baseDir`), the plan's canonical JSON in its own file, the
 * steps and threads asked for, and the backend chosen. A foreign launcher's rank builds the same RankJob in its
 * own process from the pipeline file it compiled, without a file.
 */
import { readFile, writeFile } from "node:fs/promises";
import type { Plan } from "../../compiler/plan/types.js";
import type { Spec } from "../../compiler/spec/schema.js";

export const JOB_FORMAT = "opendit-job";

export interface RankJob {
  /** The pipeline file as it was named (for messages and run.json). */
  readonly file: string;
  /** The pipeline file's directory: the checkpoint, noise and embeddings paths are relative to it. */
  readonly baseDir: string;
  readonly spec: Spec;
  readonly plan: Plan;
  /** The plan's canonical JSON text, as the addon takes it. */
  readonly planText: string;
  readonly backend: "cpu" | "cuda";
  /** Run only the first N steps. */
  readonly stopAfter?: number;
  readonly threads?: number;
}

interface JobFile {
  readonly format: typeof JOB_FORMAT;
  readonly version: 1;
  readonly file: string;
  readonly baseDir: string;
  readonly planPath: string;
  readonly spec: Spec;
  readonly backend: "cpu" | "cuda";
  readonly stopAfter?: number;
  readonly threads?: number;
}

/** Writes the job file at `path` and the plan beside it at `planPath`. */
export async function writeJob(path: string, planPath: string, job: RankJob): Promise<void> {
  await writeFile(planPath, job.planText);
  const file: JobFile = {
    format: JOB_FORMAT,
    version: 1,
    file: job.file,
    baseDir: job.baseDir,
    planPath,
    spec: job.spec,
    backend: job.backend,
    ...(job.stopAfter !== undefined ? { stopAfter: job.stopAfter } : {}),
    ...(job.threads !== undefined ? { threads: job.threads } : {}),
  };
  await writeFile(path, `${JSON.stringify(file)}\n`);
}

/** Reads a job file; throws with the path when it is missing or not one. */
export async function readJob(path: string): Promise<RankJob> {
  let file: JobFile;
  try {
    file = JSON.parse(await readFile(path, "utf8")) as JobFile;
  } catch (error) {
    throw new Error(`cannot read the job file ${path} (OPENDIT_JOB): ${(error as Error).message}`);
  }
  if (file.format !== JOB_FORMAT || file.version !== 1) throw new Error(`${path} (OPENDIT_JOB) is not an opendit job file of version 1`);
  const planText = await readFile(file.planPath, "utf8");
  return {
    file: file.file,
    baseDir: file.baseDir,
    spec: file.spec,
    plan: JSON.parse(planText) as Plan,
    planText,
    backend: file.backend,
    ...(file.stopAfter !== undefined ? { stopAfter: file.stopAfter } : {}),
    ...(file.threads !== undefined ? { threads: file.threads } : {}),
  };
}
