/**
 * `opendit run FILE`: compiles a pipeline as `plan` does (the same overrides, checked like the file's values,
 * the same report on stderr; a missing checkpoint or input file is an error here, not a warning), then runs
 * the plan on the native runtime and writes its outputs and run.json. Progress goes to stderr (a redrawn line on
 * a terminal, JSON lines with `--json`), the summary to stdout. A run that fails for a reason the user can fix
 * (a checkpoint tensor of the wrong shape, an embeddings file that does not fit, a backend that is not built)
 * is one line, `error: <message>`, and exit 4; nothing is left in the output directory.
 */
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { BACKENDS } from "../../compiler/spec/schema.js";
import type { Backend, RunSummary } from "../../runtime/run/run.js";
import type { CommandContext } from "../command-context.js";
import { ExitCode } from "../exit-codes.js";
import { toolInfo } from "../package-info.js";
import { progressReporter, stderrIsTerminal, type ProgressMode } from "../render/run-progress.js";
import { printable } from "../render/terminal-text.js";
import { formatSeconds } from "../render/units.js";
import { addPipelineOptions, baseOptions, parseWholeNumber, readPipeline, reportProblems, stderrColors, type PipelineFlags } from "./plan.js";

interface RunFlags extends PipelineFlags {
  readonly backend?: Backend;
  readonly out?: string;
  readonly steps?: number;
  readonly threads?: number;
  readonly world?: number;
  readonly layout?: string;
  readonly json?: boolean;
}

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
  const text = await readPipeline(path, ctx, colors);
  if (text === undefined) return ExitCode.usage;
  const compile = ctx.deps.compile ?? (await import("../../compiler/compile.js")).compile;
  const result = compile(
    { path, text },
    {
      ...baseOptions(path, flags, ctx),
      mode: "run",
      ...(flags.world !== undefined ? { world: flags.world } : {}),
      ...(flags.layout !== undefined ? { layout: flags.layout } : {}),
      ...(flags.steps !== undefined ? { steps: flags.steps } : {}),
    },
  );
  const failed = reportProblems(result, flags, ctx, colors);
  if (failed !== undefined || !result.plan || !result.spec) return failed ?? ExitCode.problems;

  // The runtime (and through it the addon) is loaded only for a run, so the other commands never touch it.
  const { runCompiled } = await import("../../runtime/run/run.js");
  const { RunError } = await import("../../runtime/run/errors.js");
  const progress = progressReporter(progressMode(flags, ctx), result.plan.name, io);
  let summary: RunSummary;
  try {
    summary = await runCompiled(result.spec, result.plan, {
      file: path,
      baseDir: dirname(resolve(io.cwd, path)),
      cwd: io.cwd,
      ...(flags.out !== undefined ? { outDir: flags.out } : {}),
      ...(flags.backend !== undefined ? { backend: flags.backend } : {}),
      ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
      onProgress: progress.onProgress,
      version: toolInfo().version,
    });
  } catch (error) {
    progress.finish();
    if (!(error instanceof RunError)) throw error;
    io.stderr.write(`${colors.red(colors.bold("error:"))} ${printableLines(error.message)}\n`);
    return ExitCode.runFailed;
  }
  progress.finish();
  if (!flags.quiet) for (const w of summary.warnings) io.stderr.write(`${colors.yellow(colors.bold("warning:"))} ${printableLines(w)}\n`);
  io.stdout.write(flags.json ? `${JSON.stringify({ event: "done", outDir: summary.outDir, record: summary.record })}\n` : summaryLine(summary, io.cwd));
  return ExitCode.ok;
}

export function runCommand(ctx: CommandContext): Command {
  const command = new Command("run")
    .description("Compile a pipeline and run it on the native runtime (one rank, CPU backend): writes latents.safetensors and run.json.")
    .argument("<file>", "the pipeline file (YAML or .odit)")
    .addOption(new Option("--backend <backend>", "where to run (overrides runtime.backend; default cpu: this version runs plans on the CPU)").choices(BACKENDS))
    .option("--out <dir>", "the output directory (overrides output.dir)")
    .option("--steps <n>", "sampler steps (overrides scheduler.steps)", parseWholeNumber)
    .option("--threads <n>", "CPU threads (default: all cores, or OPENDIT_CPU_THREADS)", parseThreads)
    .option("--world <n>", "ranks to run on (overrides parallel.world; this version runs 1)", parseWholeNumber)
    .option("--layout <layout>", 'the parallel layout (overrides parallel.layout), such as "dp 1"')
    .option("--json", "progress as JSON lines on stderr, and the run's record as JSON on stdout");
  return addPipelineOptions(command)
    .addHelpText(
      "after",
      [
        "",
        "Overrides are checked like the file's own values; their problems are reported under <command line>.",
        "Exit codes: 0 the outputs were written, 1 the pipeline has errors, 2 usage error or unreadable file,",
        "3 internal error, 4 the run failed (checkpoint, inputs, backend or a native error; nothing is written).",
      ].join("\n"),
    )
    .action(async (path: string, flags: RunFlags) => {
      ctx.exitCode = await runPipeline(path, flags, ctx);
    });
}
