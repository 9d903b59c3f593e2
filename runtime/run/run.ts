/**
 * Running a compiled pipeline on the native runtime: the checks a run needs beyond the compiler's (a backend
 * that is built, output formats this version writes), a plan of more than one rank handed to the launcher
 * (runtime/launch/, one process per rank) or run as one rank under a foreign launcher, the weights and inputs from the pipeline's
 * files, the native run itself (runtime/native/addon.ts, on a native thread, progress back on this one), the
 * previews during the run that `output.preview_every` asks for (runtime/media/step-previews.ts), and the
 * outputs, the pictures the formats ask for (runtime/media/: the VAE's decode where the native run returns
 * one, else the linear latent preview) and run.json written all or nothing. Every failure a user can fix is a RunError naming what and
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
import { compareOutputs, type SampleError } from "../launch/assemble.js";
import { checkWorld, collectiveTimeoutMs as collectiveTimeoutFromEnv, parseAddress, rankEnvironment, rendezvousTimeoutMs, type Address, type Env, type RankEnvironment } from "../launch/env.js";
import { runForeignRank } from "../launch/foreign.js";
import { decodedRgbVideos, makesImages, runMediaWriter, type RunMedia } from "../media/run-media.js";
import type { RankJob } from "../launch/job.js";
import { launchRanks } from "../launch/launcher.js";
import { previewAssembler } from "../launch/previews.js";
import { stepPreviewWriter, type StepPreviewFile, type StepPreviews, type StepPreviewWriter } from "../media/step-previews.js";
import { loadNative, NativeUnavailableError, type NativeAddon, type NativeInfo, type NativeProgress, type NativeRunResult, type NativeWeights } from "../native/addon.js";
import { messageOf, RunError } from "./errors.js";
import { pipelinePath, runInputs } from "./inputs.js";
import { outputTensors, writeRunOutputs, type OutputTensor, type WrittenOutput } from "./outputs.js";
import { recordText, runRecord, type RunRecord } from "./record.js";
import { runWeights } from "./weights.js";

export type Backend = "cpu" | "cuda";

/** The backends this build of the addon runs plans on: the CPU always, CUDA where it was built. */
export function runnableBackends(info: NativeInfo): readonly Backend[] {
  return info.backends.cuda.built ? ["cpu", "cuda"] : ["cpu"];
}

export interface RunOptions {
  /** The pipeline file as it was named (recorded in run.json). */
  readonly file: string;
  /** The pipeline file's directory: the checkpoint, noise and embeddings paths are relative to it. */
  readonly baseDir: string;
  /** The directory a relative output directory resolves against (where opendit runs). */
  readonly cwd: string;
  /** The output directory, instead of the Spec's `output.dir` (default `outputs/<name>`). */
  readonly outDir?: string;
  /** Instead of the Spec's `runtime.backend` (default: cuda where built, for a plan of one rank; else cpu). */
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
  /** A parallel run (world > 1): the environment the ranks inherit and a foreign launcher is read from (default process.env). */
  readonly env?: Env;
  /** Multi-node: nodes, this node's index, and where node 0 hosts the store (runtime/launch/README.md). */
  readonly nnodes?: number;
  readonly nodeRank?: number;
  readonly rendezvous?: string;
  /** Milliseconds a connection or collective may wait (default OPENDIT_COLLECTIVE_TIMEOUT, else 60000). */
  readonly collectiveTimeoutMs?: number;
  /** After each preview during the run (`output.preview_every`) is written: its step and files. */
  readonly onPreview?: (step: number, files: readonly StepPreviewFile[]) => void;
  /** Once the rank processes started: their ranks and pids. */
  readonly onRanks?: (ranks: readonly { readonly rank: number; readonly pid: number }[]) => void;
}

export interface RunSummary {
  /** The output directory, absolute. */
  readonly outDir: string;
  readonly outputs: readonly WrittenOutput[];
  readonly record: RunRecord;
  /** The pictures written (png, gif, mp4), where the formats ask for them; also in the record. */
  readonly media?: RunMedia;
  /** The previews written during the run (`output.preview_every`; runtime/media/step-previews.ts). */
  readonly previews?: StepPreviews;
  /** Things the run did not do that the pipeline asked for (a preview not written, an MP4 without ffmpeg). */
  readonly warnings: readonly string[];
  /** The final tensors written (for `--check-against`). */
  readonly tensors: readonly OutputTensor[];
  /** Where a parallel run's rank logs are. */
  readonly logsDir?: string;
}

/** What a process of a parallel run that does not write the outputs reports (another node, a foreign rank > 0). */
export interface PeerSummary {
  readonly kind: "peer";
  /** One line for the user: which ranks ran here and who writes the outputs. */
  readonly note: string;
}

/** The run's warnings: the previews' notes (a preview not written), then the media's (an MP4 without ffmpeg). */
function runWarnings(previews: StepPreviews | undefined, media: RunMedia | undefined): string[] {
  return [...(previews?.notes ?? []), ...(media?.notes ?? [])];
}

/** Whether this build runs plans of several ranks on CUDA (its collectives over NCCL), and why not. */
export function cudaRunsSeveralRanks(info: NativeInfo): { readonly built: boolean; readonly reason: string } {
  if (!info.backends.cuda.built) return { built: false, reason: info.backends.cuda.reason };
  return info.backends.cuda.nccl ?? { built: false, reason: "this build of the addon does not report NCCL" };
}

/**
 * The backend to run on, or a RunError saying why the asked one cannot run. Unasked, a plan runs on CUDA where the
 * build has it (a plan of several ranks: where it has NCCL too, which its collectives run over), else on the CPU;
 * asking for CUDA for several ranks without NCCL is refused with the build's reason.
 */
export function chooseBackend(asked: Backend | undefined, fromSpec: Backend | undefined, info: NativeInfo, world = 1): Backend {
  const cuda = info.backends.cuda;
  const runnable = runnableBackends(info);
  const nccl = cudaRunsSeveralRanks(info);
  const backend = asked ?? fromSpec ?? (runnable.includes("cuda") && (world === 1 || nccl.built) ? "cuda" : "cpu");
  if (backend === "cuda") {
    const source = asked !== undefined ? "`--backend cuda`" : "`runtime.backend: cuda`";
    const fix = asked !== undefined ? "`--backend cpu`" : "`--backend cpu` (or `runtime.backend: cpu` in the file)";
    if (!runnable.includes("cuda")) throw new RunError(`${source} asks for the CUDA backend, which this build of opendit does not have: ${cuda.reason}; run on the CPU with ${fix}`);
    if (world > 1 && !nccl.built) {
      throw new RunError(`${source}: this plan runs on ${world} ranks, and the CUDA backend runs several ranks only over NCCL, which this build does not have: ${nccl.reason}; run with ${fix}, or on one rank`);
    }
  }
  return backend;
}

/** The CUDA device of a rank: `runtime.devices[localRank]`, else 0 (as this process sees its devices). */
export function rankDevice(spec: Spec, localRank: number): number {
  return spec.runtime?.devices?.[localRank] ?? 0;
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

/**
 * A one-rank native run in this process: the output tensors, the result, and the facts run.json needs. With
 * `previews`, the native run hands over the latent after every N-th step (request.previewEvery), which goes to
 * the writer; `options.onProgress` sees the events without it.
 */
export async function executeOneRank(
  spec: Spec,
  plan: Plan,
  options: RunOptions,
  previews?: StepPreviewWriter,
): Promise<{ tensors: OutputTensor[]; result: NativeRunResult; weights: NativeWeights; backend: Backend; native: NativeAddon }> {
  checkThreads(options.threads);
  checkStopAfter(options.stopAfter, plan);
  const weights = runWeights(plan, options.baseDir);
  const inputs = await runInputs(spec, plan, options.baseDir);
  const native = loadAddon(options);
  const backend = chooseBackend(options.backend, spec.runtime?.backend, native.info());
  let result: NativeRunResult;
  try {
    result = await native.run(
      {
        plan: canonicalJson(plan),
        weights,
        inputs,
        backend,
        device: rankDevice(spec, 0),
        ...(options.stopAfter !== undefined ? { steps: options.stopAfter } : {}),
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
        ...(previews ? { previewEvery: previews.every } : {}),
      },
      previews
        ? (p) => {
            const { latent, ...progress } = p;
            if (latent) previews.add(p.step, latent);
            options.onProgress?.(progress);
          }
        : options.onProgress,
    );
  } catch (error) {
    throw new RunError(messageOf(error));
  }
  return { tensors: outputTensors(plan, result.outputs), result, weights, backend, native };
}

/** Runs a compiled pipeline (its checked Spec and its Plan) and writes its outputs and run.json. */
export async function runCompiled(spec: Spec, plan: Plan, options: RunOptions): Promise<RunSummary> {
  const outcome = await runCompiledAnyRole(spec, plan, options);
  if ("kind" in outcome) throw new RunError(`this process wrote no outputs: ${outcome.note}`);
  return outcome;
}

/**
 * Runs a compiled pipeline in whatever role this process has: one rank in-process (world 1), the launcher of a
 * parallel run (runtime/launch/launcher.ts), or one rank under a foreign launcher (runtime/launch/foreign.ts).
 * Resolves with the summary where this process wrote the outputs, else with a PeerSummary.
 */
export async function runCompiledAnyRole(spec: Spec, plan: Plan, options: RunOptions): Promise<RunSummary | PeerSummary> {
  if (plan.mesh.world > 1 || foreignRank(options) !== undefined) return runParallel(spec, plan, options);
  const outDir = outputDirectory(spec, options);
  const started = performance.now();
  const previewWriter = stepPreviewWriter(spec, plan, outDir, options.onPreview ? { onWritten: options.onPreview } : {});
  let executed: Awaited<ReturnType<typeof executeOneRank>>;
  try {
    executed = await executeOneRank(spec, plan, options, previewWriter);
  } catch (error) {
    await previewWriter?.finish(0); // the previews handed over before the failure are written
    throw error;
  }
  const { tensors, result, weights, backend, native } = executed;
  const previews = await previewWriter?.finish(result.timings.perStep.length);
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
  let media: RunMedia | undefined;
  // The VAE's decode where the native run returned one (its `video` output, as per-sample RGB: the route a
  // parallel run's decode takes too, runtime/launch/publish.ts), else the latent preview.
  const video = result.outputs.find((t) => t.name === "video");
  const stageMedia = runMediaWriter(spec, tensors, options.env ?? process.env, video ? decodedRgbVideos(video, makesImages(spec)) : undefined);
  const outputs = await writeRunOutputs(
    outDir,
    tensors,
    { planHash: plan.hash, pipeline: plan.name, version },
    (written, writeSeconds) => {
      const base = runRecord(facts, written, writeSeconds, (performance.now() - started) / 1000);
      record = media ? { ...base, media } : base;
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
  return { outDir, outputs, record: record!, ...(media ? { media } : {}), ...(previews ? { previews } : {}), warnings: runWarnings(previews, media), tensors };
}

/** The rank a foreign launcher made this process, if any (a world-1 foreign environment is not one). */
function foreignRank(options: RunOptions): RankEnvironment | undefined {
  let env: RankEnvironment | undefined;
  try {
    env = rankEnvironment(options.env ?? process.env);
  } catch (error) {
    throw new RunError(messageOf(error));
  }
  if (!env || env.launcher === "opendit") return undefined;
  return env.world === 1 ? undefined : env;
}

async function runParallel(spec: Spec, plan: Plan, options: RunOptions): Promise<RunSummary | PeerSummary> {
  checkThreads(options.threads);
  checkStopAfter(options.stopAfter, plan);
  const outDir = outputDirectory(spec, options);
  const env = options.env ?? process.env;
  // Checked before any process starts: the weights file, the inputs, the backend (each rank checks them again).
  runWeights(plan, options.baseDir);
  await runInputs(spec, plan, options.baseDir);
  const native = loadAddon(options);
  const backend = chooseBackend(options.backend, spec.runtime?.backend, native.info(), plan.mesh.world);
  if (typeof (native as Partial<NativeAddon>).openTransport !== "function") {
    throw new RunError(`this plan runs on ${plan.mesh.world} ranks, but the native runtime was built without the CPU transport (openTransport): rebuild it with \`npm run build:native\``);
  }
  const version = options.version ?? native.info().version;
  const job: RankJob = {
    file: options.file,
    baseDir: options.baseDir,
    spec,
    plan,
    planText: canonicalJson(plan),
    backend,
    ...(options.stopAfter !== undefined ? { stopAfter: options.stopAfter } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
  };
  let collectiveTimeoutMs: number;
  let rendezvousMs: number;
  let rendezvous: Address | undefined;
  try {
    collectiveTimeoutMs = options.collectiveTimeoutMs ?? collectiveTimeoutFromEnv(env);
    rendezvousMs = rendezvousTimeoutMs(env);
    rendezvous = options.rendezvous !== undefined ? parseAddress(options.rendezvous, "--rendezvous") : undefined;
  } catch (error) {
    throw new RunError(messageOf(error));
  }

  // The previews during the run: the representative ranks' latents, put together where the store is hosted (this
  // process on node 0, or rank 0 under a foreign launcher), which writes the outputs too.
  const previewWriter = stepPreviewWriter(spec, plan, outDir, options.onPreview ? { onWritten: options.onPreview } : {});
  const onPreview = previewWriter ? previewAssembler(plan, (step, latent) => previewWriter.add(step, latent)) : undefined;
  const finishPreviews = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      await previewWriter?.finish(0); // the previews handed over before the failure are written
      throw error;
    }
  };

  const foreign = foreignRank(options);
  if (foreign) {
    const rankEnv: RankEnvironment = { ...foreign, collectiveTimeoutMs, ...(rendezvous ? { rendezvous } : {}) };
    try {
      checkWorld(rankEnv, plan.mesh.world);
    } catch (error) {
      throw new RunError(messageOf(error));
    }
    const published = await finishPreviews(() =>
      runForeignRank(job, rankEnv, {
        outDir,
        version,
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        ...(options.native ? { native: options.native } : {}),
        ...(onPreview ? { onPreview } : {}),
      }),
    );
    if (!published) return { kind: "peer", note: `rank ${rankEnv.rank} of ${rankEnv.world} (${rankEnv.launcher}) finished; rank 0 writes the outputs` };
    const previews = await previewWriter?.finish(published.record.steps);
    return {
      outDir,
      outputs: published.outputs,
      record: published.record,
      ...(published.media ? { media: published.media } : {}),
      ...(previews ? { previews } : {}),
      warnings: runWarnings(previews, published.media),
      tensors: published.tensors,
    };
  }

  const launched = await finishPreviews(() =>
    launchRanks({
      job,
      outDir,
      version,
      env,
      collectiveTimeoutMs,
      rendezvousTimeoutMs: rendezvousMs,
      ...(options.nnodes !== undefined ? { nnodes: options.nnodes } : {}),
      ...(options.nodeRank !== undefined ? { nodeRank: options.nodeRank } : {}),
      ...(rendezvous ? { rendezvous } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.onRanks ? { onRanks: options.onRanks } : {}),
      ...(onPreview ? { onPreview } : {}),
    }),
  );
  if (!launched.published) return { kind: "peer", note: `the ranks of node ${options.nodeRank ?? 0} finished; node 0 writes the outputs (logs in ${launched.logsDir})` };
  const p = launched.published;
  const previews = await previewWriter?.finish(p.record.steps);
  return {
    outDir,
    outputs: p.outputs,
    record: p.record,
    ...(p.media ? { media: p.media } : {}),
    ...(previews ? { previews } : {}),
    warnings: runWarnings(previews, p.media),
    tensors: p.tensors,
    logsDir: launched.logsDir,
  };
}

/** The error of a parallel run's final tensors against a one-rank run of the same Spec (`--check-against 1`). */
export async function checkAgainstOneRank(spec: Spec, tensors: readonly OutputTensor[], options: RunOptions): Promise<SampleError[]> {
  const result = compile(spec, { mode: "run", baseDir: options.baseDir, world: 1, layout: "dp 1" });
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  if (!result.plan || !result.spec || errors.length > 0) throw new RunError(`the one-rank plan for --check-against has errors:\n${diagnosticLines(errors)}`);
  const { onProgress: _ignored, ...rest } = options;
  // The backend the parallel run had (chooseBackend of a plan of several ranks), not the one-rank default.
  const backend = chooseBackend(options.backend, spec.runtime?.backend, loadAddon(options).info(), 2);
  const one = await executeOneRank(result.spec, result.plan, { ...rest, backend });
  return compareOutputs(tensors, one.tensors);
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

