/**
 * What every command receives: the injected world (io), injectable dependencies for tests, and where it
 * records its exit code. A command signals a usage problem by throwing UsageError (exit 2).
 */
import type { compile } from "../compiler/compile.js";
import type { CliIo } from "./io.js";
import type { Validator } from "./validate-files.js";

export interface CliDeps {
  /** Replaces validateText (tests inject failures through it). */
  readonly validate?: Validator;
  /** Replaces compile() in `opendit plan` (tests inject compiler failures through it). */
  readonly compile?: typeof compile;
}

export interface CommandContext {
  readonly io: CliIo;
  readonly deps: CliDeps;
  exitCode: number;
}

/** A mistake in how the command was called; printed as `opendit: message` and exit 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
