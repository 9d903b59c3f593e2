/** Where a command's output goes: stdout, or a file written atomically (`-o`); a failed write is exit 2. */
import { resolve } from "node:path";
import type { CommandContext } from "../command-context.js";
import { writeFileAtomic } from "../write-atomic.js";

/** Writes `text`; returns false (after saying why on stderr) when the file could not be written. */
export async function writeOutput(text: string, output: string | undefined, ctx: CommandContext): Promise<boolean> {
  if (output === undefined) {
    ctx.io.stdout.write(text);
    return true;
  }
  try {
    await writeFileAtomic(resolve(ctx.io.cwd, output), text);
    return true;
  } catch (error) {
    ctx.io.stderr.write(`opendit: cannot write \`${output}\`: ${(error as Error).message}\n`);
    return false;
  }
}
