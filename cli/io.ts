/**
 * The world the CLI talks to, passed in rather than taken from `process`, so tests run the whole CLI
 * in-process with captured output, a chosen working directory and a fake environment.
 */

export interface TextSink {
  write(chunk: string): unknown;
}

export interface CliIo {
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Standard input, read only when a path is `-`. */
  readonly stdin?: AsyncIterable<string | Uint8Array>;
  /** Whether stdout is a terminal (colour defaults on when it is). */
  readonly isTTY: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The directory relative paths resolve against and report paths are relative to. */
  readonly cwd: string;
}

/** Reads all of a stream as UTF-8 text. */
export async function readAllText(input: AsyncIterable<string | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}
