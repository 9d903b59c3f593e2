/**
 * The human report (the default): per problem a `path:line:col  severity  message  [CODE name]` header
 * that terminals and editors turn into links, a code frame with the exact span underlined, the hint,
 * suggestions and related places, then one summary line. Colour only when enabled.
 */
import type { Diagnostic, Severity } from "../../diagnostics/diagnostic.js";
import type { Colors } from "../color.js";
import { codeFrame } from "./code-frame.js";
import { plural, summarize, type FileReport, type Summary } from "./report.js";
import { printable } from "./terminal-text.js";

const INDENT = "  ";

function severityColor(colors: Colors, severity: Severity): (text: string) => string {
  return severity === "error" ? colors.red : severity === "warning" ? colors.yellow : colors.cyan;
}

/** Message text for a terminal: control characters made visible, but its own line breaks kept and indented. */
function printableMessage(message: string): string {
  return message
    .split(/\r\n|\r|\n/)
    .map(printable)
    .join(`\n${INDENT}`);
}

export function location(path: string, line: number, column: number): string {
  return `${printable(path)}:${line}:${column}`;
}

function renderDiagnostic(d: Diagnostic, file: FileReport, colors: Colors): string[] {
  const paint = severityColor(colors, d.severity);
  const lines = [
    `${colors.bold(location(d.file, d.start.line, d.start.column))}  ${paint(d.severity)}  ${printableMessage(d.message)}  ${colors.dim(`[${d.code} ${d.name}]`)}`,
  ];
  lines.push(...codeFrame(file.source, d.start, d.end, { colors, underline: paint, indent: INDENT }));
  if (d.hint !== undefined) lines.push(`${INDENT}${colors.cyan("= hint:")} ${printableMessage(d.hint)}`);
  if (d.suggestions && d.suggestions.length > 0) {
    lines.push(`${INDENT}${colors.cyan("= suggestions:")} ${d.suggestions.map((s) => `\`${printable(s)}\``).join(", ")}`);
  }
  for (const r of d.related ?? []) {
    lines.push(`${INDENT}${colors.cyan("= related:")} ${location(r.file, r.start.line, r.start.column)}: ${printableMessage(r.message)}`);
  }
  return lines;
}

export function summaryLine(summary: Summary, colors: Colors): string {
  const problems = summary.errors + summary.warnings + summary.infos;
  const files = plural(summary.files, "file");
  if (problems === 0) return colors.green(`${files} checked, no problems`);
  const parts = [plural(summary.errors, "error"), plural(summary.warnings, "warning")];
  if (summary.infos > 0) parts.push(plural(summary.infos, "info"));
  const text = `${plural(problems, "problem")} (${parts.join(", ")}) in ${files}`;
  return colors.bold(summary.errors > 0 ? colors.red(text) : colors.yellow(text));
}

export function renderStylish(files: readonly FileReport[], colors: Colors): string {
  const blocks: string[] = [];
  for (const file of files) {
    for (const d of file.diagnostics) blocks.push(renderDiagnostic(d, file, colors).join("\n"));
  }
  blocks.push(summaryLine(summarize(files), colors));
  return `${blocks.join("\n\n")}\n`;
}
