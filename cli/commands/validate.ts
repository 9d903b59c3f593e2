/** `opendit validate [paths...]`: check pipeline files and report in a format for people or for CI. */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { colorEnabled, palette } from "../color.js";
import { UsageError, type CommandContext } from "../command-context.js";
import { ExitCode, validateExitCode, warningsFail } from "../exit-codes.js";
import { readAllText } from "../io.js";
import { toolInfo } from "../package-info.js";
import { REPORT_FORMATS, renderReport, type ReportFormat } from "../render/format.js";
import { onlyErrors, plural, summarize } from "../render/report.js";
import { PIPELINE_EXTENSIONS, selectFiles } from "../select-files.js";
import { writeOutput } from "./write-output.js";

/** Validated when no paths are given (the project's own pipelines), relative to the working directory. */
const DEFAULT_DIRECTORY = "pipelines";

interface ValidateFlags {
  readonly format: ReportFormat;
  readonly output?: string;
  readonly maxWarnings?: number;
  readonly strict?: boolean;
  readonly quiet?: boolean;
  readonly stdinFilename?: string;
  readonly color?: boolean;
}

export function parseWarningLimit(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError("Expected a whole number of at least 0.");
  return Number(value);
}

async function defaultPaths(cwd: string): Promise<string[]> {
  const info = await stat(resolve(cwd, DEFAULT_DIRECTORY)).catch(() => undefined);
  if (info?.isDirectory()) return [DEFAULT_DIRECTORY];
  throw new UsageError(`No paths given and no ${DEFAULT_DIRECTORY}/ directory here: name the files or directories to validate.`);
}

async function runValidate(paths: string[], flags: ValidateFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const selection = await selectFiles(paths.length > 0 ? paths : await defaultPaths(io.cwd), {
    cwd: io.cwd,
    ...(flags.stdinFilename !== undefined ? { stdinFilename: flags.stdinFilename } : {}),
  });
  const stdin = io.stdin;
  // The compiler is loaded only when something is validated, so help and --version start quickly.
  const { validateFiles } = await import("../validate-files.js");
  const validated = await validateFiles(selection, {
    cwd: io.cwd,
    ...(stdin ? { readStdin: () => readAllText(stdin) } : {}),
    ...(ctx.deps.validate ? { validate: ctx.deps.validate } : {}),
  });

  const counts = summarize(validated.files);
  const shown = flags.quiet ? onlyErrors(validated.files) : validated.files;
  const colors = palette(flags.output === undefined && colorEnabled(flags.color, io.env, io.isTTY));
  const report = renderReport(flags.format, shown, { colors, cwd: io.cwd, tool: toolInfo() });
  const written = await writeOutput(report, flags.output, ctx);
  if (!written) return ExitCode.usage;

  const policy = {
    ...(flags.maxWarnings !== undefined ? { maxWarnings: flags.maxWarnings } : {}),
    ...(flags.strict ? { strict: true } : {}),
  };
  if (counts.errors === 0 && warningsFail(counts.warnings, policy)) {
    const limit = flags.strict ? "--strict allows none" : `--max-warnings is ${flags.maxWarnings}`;
    io.stderr.write(`opendit: ${plural(counts.warnings, "warning")} found; ${limit}.\n`);
  }
  return validateExitCode({ ...counts, ioProblems: validated.ioProblems }, policy);
}

export function validateCommand(ctx: CommandContext): Command {
  return new Command("validate")
    .description("Check pipeline files (YAML or .odit) and report every problem with its exact place.")
    .argument(
      "[paths...]",
      `files, directories (searched for *.${PIPELINE_EXTENSIONS.join(", *.")}), quoted globs, or - for stdin (default: ${DEFAULT_DIRECTORY}/)`,
    )
    .addOption(new Option("-f, --format <format>", "report format").choices(REPORT_FORMATS).default("stylish"))
    .option("-o, --output <file>", "write the report to a file instead of stdout")
    .option("--max-warnings <n>", "fail (exit 1) when there are more warnings than this", parseWarningLimit)
    .option("--strict", "fail (exit 1) on any warning")
    .option("-q, --quiet", "report errors only (warnings still count for --max-warnings and --strict)")
    .option("--stdin-filename <name>", "the name stdin is reported under; its extension picks the syntax")
    .option("--color", "colour the stylish report even when stdout is not a terminal")
    .option("--no-color", "never colour the report")
    .addHelpText(
      "after",
      "\nExit codes: 0 no errors, 1 errors (or too many warnings), 2 usage error or unreadable/unmatched files, 3 internal error.",
    )
    .action(async (paths: string[], flags: ValidateFlags) => {
      ctx.exitCode = await runValidate(paths, flags, ctx);
    });
}
