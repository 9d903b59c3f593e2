/**
 * What every renderer takes: the checked files in order, each with its source text (for code frames) and
 * its diagnostics, plus the counts all formats print. Renderers return strings; only commands write them.
 */
import type { Diagnostic } from "../../diagnostics/diagnostic.js";
import type { SourceFile } from "../../grammar/source.js";

export interface FileReport {
  /** The path as reported (as the user gave it, or as found under a directory they gave). */
  readonly path: string;
  /** The text that was checked; empty for a file that could not be read. */
  readonly source: SourceFile;
  /** Sorted by position. */
  readonly diagnostics: readonly Diagnostic[];
}

export interface Summary {
  readonly files: number;
  readonly errors: number;
  readonly warnings: number;
  readonly infos: number;
}

export function summarize(files: readonly FileReport[]): Summary {
  let errors = 0;
  let warnings = 0;
  let infos = 0;
  for (const file of files) {
    for (const d of file.diagnostics) {
      if (d.severity === "error") errors++;
      else if (d.severity === "warning") warnings++;
      else infos++;
    }
  }
  return { files: files.length, errors, warnings, infos };
}

/** The same files with warnings and notes removed (`--quiet`). */
export function onlyErrors(files: readonly FileReport[]): FileReport[] {
  return files.map((file) => ({ ...file, diagnostics: file.diagnostics.filter((d) => d.severity === "error") }));
}

/** "1 error", "2 warnings": a count with its noun in the right number. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
