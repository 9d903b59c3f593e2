/** Pieces the resource rules share: resolving a path of the file and the severity a missing file gets. */
import { isAbsolute, resolve } from "node:path";
import type { Severity } from "../../../../diagnostics/diagnostic.js";
import type { CheckContext } from "../../context.js";

/** The absolute path a pipeline path names (relative paths resolve against the file's directory). */
export function resolvePath(ctx: CheckContext, path: string): string {
  return isAbsolute(path) ? path : resolve(ctx.options.baseDir, path);
}

/** The absolute path when the file does not exist, else undefined. */
export function missingPath(ctx: CheckContext, path: string): string | undefined {
  const absolute = resolvePath(ctx, path);
  return ctx.options.fileExists(absolute) ? undefined : absolute;
}

/** A missing file is a warning while validating and an error when about to run. */
export function missingSeverity(ctx: CheckContext): Severity {
  return ctx.options.mode === "run" ? "error" : "warning";
}

/** The end of a message about a missing file, by mode. */
export function missingConsequence(ctx: CheckContext): string {
  return ctx.options.mode === "run" ? "`opendit run` cannot start without it" : "`opendit run` will need it";
}
