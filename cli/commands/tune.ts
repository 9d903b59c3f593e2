/**
 * `opendit tune FILE --gpus N`: compiles the pipeline with every layout that fits N ranks and prints the
 * fastest by the cost model's estimate, with the layouts that did not lower and why. Exit 0 when at least one
 * layout lowered; otherwise the pipeline's problems are reported as `plan` reports them (exit 1, or 3 when the
 * compiler failed internally).
 */
import { Command, Option } from "commander";
import { UsageError, type CommandContext } from "../command-context.js";
import { ExitCode } from "../exit-codes.js";
import { addPipelineOptions, baseOptions, parseWholeNumber, readPipeline, reportProblems, stderrColors, type PipelineFlags } from "./plan.js";
import { writeOutput } from "./write-output.js";

const TUNE_FORMATS = ["text", "json"] as const;
const DEFAULT_TOP = 5;

interface TuneFlags extends PipelineFlags {
  readonly gpus: number;
  readonly top: number;
  readonly format: (typeof TUNE_FORMATS)[number];
  readonly output?: string;
}

async function runTune(path: string, flags: TuneFlags, ctx: CommandContext): Promise<number> {
  if (flags.gpus < 2) throw new UsageError(`--gpus ${flags.gpus} leaves no layout to choose; give 2 or more (for one GPU, use \`opendit plan\`).`);
  if (flags.top < 1) throw new UsageError(`--top ${flags.top} would show nothing; give 1 or more.`);
  const colors = stderrColors(flags, ctx);
  const text = await readPipeline(path, ctx, colors);
  if (text === undefined) return ExitCode.usage;
  // The compiler is loaded only when something is tuned, so help and --version start quickly.
  const { tune } = await import("../../compiler/tune.js");
  const result = tune({ path, text }, { ...baseOptions(path, flags, ctx), gpus: flags.gpus });

  if (result.ranked.length === 0) {
    // Nothing lowered: the problems of the pipeline itself (or of its best layout) say why.
    const shown = result.failed[0]?.result ?? result.base;
    if (result.layouts.length === 0 && result.base.spec) {
      ctx.io.stderr.write(`opendit: no layout of ${flags.gpus} ranks fits \`${path}\`; try another --gpus.\n`);
      return reportProblems(result.base, flags, ctx, colors) ?? ExitCode.problems;
    }
    const failed = reportProblems(shown, { ...flags, quiet: true }, ctx, colors);
    if (result.failed.length > 0) {
      const { renderTuneText } = await import("../render/tune-table.js");
      ctx.io.stderr.write(renderTuneText(result, { name: path, gpus: flags.gpus, gpu: result.base.facts?.gpu.name ?? flags.gpu ?? "h100", top: flags.top }));
    }
    return failed ?? ExitCode.problems;
  }

  const best = result.ranked[0]!.plan;
  const view = { name: best.name, gpus: flags.gpus, gpu: best.cost.gpu, top: flags.top };
  const { renderTuneJson, renderTuneText } = await import("../render/tune-table.js");
  const rendered = flags.format === "json" ? renderTuneJson(result, view) : renderTuneText(result, view);
  return (await writeOutput(rendered, flags.output, ctx)) ? ExitCode.ok : ExitCode.usage;
}

export function tuneCommand(ctx: CommandContext): Command {
  const command = new Command("tune")
    .description("Compile a pipeline with every parallel layout that fits N GPUs and rank them by estimated time.")
    .argument("<file>", "the pipeline file (YAML or .odit)")
    .requiredOption("--gpus <n>", "the number of GPUs (ranks) to place the pipeline on", parseWholeNumber)
    .option("--top <k>", "how many of the best layouts to show", parseWholeNumber, DEFAULT_TOP)
    .addOption(new Option("-f, --format <format>", "a table, or JSON for scripts").choices(TUNE_FORMATS).default("text"))
    .option("-o, --output <file>", "write the ranking to a file (atomically) instead of stdout");
  return addPipelineOptions(command)
    .addHelpText(
      "after",
      "\nExit codes: 0 at least one layout lowered, 1 none did (the pipeline's errors are shown), 2 usage error or unreadable file, 3 internal error.",
    )
    .action(async (path: string, flags: TuneFlags) => {
      ctx.exitCode = await runTune(path, flags, ctx);
    });
}
