/**
 * The JSON report, a stable shape documented in docs/DIAGNOSTICS.md: `{version: 1, files: [{path,
 * diagnostics}], summary: {files, errors, warnings, infos}}`, each diagnostic exactly the library's
 * Diagnostic value. `version` changes only when the shape does.
 */
import type { Diagnostic } from "../../diagnostics/diagnostic.js";
import { summarize, type FileReport, type Summary } from "./report.js";

export const JSON_REPORT_VERSION = 1;

export interface JsonReport {
  readonly version: typeof JSON_REPORT_VERSION;
  readonly files: readonly { readonly path: string; readonly diagnostics: readonly Diagnostic[] }[];
  readonly summary: Summary;
}

export function jsonReport(files: readonly FileReport[]): JsonReport {
  return {
    version: JSON_REPORT_VERSION,
    files: files.map((file) => ({ path: file.path, diagnostics: file.diagnostics })),
    summary: summarize(files),
  };
}

export function renderJson(files: readonly FileReport[]): string {
  return `${JSON.stringify(jsonReport(files), null, 2)}\n`;
}
