/**
 * Diagnostics are data: a stable code, a severity, a message, the exact span in the user's file and a hint
 * with a concrete fix. They are created by every stage and rendered only at the edge (cli/render).
 */
import type { Position, Range, SourceFile } from "../grammar/source.js";
import { positionAt } from "../grammar/source.js";
import { codeInfo, type Code } from "./codes.js";

export type Severity = "error" | "warning" | "info";

export interface RelatedLocation {
  readonly file: string;
  readonly start: Position;
  readonly end: Position;
  readonly message: string;
}

export interface Diagnostic {
  /** Stable code such as `OD3101`; see docs/DIAGNOSTICS.md. */
  readonly code: Code;
  /** The code's short kebab-case name, such as `layout-product`. */
  readonly name: string;
  readonly severity: Severity;
  /** One sentence that names what is wrong and where (the key, the value). */
  readonly message: string;
  /** The file path as given by the user. */
  readonly file: string;
  readonly start: Position;
  readonly end: Position;
  /** A concrete valid alternative the user can paste ("use `cfg 2 x dsp 4`"). */
  readonly hint?: string;
  /** Replacement candidates (did-you-mean, valid layouts), best first. */
  readonly suggestions?: readonly string[];
  readonly related?: readonly RelatedLocation[];
}

export interface DiagnosticInit {
  readonly code: Code;
  readonly message: string;
  readonly range: Range;
  /** Defaults to the code's own severity. */
  readonly severity?: Severity;
  readonly hint?: string;
  readonly suggestions?: readonly string[];
  readonly related?: readonly { readonly range: Range; readonly message: string }[];
}

export function createDiagnostic(file: SourceFile, init: DiagnosticInit): Diagnostic {
  const info = codeInfo(init.code);
  const d: Diagnostic = {
    code: init.code,
    name: info.name,
    severity: init.severity ?? info.severity,
    message: init.message,
    file: file.path,
    start: positionAt(file, init.range.start),
    end: positionAt(file, init.range.end),
    ...(init.hint !== undefined ? { hint: init.hint } : {}),
    ...(init.suggestions && init.suggestions.length > 0 ? { suggestions: init.suggestions } : {}),
    ...(init.related && init.related.length > 0
      ? {
          related: init.related.map((r) => ({
            file: file.path,
            start: positionAt(file, r.range.start),
            end: positionAt(file, r.range.end),
            message: r.message,
          })),
        }
      : {}),
  };
  return d;
}

/** Sorts by file, then position, then code: the order every renderer prints. */
export function compareDiagnostics(a: Diagnostic, b: Diagnostic): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  if (a.start.offset !== b.start.offset) return a.start.offset - b.start.offset;
  if (a.end.offset !== b.end.offset) return a.end.offset - b.end.offset;
  return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === "error");
}
