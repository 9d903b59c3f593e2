/**
 * SARIF 2.1.0 for GitHub code scanning and other static-analysis viewers: one run, a rule per code used
 * (from the code catalog), a result per diagnostic. Rule ids and repository-relative URIs are stable
 * between runs, because GitHub matches alerts across runs by them.
 */
import { isAbsolute, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { codeInfo, type Code } from "../../diagnostics/codes.js";
import type { Diagnostic, Severity } from "../../diagnostics/diagnostic.js";
import type { Position } from "../../grammar/source.js";
import type { FileReport } from "./report.js";

export const SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json";
const SRCROOT = "%SRCROOT%";

export interface ToolInfo {
  readonly name: string;
  readonly version: string;
  readonly informationUri: string;
}

export interface SarifOptions {
  readonly tool: ToolInfo;
  /** Report paths are made relative to this directory (the repository root in CI). */
  readonly cwd: string;
}

const LEVEL: Record<Severity, "error" | "warning" | "note"> = { error: "error", warning: "warning", info: "note" };

/** A path relative to `cwd`, with forward slashes and each segment percent-encoded, as a URI reference. */
export function artifactUri(path: string, cwd: string): string {
  const absolute = isAbsolute(path) ? path : resolve(cwd, path);
  const rel = relative(cwd, absolute);
  // A file outside the working directory (another drive, say) keeps an absolute file: URI.
  if (isAbsolute(rel)) return pathToFileURL(absolute).href;
  return rel.split(sep).map(encodeURIComponent).join("/");
}

function region(start: Position, end: Position) {
  // SARIF columns are 1-based and the end column is exclusive, as ours are.
  return { startLine: start.line, startColumn: start.column, endLine: end.line, endColumn: end.column };
}

function messageText(d: Diagnostic): string {
  return d.hint === undefined ? d.message : `${d.message}\nhint: ${d.hint}`;
}

export function sarifLog(files: readonly FileReport[], options: SarifOptions) {
  const used = [...new Set(files.flatMap((f) => f.diagnostics.map((d) => d.code)))].sort() as Code[];
  const ruleIndex = new Map(used.map((code, index) => [code, index]));
  const rules = used.map((code) => {
    const info = codeInfo(code);
    return {
      id: code,
      name: info.name,
      shortDescription: { text: info.summary },
      defaultConfiguration: { level: LEVEL[info.severity] },
    };
  });
  const location = (file: string, start: Position, end: Position) => ({
    physicalLocation: {
      artifactLocation: { uri: artifactUri(file, options.cwd), uriBaseId: SRCROOT },
      region: region(start, end),
    },
  });
  const results = files.flatMap((file) =>
    file.diagnostics.map((d) => ({
      ruleId: d.code,
      ruleIndex: ruleIndex.get(d.code)!,
      level: LEVEL[d.severity],
      message: { text: messageText(d) },
      locations: [location(d.file, d.start, d.end)],
      ...(d.related && d.related.length > 0
        ? { relatedLocations: d.related.map((r, id) => ({ id, ...location(r.file, r.start, r.end), message: { text: r.message } })) }
        : {}),
    })),
  );
  return {
    $schema: SARIF_SCHEMA,
    version: "2.1.0" as const,
    runs: [
      {
        tool: { driver: { name: options.tool.name, version: options.tool.version, informationUri: options.tool.informationUri, rules } },
        originalUriBaseIds: { [SRCROOT]: { uri: `${pathToFileURL(options.cwd).href.replace(/\/?$/, "/")}` } },
        results,
      },
    ],
  };
}

export function renderSarif(files: readonly FileReport[], options: SarifOptions): string {
  return `${JSON.stringify(sarifLog(files, options), null, 2)}\n`;
}
