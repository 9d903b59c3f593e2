/** `opendit codes` lists every diagnostic code; `opendit explain CODE` prints one. */
import { Command } from "commander";
import { lookupCode } from "../code-lookup.js";
import { UsageError, type CommandContext } from "../command-context.js";
import { renderCodesMarkdown, renderCodesText, renderExplain } from "../render/codes.js";

export function codesCommand(ctx: CommandContext): Command {
  return new Command("codes")
    .description("List every diagnostic code with its name, severity and meaning.")
    .option("--markdown", "print the listing as Markdown (docs/DIAGNOSTICS.md)")
    .action((flags: { markdown?: boolean }) => {
      ctx.io.stdout.write(flags.markdown ? renderCodesMarkdown() : renderCodesText());
    });
}

export function explainCommand(ctx: CommandContext): Command {
  return new Command("explain")
    .description("Explain a diagnostic code, given as the code (OD3101) or its name (layout-product).")
    .argument("<code>", "the code or its name")
    .action((query: string) => {
      const result = lookupCode(query);
      if (result.found === undefined) throw new UsageError(result.message);
      ctx.io.stdout.write(renderExplain(result.found));
    });
}
