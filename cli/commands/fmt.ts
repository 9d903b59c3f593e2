/**
 * `opendit fmt FILE [--to yaml|odit]`: rewrites a pipeline file in canonical layout, or converts it between
 * the two syntaxes (comments kept). A file with syntax errors is refused; `--check` only says whether the
 * file is already formatted.
 */
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { colorEnabled, palette } from "../color.js";
import type { CommandContext } from "../command-context.js";
import { ExitCode } from "../exit-codes.js";
import type { Syntax } from "../format-source.js";
import { renderStylish } from "../render/stylish.js";
import { unreadableReport } from "../unreadable-report.js";
import { writeOutput } from "./write-output.js";

const SYNTAXES: readonly Syntax[] = ["yaml", "odit"];

interface FmtFlags {
  readonly to?: Syntax;
  readonly output?: string;
  readonly check?: boolean;
  readonly color?: boolean;
}

async function runFmt(path: string, flags: FmtFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  const colors = palette(colorEnabled(flags.color, io.env, io.isTTY));
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, path), "utf8");
  } catch (error) {
    const message = `Cannot read \`${path}\`: ${(error as Error).message}`;
    io.stderr.write(renderStylish([unreadableReport({ path, message })], colors));
    return ExitCode.usage;
  }
  // The parsers and printers are loaded only when a file is formatted, so help starts quickly.
  const { formatSource } = await import("../format-source.js");
  const result = formatSource(path, text, flags.to);
  if (!result.ok) {
    io.stderr.write(renderStylish([{ path, source: result.source, diagnostics: result.errors }], colors));
    io.stderr.write(`opendit: \`${path}\` has syntax errors; fix them before formatting.\n`);
    return ExitCode.problems;
  }
  if (flags.check) {
    if (result.unchanged) return ExitCode.ok;
    io.stderr.write(`opendit: \`${path}\` is not formatted; run \`opendit fmt ${path} -o ${path}\`.\n`);
    return ExitCode.problems;
  }
  return (await writeOutput(result.printed, flags.output, ctx)) ? ExitCode.ok : ExitCode.usage;
}

export function fmtCommand(ctx: CommandContext): Command {
  return new Command("fmt")
    .description("Print a pipeline file in canonical layout, or convert it between YAML and .odit.")
    .argument("<file>", "the pipeline file")
    .addOption(new Option("--to <syntax>", "the syntax to print (default: the file's own)").choices(SYNTAXES))
    .option("-o, --output <file>", "write the result to a file (atomically) instead of stdout; may be the input itself")
    .option("--check", "print nothing; exit 1 when the file is not already formatted")
    .option("--color", "colour syntax errors even when stdout is not a terminal")
    .option("--no-color", "never colour syntax errors")
    .action(async (path: string, flags: FmtFlags) => {
      ctx.exitCode = await runFmt(path, flags, ctx);
    });
}
