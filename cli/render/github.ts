/**
 * GitHub Actions workflow commands (`::error file=…::message`), escaped as @actions/core does, so each
 * problem is annotated on the pull request's diff. GitHub shows only 10 annotations of a kind per step, so
 * the full stylish report (without colour) follows the annotations.
 */
import type { Diagnostic } from "../../diagnostics/diagnostic.js";
import { palette } from "../color.js";
import type { FileReport } from "./report.js";
import { renderStylish } from "./stylish.js";

/** Escaping of a command's message (data). */
export function escapeData(text: string): string {
  return text.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** Escaping of a command's property values: as data, plus the separators `:` and `,`. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, "%3A").replace(/,/g, "%2C");
}

const COMMAND: Record<Diagnostic["severity"], string> = { error: "error", warning: "warning", info: "notice" };

/** The message with the hint and suggestions on lines of their own (GitHub shows escaped newlines). */
export function annotationMessage(d: Diagnostic): string {
  const lines = [d.message];
  if (d.hint !== undefined) lines.push(`hint: ${d.hint}`);
  if (d.suggestions && d.suggestions.length > 0) lines.push(`suggestions: ${d.suggestions.join(", ")}`);
  return lines.join("\n");
}

export function annotation(d: Diagnostic): string {
  const properties = [
    `file=${escapeProperty(d.file)}`,
    `line=${d.start.line}`,
    `endLine=${d.end.line}`,
    `col=${d.start.column}`,
    `endColumn=${d.end.column}`,
    `title=${escapeProperty(`${d.code} ${d.name}`)}`,
  ];
  return `::${COMMAND[d.severity]} ${properties.join(",")}::${escapeData(annotationMessage(d))}`;
}

export function renderGithub(files: readonly FileReport[]): string {
  const annotations = files.flatMap((file) => file.diagnostics.map(annotation));
  const stylish = renderStylish(files, palette(false));
  return annotations.length > 0 ? `${annotations.join("\n")}\n\n${stylish}` : stylish;
}
