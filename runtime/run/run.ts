/**
 * Running a compiled pipeline on the native runtime: the checks a run needs beyond the compiler's (one rank,
 * a backend that is built, output formats this version writes), the weights and inputs from the pipeline's
 * files, the native run itself (runtime/native/addon.ts, on a native thread, progress back on this one), and
 * the outputs and run.json written all or nothing. Every failure a user can fix is a RunError naming what and
 * where; a native error (a checkpoint tensor that does not fit, an op that fails) keeps the native message.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import type { Diagnostic } from "../../diagnostics/diagnostic.js";
import { compile, type CompileOptions } from "../../compiler/compile.js";
import { canonicalJson } from "../../compiler/plan/serialize.js";
import type { Plan } from "../../compiler/plan/types.js";
import type { Spec } from "../../compiler/spec/schema.js";
import { loadNative, NativeUnavailableError, type NativeAddon, type NativeInfo, type NativeProgress, type NativeRunResult } from "../native/addon.js";
import { messageOf, RunError } from "./errors.js";
import { pipelinePath, runInputs } from "./inputs.js";
import { outputTensors, writeRunOutputs, type WrittenOutput } from "./outputs.js";
import { recordText, runRecord, type RunRecord } from "./record.js";
import { runWeights } from "./weights.js";

export type Backend = "cpu" | "cuda";

/**
 * The backends the native run() reaches through its contract: NativeRunRequest has no backend field yet, so a
 * run executes on the CPU backend even where the CUDA one is built.
 */
const RUNNABLE_BACKENDS: readonly Backend[] = ["cpu"];

/** The output formats this version writes; the others need the VAE decode and the image and video writers. */
const WRITTEN_FORMATS: readonly string[] = ["latents"];

export interface RunOptions {
  /** The pipeline file as it was named (recorded in run.json). */
  readonly file: string;
  /** The pipeline file's directory: the checkpoint, noise and embeddings paths are relative to it. */
  readonly baseDir: string;
  /** The directory a relative output directory resolves against (where opendit runs). */
  readonly cwd: string;
  /** The output directory, instead of the Spec's `output.dir` (default `outputs/<name>`). */
  readonly outDir?: string;
  /** Instead of the Spec's `runtime.backend` (default: cuda where built and runnable, else cpu). */
  readonly backend?: Backend;
  /** Run only the first N steps of the plan's schedule (a truncated sampling; default all). */
  readonly stopAfter?: number;
  /** CPU threads (default: all cores, or OPENDIT_CPU_THREADS). */
  readonly threads?: number;
  readonly onProgress?: (progress: NativeProgress) => void;
  /** The opendit version recorded (default: the version the addon was built from). */
  readonly version?: string;
  /** The native addon (default: the built one, loadNative()). */
  readonly native?: NativeAddon;
}

export interface RunSummary {
  /** The output directory, absolute. */
  readonly outDir: string;
  readonly outputs: readonly WrittenOutput[];
  readonly record: RunRecord;
  /** Things the run did not do that the pipeline asked for (output formats not built yet). */
  readonly warnings: readonly string[];
}

/** Refuses a plan of more than one rank: the launcher that starts one process per rank is not built yet. */
function checkOneRank(spec: Spec, plan: Plan): void {
  const world = plan.mesh.world;
  if (world === 1) return;
  const layout = spec.parallel?.layout;
  const flags = layout !== undefined ? `\`--world 1 --layout "dp 1"\`` : "`--world 1`";
  throw new RunError(
    `this plan runs on ${world} ranks${layout !== undefined ? ` (layout \`${layout}\`)` : ""}, but this version of opendit runs one rank: ` +
      `the multi-rank launcher is not built yet; run it on one rank with ${flags} (or \`parallel: { world: 1 }\` in the file)`,
  );
}

/** The warnings about output formats this version does not write; latents.safetensors is written whatever they ask. */
export function formatWarnings(spec: Spec): string[] {
  const formats = spec.output?.formats ?? ["latents"];
  const missing = formats.filter((f) => !WRITTEN_FORMATS.includes(f));
  if (missing.length === 0) return [];
  const names = missing.map((f) => `\`${f}\``).join(", ");
  const instead = formats.includes("latents") ? "only latents.safetensors is written" : "latents.safetensors is written instead";
  return [`output ${missing.length === 1 ? "format" : "formats"} ${names} ${missing.length === 1 ? "is" : "are"} not written: the VAE decode and the image and video writers are not built yet; ${instead}`];
}

/** The backend to run on, or a RunError saying why the asked one cannot run. */
export function chooseBackend(asked: Backend | undefined, fromSpec: Backend | undefined, info: NativeInfo): Backend {
  const cuda = info.backends.cuda;
  const backend = asked ?? fromSpec ?? (cuda.built && RUNNABLE_BACKENDS.includes("cuda") ? "cuda" : "cpu");
  if (backend === "cuda") {
    const source = asked !== undefined ? "`--backend cuda`" : "`runtime.backend: cuda`";
    const fix = asked !== undefined ? "`--backend cpu`" : "`--backend cpu` (or `runtime.backend: cpu` in the file)";
    if (!cuda.built) throw new RunError(`${source} asks for the CUDA backend, which this build of opendit does not have: ${cuda.reason}; run on the CPU with ${fix}`);
    if (!RUNNABLE_BACKENDS.includes("cuda")) throw new RunError(`${source}: the CUDA backend is built, but this version runs plans on the CPU only; run with ${fix}`);
  }
  return backend;
}

function checkThreads(threads: number | undefined): void {
  if (threads !== undefined && !(Number.isSafeInteger(threads) && threads >= 1)) throw new RunError(`threads must be a whole number of at least 1, not ${threads}`);
}

function checkStopAfter(stopAfter: number | undefined, plan: Plan): void {
  if (stopAfter === undefined) return;
  if (!(Number.isSafeInteger(stopAfter) && stopAfter >= 1 && stopAfter <= plan.steps.length)) {
    throw new RunError(`cannot stop after step ${stopAfter}: the plan has ${plan.steps.length} steps`);
  }
}

function loadAddon(options: RunOptions): NativeAddon {
  if (options.native) return options.native;
  try {
    return loadNative();
  } catch (error) {
    if (error instanceof NativeUnavailableError) throw new RunError(error.message);
    throw error;
  }
}

/** The output directory: the option's or the Spec's, relative to where opendit runs; else outputs/<name>. */
export function outputDirectory(spec: Spec, options: Pick<RunOptions, "outDir" | "cwd">): string {
  return resolve(options.cwd, options.outDir ?? spec.output?.dir ?? `outputs/${spec.name}`);
}

/** Runs a compiled pipeline (its checked Spec and its Plan) and writes its outputs and run.json. */
export async function runCompiled(spec: Spec, plan: Plan, options: RunOptions): Promise<RunSummary> {
  checkOneRank(spec, plan);
  checkThreads(options.threads);
  checkStopAfter(options.stopAfter, plan);
  const warnings = formatWarnings(spec);
  const weights = runWeights(plan, options.baseDir);
  const inputs = await runInputs(spec, plan, options.baseDir);
  const native = loadAddon(options);
  const backend = chooseBackend(options.backend, spec.runtime?.backend, native.info());
  const outDir = outputDirectory(spec, options);

  const started = performance.now();
  let result: NativeRunResult;
  try {
    result = await native.run(
      {
        plan: canonicalJson(plan),
        weights,
        inputs,
        ...(options.stopAfter !== undefined ? { steps: options.stopAfter } : {}),
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
      },
      options.onProgress,
    );
  } catch (error) {
    throw new RunError(messageOf(error));
  }

  const tensors = outputTensors(plan, result.outputs);
  const version = options.version ?? native.info().version;
  const facts = {
    version,
    pipeline: plan.name,
    file: options.file,
    planHash: plan.hash,
    backend,
    rank: 0,
    world: plan.mesh.world,
    planSteps: plan.steps.length,
    weights,
    noise: spec.noise !== undefined ? { file: pipelinePath(options.baseDir, spec.noise) } : { seed: spec.seed ?? 0 },
    result,
  };
  let record: RunRecord | undefined;
  const outputs = await writeRunOutputs(outDir, tensors, { planHash: plan.hash, pipeline: plan.name, version }, (written, writeSeconds) => {
    record = runRecord(facts, written, writeSeconds, (performance.now() - started) / 1000);
    return recordText(record);
  });
  return { outDir, outputs, record: record!, warnings };
}

/** Diagnostics as the lines of a RunError: `file:line:col code message`. */
function diagnosticLines(diagnostics: readonly Diagnostic[]): string {
  return diagnostics.map((d) => `${d.file}:${d.start.line}:${d.start.column} ${d.code} ${d.message}`).join("\n");
}

export interface RunFileOptions extends Omit<RunOptions, "file" | "baseDir" | "cwd">, Pick<CompileOptions, "world" | "layout" | "steps"> {
  /** Where the path and the output directory resolve (default: the process's working directory). */
  readonly cwd?: string;
}

/**
 * Compiles a pipeline file for a run (a missing checkpoint or input file is an error then, not a warning) and
 * runs it. Errors in the pipeline are a RunError listing them; the CLI's `opendit run` reports them in full.
 */
export async function runPipelineFile(path: string, options: RunFileOptions = {}): Promise<RunSummary> {
  const cwd = options.cwd ?? process.cwd();
  const absolute = resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(absolute, "utf8");
  } catch (error) {
    throw new RunError(`cannot read the pipeline ${absolute}: ${messageOf(error)}`);
  }
  const { world, layout, steps, ...run } = options;
  const result = compile(
    { path, text },
    { mode: "run", baseDir: dirname(absolute), ...(world !== undefined ? { world } : {}), ...(layout !== undefined ? { layout } : {}), ...(steps !== undefined ? { steps } : {}) },
  );
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  if (!result.plan || !result.spec || errors.length > 0) throw new RunError(`${path} has errors:\n${diagnosticLines(errors)}`);
  return runCompiled(result.spec, result.plan, { ...run, file: path, baseDir: dirname(absolute), cwd });
}

