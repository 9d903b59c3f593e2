/**
 * `opendit schema`: prints the published JSON Schema of pipeline files (the same text as the committed
 * schema/pipeline-v1.schema.json, which a test keeps equal to it); `--plan` prints the plan's schema
 * (schema/plan-v1.schema.json) instead.
 */
import { Command } from "commander";
import type { CommandContext } from "../command-context.js";
import { ExitCode } from "../exit-codes.js";
import { writeOutput } from "./write-output.js";

export async function schemaText(): Promise<string> {
  // Loaded on use: the schema module pulls in TypeBox, which other commands do not need.
  const { publishedSchema } = await import("../../compiler/spec/schema.js");
  return `${JSON.stringify(publishedSchema(), null, 2)}\n`;
}

/** The published JSON Schema of plans (schema/plan-v1.schema.json). */
export async function planSchemaText(): Promise<string> {
  const { publishedPlanSchema } = await import("../../compiler/plan/schema.js");
  return `${JSON.stringify(publishedPlanSchema(), null, 2)}\n`;
}

export function schemaCommand(ctx: CommandContext): Command {
  return new Command("schema")
    .description("Print the JSON Schema (draft-07) of pipeline files, for editors and other tools.")
    .option("-o, --output <file>", "write the schema to a file instead of stdout")
    .option("--plan", "print the schema of plan files (`opendit plan --format json`) instead")
    .action(async (flags: { output?: string; plan?: boolean }) => {
      const text = flags.plan ? await planSchemaText() : await schemaText();
      ctx.exitCode = (await writeOutput(text, flags.output, ctx)) ? ExitCode.ok : ExitCode.usage;
    });
}
