/**
 * The one error a run reports to the user: a message that names the file, tensor, input or setting it is about
 * and what to do, never a stack trace. Everything a run can fail on for reasons outside opendit (a checkpoint
 * that does not fit, an embeddings file of the wrong shape, a backend that is not built, a native op's error)
 * becomes a RunError; anything else that is thrown is a defect in opendit and is reported as one.
 */
export class RunError extends Error {
  override readonly name = "RunError";
}

/** The message of anything thrown, for wrapping into a RunError. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
