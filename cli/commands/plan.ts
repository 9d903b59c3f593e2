/**
 * `opendit plan FILE`: compiles a pipeline, with `--world`, `--layout`, `--steps` and `--gpu` overriding the
 * file's values (checked exactly like them), and prints the plan explained for a person (text) or whole
 * (json). Problems are reported like `validate`'s stylish report, on stderr, so stdout only ever holds a plan.
 * The reading, overriding and reporting here are shared with `opendit tune`, the whole compile (`compilePipeline`)
 * with `opendit run`.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import type { CompileOptions, CompileResult } from "../../compiler/compile.js";
import type { Plan } from "../../compiler/plan/types.js";
import { colorEnabled, palette, type Colors } from "../color.js";
import type { CommandContext } from "../command-context.js";
import { ExitCode, type ExitCodeValue } from "../exit-codes.js";
import type { FileReport } from "../render/report.js";
import { renderStylish } from "../render/stylish.js";
import { unreadableReport } from "../unreadable-report.js";
import { writeOutput } from "./write-output.js";

export const PLAN_FORMATS = ["text", "json"] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];

/** What the overrides are reported under: they were written on the command line. */
export const COMMAND_LINE = "<command line>";

/** A whole number as written on the command line; its range is checked with the file's rules, not here. */
export function parseWholeNumber(value: string): number {
  if (!/^[+-]?\d+$/.test(value.trim())) throw new InvalidArgumentError("Expected a whole number.");
  return Number(value);
}

/** Flags shared by `plan` and `tune`. */
export interface PipelineFlags {
  readonly gpu?: string;
  readonly ranksPerNode?: number;
  readonly quiet?: boolean;
  readonly color?: boolean;
}

/** The overrides of the mesh and schedule that `plan` and `run` take. */
export interface CompileFlags extends PipelineFlags {
  readonly world?: number;
  readonly layout?: string;
  readonly steps?: number;
}

interface PlanFlags extends CompileFlags {
  readonly format: PlanFormat;
  readonly output?: string;
}

/** The pipeline's text, or undefined after reporting (OD9002 on stderr) why it could not be read. */
export async function readPipeline(path: string, ctx: CommandContext, colors: Colors): Promise<string | undefined> {
  try {
    const text = await readFile(resolve(ctx.io.cwd, path), "utf8");
    // A leading byte-order mark is not part of the text a person sees; columns count without it.
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "it does not exist" : code === "EISDIR" ? "it is a directory" : (error as Error).message;
    ctx.io.stderr.write(renderStylish([unreadableReport({ path, message: `Cannot read \`${path}\`: ${reason}.` })], colors));
    return undefined;
  }
}

/** Compile options every pipeline command passes: paths resolve next to the file, overrides are the flags'. */
export function baseOptions(path: string, flags: PipelineFlags, ctx: CommandContext): CompileOptions {
  return {
    baseDir: dirname(resolve(ctx.io.cwd, path)),
    overridesPath: COMMAND_LINE,
    ...(flags.gpu !== undefined ? { gpu: flags.gpu } : {}),
    ...(flags.ranksPerNode !== undefined ? { ranksPerNode: flags.ranksPerNode } : {}),
  };
}

/** One report per text the diagnostics point into: the pipeline always, the command line when it has any. */
export function fileReports(result: Pick<CompileResult, "sources" | "diagnostics">, onlyErrors: boolean): FileReport[] {
  const shown = onlyErrors ? result.diagnostics.filter((d) => d.severity === "error") : result.diagnostics;
  return result.sources
    .map((source) => ({ path: source.path, source, diagnostics: shown.filter((d) => d.file === source.path) }))
    .filter((report, index) => index === 0 || report.diagnostics.length > 0);
}

/**
 * Reports a compile's problems on stderr (warnings too, unless quiet) and says how the command ends: 3 when
 * the compiler failed internally (OD9001), 1 on errors, undefined when there is a plan to print.
 */
export function reportProblems(result: CompileResult, flags: PipelineFlags, ctx: CommandContext, colors: Colors): ExitCodeValue | undefined {
  const errors = result.diagnostics.some((d) => d.severity === "error");
  const reports = fileReports(result, flags.quiet === true);
  if (reports.some((r) => r.diagnostics.length > 0)) ctx.io.stderr.write(renderStylish(reports, colors));
  if (result.diagnostics.some((d) => d.code === "OD9001")) return ExitCode.internal;
  if (errors || !result.plan) return ExitCode.problems;
  return undefined;
}

export function stderrColors(flags: PipelineFlags, ctx: CommandContext): Colors {
  return palette(colorEnabled(flags.color, ctx.io.env, ctx.io.isTTY));
}

/** A compile that made a plan. */
export type CompiledPipeline = CompileResult & { readonly plan: Plan };

/**
 * Reads and compiles the pipeline at `path` with the flags' overrides (`mode` as the command runs it; `extra`:
 * overrides of one command's own, such as run's `--preview-every`) and reports its problems on stderr: the result
 * when it has a plan, else how the command ends (2 the file could not be read, 1 errors, 3 the compiler failed
 * internally).
 */
export async function compilePipeline(
  path: string,
  flags: CompileFlags,
  ctx: CommandContext,
  colors: Colors,
  mode?: CompileOptions["mode"],
  extra: Pick<CompileOptions, "previewEvery"> = {},
): Promise<CompiledPipeline | ExitCodeValue> {
  const text = await readPipeline(path, ctx, colors);
  if (text === undefined) return ExitCode.usage;
  // The compiler is loaded only when a plan is made, so help and --version start quickly.
  const compile = ctx.deps.compile ?? (await import("../../compiler/compile.js")).compile;
  const result = compile(
    { path, text },
    {
      ...baseOptions(path, flags, ctx),
      ...(mode !== undefined ? { mode } : {}),
      ...(flags.world !== undefined ? { world: flags.world } : {}),
      ...(flags.layout !== undefined ? { layout: flags.layout } : {}),
      ...(flags.steps !== undefined ? { steps: flags.steps } : {}),
      ...extra,
    },
  );
  const failed = reportProblems(result, flags, ctx, colors);
  if (failed !== undefined || !result.plan) return failed ?? ExitCode.problems;
  return { ...result, plan: result.plan };
}

async function runPlan(path: string, flags: PlanFlags, ctx: CommandContext): Promise<number> {
  const result = await compilePipeline(path, flags, ctx, stderrColors(flags, ctx));
  if (typeof result === "number") return result;

  let rendered: string;
  if (flags.format === "json") {
    const { prettyJson } = await import("../../compiler/plan/serialize.js");
    rendered = prettyJson(result.plan);
  } else {
    const { renderPlanText } = await import("../render/plan-text.js");
    const { estimateMemory } = await import("../../compiler/cost/memory.js");
    const pipelineMemory = result.spec && result.facts ? estimateMemory(result.spec, result.facts) : undefined;
    rendered = renderPlanText(result.plan, { ...(result.pab ? { pab: result.pab } : {}), ...(pipelineMemory ? { pipelineMemory } : {}) });
  }
  return (await writeOutput(rendered, flags.output, ctx)) ? ExitCode.ok : ExitCode.usage;
}

/** `--gpu`, `--ranks-per-node`, `-q` and the colour switches, as `plan` and `tune` both take them. */
export function addPipelineOptions(command: Command): Command {
  return command
    .option("--gpu <name>", "the GPU the memory and time estimates are for: h100, h200, a100 or l40 (overrides runtime.gpu)")
    .option("--ranks-per-node <n>", "GPUs per node, for rank placement and link speeds (default: one node)", parseWholeNumber)
    .option("-q, --quiet", "report errors only, not warnings")
    .option("--color", "colour problems even when the output is not a terminal")
    .option("--no-color", "never colour problems");
}

export function planCommand(ctx: CommandContext): Command {
  const command = new Command("plan")
    .description("Compile a pipeline to its execution plan and explain it: mesh, memory, time, caching, program.")
    .argument("<file>", "the pipeline file (YAML or .odit)")
    .option("--world <n>", "ranks to run on (overrides parallel.world)", parseWholeNumber)
    .option("--layout <layout>", 'the parallel layout, such as "cfg 2 x dsp 4" (overrides parallel.layout)')
    .option("--steps <n>", "sampler steps (overrides scheduler.steps)", parseWholeNumber)
    .addOption(new Option("-f, --format <format>", "text explains the plan; json is the whole plan").choices(PLAN_FORMATS).default("text"))
    .option("-o, --output <file>", "write the plan to a file (atomically) instead of stdout");
  return addPipelineOptions(command)
    .addHelpText(
      "after",
      [
        "",
        "Overrides are checked like the file's own values; their problems are reported under <command line>.",
        "Exit codes: 0 a plan was written, 1 the pipeline has errors, 2 usage error or unreadable file, 3 internal error.",
      ].join("\n"),
    )
    .action(async (path: string, flags: PlanFlags) => {
      ctx.exitCode = await runPlan(path, flags, ctx);
    });
}
