/**
 * Files written so that nothing half-written ever carries its real name: each is written complete (and synced)
 * under a hidden temporary name in its directory, and renamed to its name only when every file of the set is
 * complete (a rename within one directory is atomic). On a failure the temporary files are removed. The run's
 * output writer (runtime/run/outputs.ts) stages its files the same way and commits the media with its own.
 */
import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** A complete file under its temporary name, `from`, waiting to be renamed to `to`. */
export interface StagedFile {
  readonly from: string;
  readonly to: string;
}

/** A hidden temporary name next to `path`, unique to this process and call: `.<name>.<pid>.<hex>.partial`. */
export function stagingPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.partial`);
}

/** Writes `bytes` complete and synced under a temporary name for `to`. */
export async function writeStaged(to: string, bytes: Uint8Array): Promise<StagedFile> {
  const from = stagingPath(to);
  const handle = await open(from, "w");
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(from, { force: true });
    throw error;
  }
  await handle.close();
  return { from, to };
}

/** Gives each staged file its name, in order. */
export async function commitStaged(staged: readonly StagedFile[]): Promise<void> {
  for (const s of staged) await rename(s.from, s.to);
}

/** Removes the temporary files (those already renamed are not there any more; that is no error). */
export async function discardStaged(staged: readonly StagedFile[]): Promise<void> {
  await Promise.all(staged.map((s) => rm(s.from, { force: true })));
}
