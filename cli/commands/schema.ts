/**
 * `opendit schema`: prints the published JSON Schema of pipeline files (the same text as the committed
 * schema/pipeline-v1.schema.json, which a test keeps equal to it).
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

export function schemaCommand(ctx: CommandContext): Command {
  return new Command("schema")
    .description("Print the JSON Schema (draft-07) of pipeline files, for editors and other tools.")
    .option("-o, --output <file>", "write the schema to a file instead of stdout")
    .action(async (flags: { output?: string }) => {
      ctx.exitCode = (await writeOutput(await schemaText(), flags.output, ctx)) ? ExitCode.ok : ExitCode.usage;
    });
}
