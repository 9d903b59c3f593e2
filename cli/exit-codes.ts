/**
 * Exit codes, the de-facto convention of CI linters (ESLint, actionlint): 0 clean, 1 problems found,
 * 2 the run itself could not do its job (usage, unreadable or unmatched files), 3 opendit crashed; and for
 * `opendit run`, 4: the pipeline was fine but running it failed (a checkpoint or input file that does not fit,
 * a backend that is not built, an error in the native runtime), kept apart so scripts can tell the two apart.
 */

export const ExitCode = {
  ok: 0,
  problems: 1,
  usage: 2,
  internal: 3,
  runFailed: 4,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface WarningPolicy {
  /** Fail when there are more warnings than this. */
  readonly maxWarnings?: number;
  /** Fail on any warning. */
  readonly strict?: boolean;
}

/** Whether the warnings alone make the run fail. */
export function warningsFail(warnings: number, policy: WarningPolicy): boolean {
  if (policy.strict && warnings > 0) return true;
  return policy.maxWarnings !== undefined && warnings > policy.maxWarnings;
}

/** The exit code of a validate run from its counts; IO problems outrank diagnostics. */
export function validateExitCode(
  counts: { readonly errors: number; readonly warnings: number; readonly ioProblems: number },
  policy: WarningPolicy,
): ExitCodeValue {
  if (counts.ioProblems > 0) return ExitCode.usage;
  if (counts.errors > 0 || warningsFail(counts.warnings, policy)) return ExitCode.problems;
  return ExitCode.ok;
}
