/** An in-memory CliIo: captured stdout/stderr, a chosen working directory, environment and stdin. */
import { Readable } from "node:stream";
import type { CliIo } from "../../../cli/io.js";
import { runCli, type CliDeps } from "../../../cli/program.js";

export interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd: string;
  readonly stdin?: string;
  readonly isTTY?: boolean;
  readonly env?: Record<string, string | undefined>;
  readonly deps?: CliDeps;
}

export async function run(argv: readonly string[], options: RunOptions): Promise<Captured> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    ...(options.stdin !== undefined ? { stdin: Readable.from([options.stdin]) } : {}),
    isTTY: options.isTTY ?? false,
    env: options.env ?? {},
    cwd: options.cwd,
  };
  const code = await runCli(argv, io, options.deps);
  return { code, stdout, stderr };
}
