/**
 * `opendit checkpoint random` writes a seeded random checkpoint with every tensor of a family and size under
 * its official name (for tests, smoke runs and benchmarks without downloading weights); `opendit checkpoint
 * inspect` lists a safetensors file's tensors and, given a family, checks them as the runtime's loader will:
 * missing, unexpected and mis-shaped tensors by name, with the shape the model expects (exit 1).
 */
import { resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { Value } from "@sinclair/typebox/value";
import { checkCheckpoint, describeProblem, formatShape } from "../../checkpoint/check.js";
import { STORAGE_DTYPES, type StorageDtype } from "../../checkpoint/dtype.js";
import { writeRandomCheckpoint } from "../../checkpoint/random.js";
import { elementCount, openSafetensors, SafetensorsError, type SafetensorsHeader } from "../../checkpoint/safetensors.js";
import { familyInfo } from "../../compiler/models/registry.js";
import type { Hyper, HyperInput, ModelFamily } from "../../compiler/models/types.js";
import { FAMILIES, SpecSchema, type Family } from "../../compiler/spec/schema.js";
import { UsageError, type CommandContext } from "../command-context.js";
import { ExitCode } from "../exit-codes.js";
import { alignColumns, formatBytes, formatCount } from "../render/units.js";

interface SizeFlags {
  readonly family?: Family;
  readonly variant?: string;
  readonly hyper?: string;
}

interface RandomFlags extends SizeFlags {
  readonly seed: number;
  readonly dtype: StorageDtype;
  readonly output: string;
}

/** A family, its resolved size, and how the size was named (a variant, or explicit hyperparameters). */
interface ModelSize {
  readonly family: ModelFamily;
  readonly hyper: Hyper;
  readonly size: { readonly variant: string } | { readonly hyper: string };
  /** `dit dit-tiny`, or `dit {"hidden":64,...}`, for messages. */
  readonly label: string;
}

// The Spec's own schema of `model.hyper`, so `--hyper` accepts exactly what a pipeline file's `hyper` does.
const HYPER_SCHEMA = SpecSchema.properties.model.properties.hyper;

/** The pipeline's `weights_seed`: a whole number from 0 to 2^53 - 1. */
function parseSeed(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError("Expected a whole number from 0 to 9007199254740991.");
  return n;
}

function parseHyper(text: string): HyperInput {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--hyper is not valid JSON: ${(error as Error).message}`);
  }
  const first = Value.Errors(HYPER_SCHEMA, value).First();
  if (first) throw new UsageError(`--hyper${first.path === "" ? "" : ` ${first.path}`}: ${first.message}`);
  const input = value as HyperInput;
  // The head size is a tensor shape (STDiT3's q_norm), so a size whose heads do not divide it has no checkpoint.
  if (input.hidden % input.heads !== 0) throw new UsageError(`--hyper: hidden ${input.hidden} is not divisible by heads ${input.heads}`);
  return input;
}

/** The family and size the flags name; the family's first (default) variant when neither size flag is given. */
function resolveSize(flags: SizeFlags & { readonly family: Family }): ModelSize {
  const family = familyInfo(flags.family)!;
  if (flags.variant !== undefined && flags.hyper !== undefined) throw new UsageError("give --variant or --hyper, not both");
  if (flags.hyper !== undefined) {
    const input = parseHyper(flags.hyper);
    const hyper = JSON.stringify(input);
    return { family, hyper: family.resolve(input), size: { hyper }, label: `${family.family} ${hyper}` };
  }
  const names = Object.keys(family.variants);
  const variant = flags.variant ?? names[0]!;
  const input = Object.hasOwn(family.variants, variant) ? family.variants[variant] : undefined;
  if (!input) throw new UsageError(`${family.family} has no variant \`${variant}\` (variants: ${names.join(", ")})`);
  return { family, hyper: family.resolve(input), size: { variant }, label: `${family.family} ${variant}` };
}

function sizeOptions(command: Command, familyRequired: boolean): Command {
  const family = new Option("--family <family>", "the model family").choices(FAMILIES);
  return command
    .addOption(familyRequired ? family.makeOptionMandatory() : family)
    .option("--variant <name>", "a named size of the family (default: its first, as in a pipeline file)")
    .option("--hyper <json>", "explicit hyperparameters as a pipeline's model.hyper, e.g. '{\"hidden\":64,\"depth\":2,\"heads\":4}'");
}

async function runRandom(flags: RandomFlags, ctx: CommandContext): Promise<number> {
  const model = resolveSize({ ...flags, family: flags.family! });
  try {
    const written = await writeRandomCheckpoint(resolve(ctx.io.cwd, flags.output), {
      family: model.family,
      hyper: model.hyper,
      seed: flags.seed,
      dtype: flags.dtype,
      size: model.size,
    });
    ctx.io.stdout.write(
      `wrote ${flags.output}: ${model.label}, ${written.tensors.length} tensors, ${formatCount(written.parameters)} parameters, ` +
        `${flags.dtype}, seed ${flags.seed} (${formatBytes(written.bytes)})\n`,
    );
    return ExitCode.ok;
  } catch (error) {
    // Only a failing file system is the user's to fix; anything else is a bug and goes on to the internal-error report.
    if ((error as NodeJS.ErrnoException).code === undefined) throw error;
    ctx.io.stderr.write(`opendit: cannot write \`${flags.output}\`: ${(error as Error).message}\n`);
    return ExitCode.usage;
  }
}

function listing(path: string, header: SafetensorsHeader): string {
  const parameters = header.tensors.reduce((n, t) => n + elementCount(t.shape), 0);
  const count = header.tensors.length;
  const lines = [`${path}: ${formatCount(count)} ${count === 1 ? "tensor" : "tensors"}, ${formatCount(parameters)} parameters, ${formatBytes(header.fileBytes)}`];
  const metadata = Object.entries(header.metadata);
  if (metadata.length > 0) lines.push(`metadata: ${metadata.map(([k, v]) => `${k}=${v}`).join(", ")}`);
  lines.push(...alignColumns(header.tensors.map((t) => [t.name, t.dtype, formatShape(t.shape)])).map((line) => `  ${line}`));
  return `${lines.join("\n")}\n`;
}

async function runInspect(path: string, flags: SizeFlags, ctx: CommandContext): Promise<number> {
  const { io } = ctx;
  if (flags.family === undefined && (flags.variant !== undefined || flags.hyper !== undefined)) {
    throw new UsageError("--variant and --hyper need --family");
  }
  // Resolved before the file is read, so a mistake in the flags is reported as such whatever the file holds.
  const model = flags.family === undefined ? undefined : resolveSize({ ...flags, family: flags.family });
  let header: SafetensorsHeader;
  try {
    const reader = await openSafetensors(resolve(io.cwd, path));
    header = reader.header;
    await reader.close();
  } catch (error) {
    if (error instanceof SafetensorsError) {
      io.stderr.write(`${path}: not a valid safetensors file: ${error.message}\n`);
      return ExitCode.problems;
    }
    io.stderr.write(`opendit: cannot read \`${path}\`: ${(error as Error).message}\n`);
    return ExitCode.usage;
  }
  io.stdout.write(listing(path, header));
  if (!model) return ExitCode.ok;
  const { problems, skipped } = checkCheckpoint(header.tensors, model.family.weights(model.hyper), model.family.skippedTensors);
  const skippedNote = skipped.length > 0 ? `; skipped as the loader does: ${skipped.join(", ")}` : "";
  if (problems.length === 0) {
    io.stdout.write(`${path}: matches ${model.label}: all ${header.tensors.length - skipped.length} tensors the model reads${skippedNote}\n`);
    return ExitCode.ok;
  }
  for (const p of problems) io.stderr.write(`${path}: ${describeProblem(p)}\n`);
  io.stderr.write(`${path}: ${problems.length} ${problems.length === 1 ? "problem" : "problems"} against ${model.label}${skippedNote}\n`);
  return ExitCode.problems;
}

export function checkpointCommand(ctx: CommandContext): Command {
  const random = sizeOptions(
    new Command("random").description("Write a seeded random checkpoint with every tensor of a family and size under its official name."),
    true,
  )
    .option("--seed <n>", "the weights seed (a pipeline's model.weights_seed)", parseSeed, 0)
    .addOption(new Option("--dtype <dtype>", "the tensors' dtype").choices(Object.keys(STORAGE_DTYPES)).default("fp32"))
    .requiredOption("-o, --output <file>", "the .safetensors file to write (atomically)")
    .action(async (flags: RandomFlags) => {
      ctx.exitCode = await runRandom(flags, ctx);
    });
  const inspect = sizeOptions(
    new Command("inspect")
      .description("List a safetensors file's tensors; with --family, check them against the model as the runtime's loader will.")
      .argument("<file>", "the .safetensors file"),
    false,
  ).action(async (path: string, flags: SizeFlags) => {
    ctx.exitCode = await runInspect(path, flags, ctx);
  });
  return new Command("checkpoint")
    .description("Write seeded random checkpoints and check checkpoints against a model's tensors.")
    .addCommand(random)
    .addCommand(inspect);
}
