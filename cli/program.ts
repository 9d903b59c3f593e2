/**
 * The opendit command line as a function: `runCli(argv, io)` parses the arguments with commander, runs one
 * command and returns its exit code, never calling process.exit, so tests run the real CLI in-process.
 * Anything thrown that is not a usage error is an internal error: exit 3 with the stack and a plea to report.
 */
import { Command, CommanderError } from "commander";
import { colorEnabled } from "./color.js";
import { UsageError, type CliDeps, type CommandContext } from "./command-context.js";
import { checkpointCommand } from "./commands/checkpoint.js";
import { codesCommand, explainCommand } from "./commands/codes.js";
import { fmtCommand } from "./commands/fmt.js";
import { planCommand } from "./commands/plan.js";
import { runCommand } from "./commands/run.js";
import { schemaCommand } from "./commands/schema.js";
import { tuneCommand } from "./commands/tune.js";
import { validateCommand } from "./commands/validate.js";
import { ExitCode } from "./exit-codes.js";
import type { CliIo } from "./io.js";
import { toolInfo } from "./package-info.js";

export type { CliDeps } from "./command-context.js";
export type { CliIo } from "./io.js";

const HELP_WIDTH = 100;

function buildProgram(ctx: CommandContext): Command {
  const { io } = ctx;
  const program = new Command("opendit")
    .description("Check DiT image/video inference pipeline files and compile them to execution plans.")
    .version(toolInfo().version, "-V, --version", "print the version")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
      getOutHelpWidth: () => HELP_WIDTH,
      getErrHelpWidth: () => HELP_WIDTH,
      getOutHasColors: () => colorEnabled(undefined, io.env, io.isTTY),
      getErrHasColors: () => false,
    })
    .showHelpAfterError("(add --help for usage)")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  opendit validate                              check every pipeline under pipelines/",
        "  opendit validate 'specs/**/*.yaml' -f sarif -o opendit.sarif",
        "  opendit fmt pipelines/quickstart.yaml --to odit",
        "  opendit plan pipelines/opensora-dsp.yaml --layout \"dsp 8\"",
        "  opendit tune pipelines/opensora-dsp.yaml --gpus 8 --gpu h200",
        "  opendit run pipelines/quickstart.yaml",
        "  opendit explain OD3101",
        "  opendit checkpoint random --family stdit3 --variant stdit3-tiny -o tiny.safetensors",
      ].join("\n"),
    );
  for (const make of [validateCommand, schemaCommand, fmtCommand, planCommand, tuneCommand, runCommand, codesCommand, explainCommand, checkpointCommand]) {
    // addCommand (unlike .command) does not pass on exitOverride and the output settings by itself.
    const command = make(ctx).copyInheritedSettings(program);
    // Nor to a command's own subcommands (`checkpoint random`), which were made before it had them.
    for (const sub of command.commands) sub.copyInheritedSettings(command);
    program.addCommand(command);
  }
  return program;
}

function internalError(error: unknown, io: CliIo): number {
  const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  io.stderr.write(
    `opendit: internal error (OD9001): ${error instanceof Error ? error.message : String(error)}\n` +
      `This is a bug in opendit; please report it with the command you ran and this stack trace:\n${detail}\n`,
  );
  return ExitCode.internal;
}

export async function runCli(argv: readonly string[], io: CliIo, deps: CliDeps = {}): Promise<number> {
  const ctx: CommandContext = { io, deps, exitCode: ExitCode.ok };
  try {
    await buildProgram(ctx).parseAsync([...argv], { from: "user" });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and --version exit 0; every other commander error is a usage error.
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`opendit: ${error.message}\n`);
      return ExitCode.usage;
    }
    return internalError(error, io);
  }
}
