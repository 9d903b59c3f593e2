/**
 * `opendit run FILE`: compiles a pipeline as `plan` does (the same overrides, checked like the file's values,
 * the same report on stderr; a missing checkpoint or input file is an error here, not a warning), then runs
 * the plan on the native runtime and writes its outputs (latents.safetensors and the pictures its formats ask
 * for: png, gif, mp4; without a VAE decode the linear latent preview, said so) and run.json; with
 * `output.preview_every` (or `--preview-every N`, checked like the file's value) a linear latent preview after every
 * N-th step into <out>/previews/ during the run. Progress goes to stderr (a redrawn line on a terminal, with the
 * latest preview; JSON lines with `--json`), the summary to stdout (a second line names the pictures and what they
 * show, a third the previews). A run that fails for a reason the user can fix
 * (a checkpoint tensor of the wrong shape, an embeddings file that does not fit, a backend that is not built)
 * is one line, `error: <message>`, and exit 4; nothing is left in the output directory.
 */
import { basename, dirname, isAbsolute, relative, resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { BACKENDS } from "../../compiler/spec/schema.js";
import type { Spec } from "../../compiler/spec/schema.js";
import type { SampleError } from "../../runtime/launch/assemble.js";
import type { Backend, PeerSummary, RunOptions, RunSummary } from "../../runtime/run/run.js";
import type { CommandContext } from "../command-context.js";
import { ExitCode } from "../exit-codes.js";
import { toolInfo } from "../package-info.js";
import { progressReporter, stderrIsTerminal, type ProgressMode } from "../render/run-progress.js";
import { printable } from "../render/terminal-text.js";
import { formatSeconds } from "../render/units.js";
import { addPipelineOptions, compilePipeline, parseWholeNumber, stderrColors, type CompileFlags } from "./plan.js";

interface RunFlags extends CompileFlags {
  readonly backend?: Backend;
  readonly out?: string;
  readonly threads?: number;
  readonly json?: boolean;
  readonly nnodes?: number;
  readonly nodeRank?: number;
  readonly rendezvous?: string;
  readonly checkAgainst?: number;
  readonly checkTolerance?: number;
  readonly collectiveTimeout?: number;
  readonly previewEvery?: number;
}

/** A positive number of seconds or a tolerance. */
function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("Expected a positive number.");
  return n;
}

/** `--check-against`: only a one-rank run is a reference. */
function parseCheckAgainst(value: string): number {
  if (value.trim() !== "1") throw new InvalidArgumentError("Only 1 is supported: the parallel run is checked against a one-rank run.");
  return 1;
}

/** The relative error `--check-against` allows by default. */
export const DEFAULT_CHECK_TOLERANCE = 1e-4;

/** A thread count: checked here, since no pipeline value holds it. */
function parseThreads(value: string): number {
  const n = parseWholeNumber(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("Expected a whole number of at least 1.");
  return n;
}

/** A path for people: relative to the working directory when inside it, else absolute. */
function shownPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel === "" ? "." : rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}

/** `wrote outputs/quickstart/latents.safetensors [1, 4, 4, 8, 8] and run.json (10 steps, 4.10 ms/step, 210 ms)`. */
export function summaryLine(summary: RunSummary, cwd: string): string {
  const { record } = summary;
  const files = summary.outputs.map((o) => `${printable(shownPath(resolve(summary.outDir, o.file), cwd))} [${o.shape.join(", ")}]`);
  const steps = `${record.steps} ${record.steps === 1 ? "step" : "steps"}`;
  return `wrote ${files.join(", ")} and run.json (${steps}, ${formatSeconds(record.msPerStep.mean / 1000)}/step, ${formatSeconds(record.seconds.total)})\n`;
}

/**
 * The pictures' line: `wrote out/preview-0000.png … out/preview-0003.png (4 files), out/preview.gif: preview
 * (linear latent approximation), not a VAE decode`; a run of pictures of one format and sample is shortened to
 * its first and last file. Empty when no picture was written.
 */
export function mediaLine(summary: RunSummary, cwd: string): string {
  const media = summary.media;
  if (!media || media.files.length === 0) return "";
  const shown = (file: string): string => printable(shownPath(resolve(summary.outDir, file), cwd));
  const groups: { key: string; files: string[] }[] = [];
  for (const f of media.files) {
    const key = `${f.sample}/${f.format}`;
    const last = groups[groups.length - 1];
    if (last && last.key === key) last.files.push(f.file);
    else groups.push({ key, files: [f.file] });
  }
  const parts = groups.map((g) => (g.files.length > 2 ? `${shown(g.files[0]!)} … ${shown(g.files[g.files.length - 1]!)} (${g.files.length} files)` : g.files.map(shown).join(", ")));
  return `wrote ${parts.join(", ")}: ${media.description}\n`;
}

/**
 * The previews' line: `wrote 5 previews (every 2 steps) in out/previews: step-2.gif … step-10.gif, linear latent
 * approximation`; empty when the run wrote none.
 */
export function previewsLine(summary: RunSummary, cwd: string): string {
  const previews = summary.previews;
  if (!previews || previews.files.length === 0) return "";
  const steps = new Set(previews.files.map((f) => f.step)).size;
  const names = previews.files.map((f) => printable(basename(f.file)));
  const listed = names.length > 2 ? `${names[0]} … ${names[names.length - 1]}` : names.join(", ");
  const every = previews.every === 1 ? "every step" : `every ${previews.every} steps`;
  return `wrote ${steps} ${steps === 1 ? "preview" : "previews"} (${every}) in ${printable(shownPath(previews.dir, cwd))}: ${listed}, linear latent approximation\n`;
}

/** A message for the terminal: its own line breaks kept (continuation lines indented), other controls made visible. */
function printableLines(message: string): string {
  return message.split(/\r\n|\r|\n/).map(printable).join("\n  ");
}

function progressMode(flags: RunFlags, ctx: CommandContext): ProgressMode {
  if (flags.json) return "json";
  if (flags.quiet) return "none";
  return stderrIsTerminal(ctx.io) ? "line" : "none";
}

async function runPipeline(path: string, flags: RunFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const colors = stderrColors(flags, ctx);
  const result = await compilePipeline(path, flags, ctx, colors, "run", flags.previewEvery !== undefined ? { previewEvery: flags.previewEvery } : {});
  if (typeof result === "number") return result;
  if (!result.spec) return ExitCode.problems;

  // The runtime (and through it the addon) is loaded only for a run, so the other commands never touch it.
  const { runCompiledAnyRole, checkAgainstOneRank } = await import("../../runtime/run/run.js");
  const { RunError } = await import("../../runtime/run/errors.js");
  const progress = progressReporter(progressMode(flags, ctx), result.plan.name, io);
  let outcome: RunSummary | PeerSummary;
  const runOptions: RunOptions = {
    file: path,
    baseDir: dirname(resolve(io.cwd, path)),
    cwd: io.cwd,
    ...(flags.out !== undefined ? { outDir: flags.out } : {}),
    ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    onProgress: progress.onProgress,
    onPreview: (step, files) => progress.onPreview(step, files.map((f) => printable(shownPath(f.path, io.cwd)))),
    version: toolInfo().version,
    env: io.env,
    ...(flags.nnodes !== undefined ? { nnodes: flags.nnodes } : {}),
    ...(flags.nodeRank !== undefined ? { nodeRank: flags.nodeRank } : {}),
    ...(flags.rendezvous !== undefined ? { rendezvous: flags.rendezvous } : {}),
    ...(flags.collectiveTimeout !== undefined ? { collectiveTimeoutMs: Math.round(flags.collectiveTimeout * 1000) } : {}),
    ...(flags.json ? { onRanks: (ranks) => void io.stderr.write(`${JSON.stringify({ event: "ranks", ranks: ranks.map((r) => r.rank), pids: ranks.map((r) => r.pid) })}\n`) } : {}),
  };
  try {
    outcome = await runCompiledAnyRole(result.spec, result.plan, runOptions);
  } catch (error) {
    progress.finish();
    if (!(error instanceof RunError)) throw error;
    io.stderr.write(`${colors.red(colors.bold("error:"))} ${printableLines(error.message)}\n`);
    return ExitCode.runFailed;
  }
  progress.finish();
  if ("kind" in outcome) {
    io.stdout.write(flags.json ? `${JSON.stringify({ event: "done", note: outcome.note })}\n` : `${outcome.note}\n`);
    return ExitCode.ok;
  }
  const summary = outcome;
  if (!flags.quiet) for (const w of summary.warnings) io.stderr.write(`${colors.yellow(colors.bold("warning:"))} ${printableLines(w)}\n`);
  io.stdout.write(
    flags.json
      ? `${JSON.stringify({ event: "done", outDir: summary.outDir, record: summary.record, ...(summary.previews ? { previews: summary.previews } : {}) })}\n`
      : summaryLine(summary, io.cwd) + mediaLine(summary, io.cwd) + previewsLine(summary, io.cwd),
  );
  if (flags.checkAgainst !== undefined) return checkAgainst(summary, result.spec, runOptions, flags, ctx, colors, checkAgainstOneRank, RunError);
  return ExitCode.ok;
}

/** `--check-against 1`: runs the one-rank plan in-process and prints the error of each sample's latents. */
async function checkAgainst(
  summary: RunSummary,
  spec: Spec,
  options: RunOptions,
  flags: RunFlags,
  ctx: CommandContext,
  colors: ReturnType<typeof stderrColors>,
  check: (spec: Spec, tensors: RunSummary["tensors"], options: RunOptions) => Promise<SampleError[]>,
  runError: new (...args: never[]) => Error,
): Promise<number> {
  const { io } = ctx;
  const tolerance = flags.checkTolerance ?? DEFAULT_CHECK_TOLERANCE;
  let errors: SampleError[];
  try {
    const { onProgress: _progress, onRanks: _ranks, ...rest } = options;
    errors = await check(spec, summary.tensors, rest);
  } catch (error) {
    if (!(error instanceof runError)) throw error;
    io.stderr.write(`${colors.red(colors.bold("error:"))} --check-against 1: ${printableLines(error.message)}\n`);
    return ExitCode.runFailed;
  }
  const worst = errors.reduce((m, e) => Math.max(m, e.relative), 0);
  const pass = worst <= tolerance;
  if (flags.json) {
    io.stdout.write(`${JSON.stringify({ event: "check", against: 1, tolerance, pass, samples: errors })}\n`);
  } else {
    for (const e of errors) io.stdout.write(`check against 1 rank: ${e.output} sample ${e.sample}: max abs ${e.maxAbs.toExponential(3)}, relative ${e.relative.toExponential(3)}\n`);
    io.stdout.write(`check against 1 rank: ${pass ? "ok" : "FAILED"} (largest relative error ${worst.toExponential(3)}, tolerance ${tolerance.toExponential(1)})\n`);
  }
  if (!pass) {
    io.stderr.write(`${colors.red(colors.bold("error:"))} the parallel run's latents differ from the one-rank run's by ${worst.toExponential(3)} (relative), above --check-tolerance ${tolerance}\n`);
    return ExitCode.runFailed;
  }
  return ExitCode.ok;
}

export function runCommand(ctx: CommandContext): Command {
  const command = new Command("run")
    .description(
      "Compile a pipeline and run it on the native runtime (CPU or CUDA backend; one process per rank): writes latents.safetensors, the pictures output.formats asks for (png, gif, mp4 with ffmpeg; without a VAE decode a linear latent preview) and run.json.",
    )
    .argument("<file>", "the pipeline file (YAML or .odit)")
    .addOption(
      new Option(
        "--backend <backend>",
        "where to run (overrides runtime.backend; default cuda where this build has it and the plan has one rank, else cpu; several ranks run on the CPU until NCCL is built)",
      ).choices(BACKENDS),
    )
    .option("--out <dir>", "the output directory (overrides output.dir)")
    .option("--steps <n>", "sampler steps (overrides scheduler.steps)", parseWholeNumber)
    .option("--preview-every <n>", "write a linear latent preview after every N-th step into <out>/previews/ (overrides output.preview_every)", parseWholeNumber)
    .option("--threads <n>", "CPU threads (default: all cores, or OPENDIT_CPU_THREADS)", parseThreads)
    .option("--world <n>", "ranks to run on (overrides parallel.world; above 1, one process per rank)", parseWholeNumber)
    .option("--layout <layout>", 'the parallel layout (overrides parallel.layout), such as "dp 1"')
    .option("--nnodes <n>", "nodes of a multi-node run (each node runs `opendit run` with its --node-rank)", parseWholeNumber)
    .option("--node-rank <k>", "this node's index, 0 to nnodes - 1 (node 0 hosts the rendezvous and writes the outputs)", parseWholeNumber)
    .option("--rendezvous <host:port>", "where node 0 hosts the rendezvous store (multi-node; or a foreign launcher's store)")
    .option("--collective-timeout <seconds>", "how long a connection or collective may wait (default OPENDIT_COLLECTIVE_TIMEOUT ms, else 60 s)", parsePositive)
    .option("--check-against <ranks>", "after a parallel run, run the plan on 1 rank in-process and report the latents' error", parseCheckAgainst)
    .option("--check-tolerance <relative>", `the relative error --check-against allows (default ${DEFAULT_CHECK_TOLERANCE})`, parsePositive)
    .option("--json", "progress (and {event: \"ranks\", pids}) as JSON lines on stderr, the run's record as JSON on stdout");
  return addPipelineOptions(command)
    .addHelpText(
      "after",
      [
        "",
        "Overrides are checked like the file's own values; their problems are reported under <command line>.",
        "Exit codes: 0 the outputs were written, 1 the pipeline has errors, 2 usage error or unreadable file,",
        "3 internal error, 4 the run failed (checkpoint, inputs, backend, a native error or ffmpeg; nothing is written).",
      ].join("\n"),
    )
    .action(async (path: string, flags: RunFlags) => {
      ctx.exitCode = await runPipeline(path, flags, ctx);
    });
}
